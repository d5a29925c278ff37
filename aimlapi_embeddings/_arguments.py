"""Checks of the user's arguments: one function per argument, shared by the client and both
adapters, so that a bad value is the same clear error wherever it is passed, before any request.

Each returns the value in its canonical form or raises `TypeError` (wrong kind) or `ValueError`
(wrong value), naming the argument. `bool` is not taken for a number; numpy integers are (any
object with `__index__`).
"""

from __future__ import annotations

import json
import numbers
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from .models import ModelSpec

# Request fields the client sets itself, per model and per call: an extra field by one of these
# names would silently override them (send a query with the document task type, say).
RESERVED_REQUEST_FIELDS = frozenset(
    {"model", "input", "dimensions", "encoding_format", "input_type", "task_type"}
)
# Headers the client or httpx sets; the key goes in `api_key`, never in a header of its own.
_RESERVED_HEADERS = frozenset(
    {"authorization", "content-length", "transfer-encoding", "accept-encoding"}
)
# Each request's limit when none is given: 60 s as a whole, 10 s to connect.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# The longest timeout: a day. Sockets and thread waits overflow on larger ones (1e10 s raises
# OverflowError in socket.settimeout), and no request is meant to last longer.
MOST_SECONDS = 24 * 3600
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Header names that may carry credentials: sent, but never written into a serialised object.
_CREDENTIAL_HEADER = re.compile(
    r"auth|key|token|secret|passw|passcode|passphrase|cookie|credential|session|jwt"
    r"|assertion|bearer|signature|hmac|csrf|xsrf|(^|[-_])(pwd|sid|sig)([-_]|$)",
    re.IGNORECASE,
)
# A value that says it is a credential, whatever its header is called ("Bearer <token>").
_CREDENTIAL_VALUE = re.compile(r"^\s*(bearer|basic|digest|token)\s", re.IGNORECASE)
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integer(name: str, value: object, *, minimum: int | None) -> int:
    """An int (or numpy integer) of at least `minimum`."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        msg = f"{name} must be an int, not {type(value).__name__} ({_shown(value)})"
        raise TypeError(msg)
    number = operator.index(value)  # __index__ checked above
    if minimum is not None and number < minimum:
        msg = f"{name} must be >= {minimum}, not {number}"
        raise ValueError(msg)
    return number


def optional_integer(name: str, value: object, *, minimum: int) -> int | None:
    return None if value is None else integer(name, value, minimum=minimum)


def dimensions(value: object) -> int | None:
    """An int or None; the widths a model accepts are its own (`ModelSpec.check_dimensions`)."""
    return None if value is None else integer("dimensions", value, minimum=None)


def seconds(name: str, value: object) -> float:
    """A positive number of seconds, at most `MOST_SECONDS`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number of seconds, not {type(value).__name__} ({_shown(value)})"
        raise TypeError(msg)
    number = float(value)
    if not (0 < number <= MOST_SECONDS):  # also refuses NaN
        msg = f"{name} must be a positive number of seconds, at most {MOST_SECONDS}, not {value!r}"
        raise ValueError(msg)
    return number


def flag(name: str, value: object) -> bool:
    """True or False, nothing else: "no" and 0 are not switches, and "no" is truthy."""
    if not isinstance(value, bool):
        msg = f"{name} must be True or False, not {type(value).__name__} ({_shown(value)})"
        raise TypeError(msg)
    return value


def allow_insecure_http(value: object) -> bool:
    return flag("allow_insecure_http", value)


def timeout(value: object) -> httpx.Timeout:
    """Seconds for each request as a whole, an `httpx.Timeout` (each phase positive or None), or
    None for `DEFAULT_TIMEOUT`.

    None is "not given" in the client and both adapters alike (LangChain's field defaults to
    it), not "no limit": a None read from a configuration must not make a call that can hang
    for ever. An unbounded wait is asked for explicitly, with `httpx.Timeout(None)`.
    """
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, httpx.Timeout):
        for phase, limit in value.as_dict().items():
            if limit is not None:
                seconds(f"timeout.{phase}", limit)
        return value
    return httpx.Timeout(seconds("timeout", value))


def attempt_seconds(limits: httpx.Timeout) -> float | None:
    """How long one request may take as a whole: its longest phase; None if reading is unbounded."""
    if limits.read is None:
        return None
    return max(limit for limit in limits.as_dict().values() if limit is not None)


def model(value: object) -> str | ModelSpec:
    """A model id, or a ModelSpec describing a model the registry does not know."""
    return value if isinstance(value, ModelSpec) else model_id(value, spec_too=True)


def model_id(value: object, *, spec_too: bool = False) -> str:
    """A model id (the adapters take ids only)."""
    if not isinstance(value, str):
        kinds = "a model id (str) or a ModelSpec" if spec_too else "a model id (str)"
        msg = f"model must be {kinds}, not {type(value).__name__}"
        raise TypeError(msg)
    if not value.strip():
        msg = "model must be a model id such as 'text-embedding-3-small', not an empty string"
        raise ValueError(msg)
    return value


def _json_default(value: object) -> object:
    if hasattr(value, "__index__") and not isinstance(value, bool):
        return operator.index(value)  # numpy integers
    if isinstance(value, numbers.Real):
        return float(value)  # numpy floats
    msg = f"{type(value).__name__} ({_shown(value)}) cannot be sent as JSON"
    raise TypeError(msg)


def extra_body(value: object, *, name: str = "extra_body") -> dict[str, Any]:
    """Extra request fields as plain JSON values, checked to encode as the request will be."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        msg = f"{name} must be a dict of request fields, not {type(value).__name__}"
        raise TypeError(msg)
    for key in value:
        if not isinstance(key, str):
            msg = f"{name} keys must be field names (str), not {type(key).__name__}"
            raise TypeError(msg)
        if key in RESERVED_REQUEST_FIELDS:
            msg = f"{name} may not set {key!r}: the client sets it per model and per call"
            raise ValueError(msg)
    try:
        encoded = json.dumps(
            dict(value), ensure_ascii=False, allow_nan=False, default=_json_default
        ).encode("utf-8")
    except TypeError as exc:
        msg = f"{name} holds a value that is not JSON: {exc}"
        raise TypeError(msg) from None
    except UnicodeEncodeError as exc:
        msg = f"{name} holds a string with a lone surrogate (U+{ord(exc.object[exc.start]):04X})"
        raise ValueError(msg) from None
    except (ValueError, RecursionError) as exc:  # NaN or infinity; a cycle; nested too deep
        msg = f"{name} holds a value that is not JSON: {exc}"
        raise ValueError(msg) from None
    # Back from JSON: plain values only (no numpy scalars), and a copy the caller cannot change.
    checked: dict[str, Any] = json.loads(encoded)
    return checked


def default_headers(value: object) -> dict[str, str]:
    """Extra headers that httpx can send; values are never repeated (they may be credentials)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        msg = (
            f"default_headers must be a dict of header names to values, not {type(value).__name__}"
        )
        raise TypeError(msg)
    headers: dict[str, str] = {}
    for header, text in value.items():
        if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header):
            msg = f"default_headers: {_shown(header)} is not an HTTP header name"
            raise ValueError(msg)
        if header.lower() in _RESERVED_HEADERS:
            msg = f"default_headers may not set {header!r}: the client sets it"
            if header.lower() == "authorization":
                msg += "; pass the key as api_key=..."
            raise ValueError(msg)
        if not isinstance(text, str):
            msg = f"default_headers[{header!r}] must be a str, not {type(text).__name__}"
            raise TypeError(msg)
        if not _HEADER_VALUE.fullmatch(text):
            msg = (
                f"default_headers[{header!r}] holds a line break, control or non-ASCII "
                "character, which HTTP headers cannot carry"
            )
            raise ValueError(msg)
        headers[header] = text
    lowered = [header.lower() for header in headers]
    if len(set(lowered)) != len(lowered):
        msg = "default_headers names a header twice (header names ignore case)"
        raise ValueError(msg)
    return headers


def public_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The headers that a dump, a repr or a saved configuration may show: none whose name says it
    holds a credential (X-Api-Key, X-Proxy-Token, Cookie, X-Session, X-JWT, X-Signature, ...)
    or whose value does ("Bearer ...")."""
    return {
        name: value
        for name, value in (headers or {}).items()
        if not _CREDENTIAL_HEADER.search(name) and not _CREDENTIAL_VALUE.match(str(value))
    }


def max_concurrency(value: object) -> int:
    return integer("max_concurrency", value, minimum=1)


def max_retries(value: object) -> int:
    return integer("max_retries", value, minimum=0)


def batch_size(value: object) -> int | None:
    return optional_integer("batch_size", value, minimum=1)


def chunk_size(value: object) -> int | None:
    return optional_integer("chunk_size", value, minimum=1)


def embed_batch_size(value: object) -> int:
    return integer("embed_batch_size", value, minimum=1)


def optional_default_headers(value: object) -> dict[str, str] | None:
    return None if value is None else default_headers(value)


def timeout_as_given(value: object) -> object:
    """A valid timeout, kept as given (a number serialises where an httpx.Timeout would not);
    None is the adapter's to read."""
    if value is not None:
        timeout(value)
    return value


# The check of each argument by the name the client or an adapter gives it: the adapters' field
# validators call `check`, the client the functions themselves, so a bad value is the same
# error in all three classes.
_CHECKS: dict[str, Callable[[object], object]] = {
    "model": model_id,
    "model_name": model_id,
    "dimensions": dimensions,
    "batch_size": batch_size,
    "embed_batch_size": embed_batch_size,
    "max_concurrency": max_concurrency,
    "max_retries": max_retries,
    "timeout": timeout_as_given,
    "default_headers": optional_default_headers,
    "allow_insecure_http": allow_insecure_http,
}
CHECKED = frozenset(_CHECKS)


def check(name: str, value: object) -> object:
    """`value` checked as the argument `name` (one of `CHECKED`)."""
    return _CHECKS[name](value)
