"""Reading answers: a 200 into vectors and usage, an error status into the error tree. Pure.

Everything here reads what a server sent, and a server may send anything: numbers too large for
a float, NaN, nesting deeper than the stack, the key echoed back. Every such answer becomes an
`AimlapiError`, never a raw `ValueError` or `RecursionError`, and every string taken from an
answer goes through `Secret.redact` (before it is cut short; a long one only over its first
`QUOTE_SPAN` characters, the rest dropped) on its way into a message or an attribute. Error
messages describe values the server sent by type rather than quote them, unless they are short
strings.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import sys
import threading
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
)
from ._secret import Secret, redact


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and credits summed over every request of a call; None where the API said nothing."""

    prompt_tokens: int | None = None
    total_tokens: int | None = None
    credits: float | None = None

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            _add(self.prompt_tokens, other.prompt_tokens),
            _add(self.total_tokens, other.total_tokens),
            _add(self.credits, other.credits),
        )


def _add(left: Any, right: Any) -> Any:
    if left is None:
        return right
    return left if right is None else left + right


# More tokens than any one answer can count (2,048 inputs of 8,191 tokens are 17 million): a
# larger count is not one, and summed over a job it would overflow the int64 columns it fills.
MOST_TOKENS_PER_ANSWER = 2**31


def _count(value: object) -> int | None:
    """A token count as the server sent it, or None for anything that is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value) if 0 <= value <= MOST_TOKENS_PER_ANSWER else None


def _amount(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        amount = float(value)
    except OverflowError:  # a 400-digit integer
        return None
    return amount if math.isfinite(amount) else None


def parse_usage(payload: Mapping[str, Any]) -> Usage:
    """Usage as far as it makes sense; a count that is not one (NaN, 1e999, "3") is left out."""
    usage = payload.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    meta = payload.get("meta")
    meta_usage = meta.get("usage") if isinstance(meta, Mapping) else None
    meta_usage = meta_usage if isinstance(meta_usage, Mapping) else {}
    return Usage(
        _count(usage.get("prompt_tokens")),
        _count(usage.get("total_tokens")),
        _amount(usage.get("credits", meta_usage.get("credits_used"))),
    )


_LITTLE_ENDIAN = sys.byteorder == "little"
Content = bytes | bytearray
"""An answer's body, as the shells read it (a bytearray, not copied into bytes)."""
# An error body nested deeper than this is kept as text: printing or copying it would recurse.
MAX_BODY_DEPTH = 32
# How much of a server's text goes into a message.
MESSAGE_LIMIT = 2000
PREVIEW_LIMIT = 300
# How much of a server's text is redacted to quote a part of it.
QUOTE_SPAN = 16 * 1024


@dataclass(frozen=True, slots=True, repr=False)
class Answer:
    """An HTTP answer as the shells read it: status, reason phrase, headers and (capped) body."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: Content

    def __repr__(self) -> str:
        # Never the reason phrase, headers or body: a traceback that prints locals prints this.
        return f"<Answer {self.status}, {len(self.body)} bytes>"


_NOT_JSON = object()

# The width assumed for a model whose width is not known in advance.
WIDEST_VECTOR = 8192
# The separators a valid answer holds besides its vectors' numbers: per vector its fields
# ("object", "index", "embedding"), and the envelope's (model, usage, ...), with room to spare.
SEPARATORS_PER_VECTOR = 16
SEPARATORS_IN_ENVELOPE = 4096


def _load_json(content: Content) -> object:
    try:
        return json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the stack
        return _NOT_JSON


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote(text: str, secret: Secret | None, limit: int) -> str:
    """A server's text for a message: the key cut out of its start, then shortened to `limit`.

    Only the first `QUOTE_SPAN` characters are redacted: redacting a 300 MB body in full to
    quote 80 characters of it takes seconds. An echo of the key that begins in the quoted part
    ends within the span unless it is padded to thousands of characters.
    """
    redacted = redact(text[:QUOTE_SPAN], secret).strip()
    return _cut(redacted + ("..." if len(text) > QUOTE_SPAN else ""), limit)


def _text(content: Content, secret: Secret | None, limit: int) -> str:
    """A server's bytes as text, quoted."""
    # At most 4 bytes a character: the span's characters without decoding the whole body.
    return _quote(bytes(content[: 4 * QUOTE_SPAN]).decode("utf-8", "replace"), secret, limit)


def _describe(value: object, secret: Secret | None) -> str:
    """A value from an answer, for a message: short scalars as they are, the rest by kind."""
    if value is None or isinstance(value, (bool, int, float)):
        return _cut(repr(value), 40)
    if isinstance(value, str):
        return repr(_quote(value, secret, 40))
    return "an object" if isinstance(value, dict) else "an array"


def _b64decode(text: str | memoryview) -> bytes:
    if sys.version_info >= (3, 11):
        # A third faster than b64decode(validate=True), which runs a regex over the text first.
        return binascii.a2b_base64(text, strict_mode=True)
    return base64.b64decode(text, validate=True)


def decode_embedding(embedding: object, position: int, *, booleans: bool) -> bytes | array[float]:
    """One embedding, checked: base64 as its bytes (whole little-endian float32s), a JSON array
    of numbers as an array("d").

    Both output formats start here (`floats` makes Python floats of it, numpy reads its buffer),
    so they accept and refuse exactly the same answers. array("d") would take true for 1.0: if
    the answer has a `true` or a `false` anywhere (`booleans`), the types are checked too.
    """
    if isinstance(embedding, (str, memoryview)):
        try:
            raw = _b64decode(embedding)
        except (binascii.Error, ValueError):
            raw = None
        if raw is None:
            msg = f"data[{position}].embedding is not valid base64"
            raise ResponseError(msg)
        if len(raw) % 4:
            msg = f"data[{position}].embedding decodes to {len(raw)} bytes, not float32s"
            raise ResponseError(msg)
        return raw
    if isinstance(embedding, list):
        if booleans and bool in set(map(type, embedding)):
            msg = f"data[{position}].embedding holds true or false, not a number"
            raise ResponseError(msg)
        try:
            # array() converts and checks at C speed.
            return array("d", embedding)
        except TypeError:
            msg = f"data[{position}].embedding holds a value that is not a number"
        except OverflowError:
            msg = f"data[{position}].embedding holds a number too large for a float"
        raise ResponseError(msg)
    msg = f"data[{position}].embedding is {type(embedding).__name__}, not a list or base64"
    raise ResponseError(msg)


def floats(decoded: bytes | array[float]) -> list[float]:
    """A decoded embedding as plain Python floats."""
    if isinstance(decoded, bytes):
        values = array("f")
        values.frombytes(decoded)
        if not _LITTLE_ENDIAN:
            values.byteswap()
        decoded = values
    return decoded.tolist()


# Embeddings are float32: a number float32 cannot hold (it rounds to infinity from half-way
# between float32's largest value and 2**128 up) is no embedding, in either output.
FLOAT32_OVERFLOW = 3.4028235677973366e38


def _all_finite(vector: list[float]) -> bool:
    # A finite sum means every term is finite (one C-speed pass); a sum of large finite values
    # can overflow, so an infinite one is checked term by term before calling anything NaN.
    return math.isfinite(sum(vector)) or all(map(math.isfinite, vector))


def _within_float32(vector: list[float]) -> bool:
    return -FLOAT32_OVERFLOW < min(vector) <= max(vector) < FLOAT32_OVERFLOW


def _check_parsed_size(content: Content, count: int, width: int | None) -> None:
    """Refuse, before parsing, a 200 that would take far more memory parsed than as bytes.

    The size cap bounds bytes, but "0.0," is 4 bytes and a parsed float about 32: a body of
    the cap's size made of tiny numbers would take 8 times the cap. Every element of a JSON
    array or object but the first follows a comma, so counting commas (at C speed, strings
    included, which only overcounts) bounds the number of values parsing would make.
    """
    most = count * ((width or WIDEST_VECTOR) + SEPARATORS_PER_VECTOR) + SEPARATORS_IN_ENVELOPE
    if content.count(b",") > most:
        msg = (
            f"the API answered 200 with more than {most:,} values, more than any valid answer "
            f"for {count} inputs could hold"
        )
        raise ResponseError(msg)


@dataclass(frozen=True, slots=True, repr=False)
class Embeddings:
    """A 200's embeddings in request order, not decoded yet, and its usage."""

    values: list[object]
    """The `embedding` of each input, in the order the inputs were sent (a base64 string may be
    a view of the answer's bytes)."""
    positions: list[int]
    """Where each came from in `data`, for messages."""
    booleans: bool
    """Whether the answer holds a `true` or `false` (see `decode_embedding`)."""
    usage: Usage

    def __repr__(self) -> str:
        # Never the values: a traceback that prints locals prints this.
        return f"<Embeddings of {len(self.values)} inputs>"


R = TypeVar("R")


def read_and_decode(
    decode: Callable[[Embeddings], R],
    content: Content,
    expected_count: int,
    expected_width: int | None,
    *,
    secret: Secret | None = None,
) -> R:
    """`decode` applied to the answer's embeddings, read quickly (`_cut_strings`).

    Both output formats read answers here. Its size is checked first (`_check_parsed_size`),
    before either reading. When anything else is wrong with the answer, it is read again by
    json alone and decoded again: a bad answer gets exactly the error it would get without the
    quick reading.
    """
    _check_parsed_size(content, expected_count, expected_width)
    try:
        return decode(read_embeddings(content, expected_count, secret=secret))
    except ResponseError:
        return decode(read_embeddings(content, expected_count, secret=secret, quick=False))


# A key "embedding" and the opening quote of its string value. In valid JSON this is found only
# there: a quote inside a string is escaped (\"), and a closing quote cannot be followed by a name.
_STRING_EMBEDDING = re.compile(rb'"embedding"\s*:\s*"')


@dataclass(frozen=True, slots=True)
class _Cut:
    skeleton: bytes
    """The answer with the string value of every "embedding" key replaced by its number."""
    strings: list[memoryview]
    """Those values, as views of the answer's bytes."""


def _cut_strings(content: Content) -> _Cut | None:
    """The answer, its base64 strings cut out: json then parses a hundred bytes per vector
    instead of copying ~8 KB of base64 into a str (half the time of reading a base64 answer).

    None when there is none, or one holds an escape (its bytes are then not its value).
    """
    view = memoryview(content)
    pieces: list[bytes | memoryview] = []
    strings: list[memoryview] = []
    position = 0
    while match := _STRING_EMBEDDING.search(content, position):
        start = match.end()
        end = content.find(b'"', start)
        if end < 0 or content.find(b"\\", start, end) >= 0:
            return None
        pieces += (view[position:start], b"%d" % len(strings))
        strings.append(view[start:end])
        position = end
    if not strings:
        return None
    pieces.append(view[position:])
    return _Cut(b"".join(pieces), strings)


def read_embeddings(
    content: Content,
    expected_count: int,
    *,
    secret: Secret | None = None,
    quick: bool = True,
) -> Embeddings:
    """Check a 200's shape (JSON, a `data` list, the count, every index once) and order it.

    `quick`: base64 strings are cut out before json reads the rest (see `read_and_decode`).
    """
    cut = _cut_strings(content) if quick else None
    payload = _load_json(content if cut is None else cut.skeleton)
    if payload is _NOT_JSON:
        msg = f"the API answered 200 with a body that is not JSON: {_text(content, secret, 80)!r}"
        raise ResponseError(msg)
    if not isinstance(payload, dict):
        msg = f"the API answered 200 with {_describe(payload, secret)}, not an object"
        raise ResponseError(msg)
    data = payload.get("data")
    if not isinstance(data, list):
        message, _ = _message_and_id(payload, secret)
        if message is not None:  # a gateway's error, sent with status 200
            msg = f"the API answered 200 with an error: {message}"
            raise ResponseError(msg)
        msg = "the API answered 200 without a `data` list"
        raise ResponseError(msg)
    if len(data) != expected_count:
        msg = f"the API returned {len(data)} vectors for {expected_count} inputs"
        raise ResponseError(msg)
    values: list[object] = [None] * expected_count
    positions = [-1] * expected_count
    booleans: bool | None = None  # found out, at C speed, at the first array of numbers
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            msg = f"data[{position}] is {_describe(item, secret)}, not an object"
            raise ResponseError(msg)
        index = item.get("index", position)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < expected_count:
            msg = f"data[{position}].index is {_describe(index, secret)}, not an input position"
            raise ResponseError(msg)
        if positions[index] >= 0:
            msg = f"data[{position}].index {index} appears twice"
            raise ResponseError(msg)
        embedding = item.get("embedding")
        if cut is not None and isinstance(embedding, str):
            # Our number: every string value of a key "embedding" was cut out, unless the key
            # was spelled with an escape; then this is not a number, and json reads it all.
            embedding = cut.strings[int(embedding)] if embedding.isdigit() else None
        if booleans is None and isinstance(embedding, list):
            booleans = b"true" in content or b"false" in content
        values[index] = embedding
        positions[index] = position
    return Embeddings(values, positions, bool(booleans), parse_usage(payload))


def wrong_width(position: int, found: int, expected: int) -> ResponseError:
    return ResponseError(f"data[{position}].embedding has {found} numbers, expected {expected}")


def not_finite(position: int) -> ResponseError:
    return ResponseError(f"data[{position}].embedding holds NaN or infinity")


def beyond_float32(position: int) -> ResponseError:
    return ResponseError(f"data[{position}].embedding holds a number too large for float32")


def parse_embeddings(
    content: Content,
    expected_count: int,
    expected_width: int | None,
    *,
    secret: Secret | None = None,
) -> tuple[list[list[float]], Usage]:
    """Vectors in request order, checked for count, width, index and finiteness; and usage."""

    def decode(embeddings: Embeddings) -> tuple[list[list[float]], Usage]:
        vectors: list[list[float]] = []
        width = expected_width
        for value, position in zip(embeddings.values, embeddings.positions, strict=True):
            decoded = decode_embedding(value, position, booleans=embeddings.booleans)
            vector = floats(decoded)
            if width is None:
                width = len(vector)
            if len(vector) != width or width == 0:
                raise wrong_width(position, len(vector), width)
            if not _all_finite(vector):
                raise not_finite(position)
            # Only numbers written out can be beyond float32: a finite float32 from base64 is
            # within it (and skipping min and max there halves this loop's time).
            if not isinstance(decoded, bytes) and not _within_float32(vector):
                raise beyond_float32(position)
            vectors.append(vector)
        return vectors, embeddings.usage

    return read_and_decode(decode, content, expected_count, expected_width, secret=secret)


class CallWidth:
    """The width of every vector of one call: the model's, or else that of the first answer.

    For a model whose width is not known in advance, answers of different widths would make
    rows of different lengths, or pieces of one long text that cannot be averaged.
    """

    def __init__(self, width: int | None) -> None:
        self._width = width
        self._lock = threading.Lock()

    @property
    def expected(self) -> int | None:
        return self._width

    def agree(self, width: int) -> None:
        with self._lock:
            if self._width is None:
                self._width = width
            known = self._width
        if width != known:
            msg = f"the API returned {width}-wide vectors in one answer, {known}-wide in another"
            raise ResponseError(msg)


# ---- error answers -----------------------------------------------------------------------------

_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def _depth_at_most(value: object, limit: int) -> bool:
    """Whether `value` nests at most `limit` deep; without recursion, however deep it is."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth >= limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return True


def _sanitized(value: object, secret: Secret | None) -> object:
    """A copy of a parsed body with the key cut from every string (depth already bounded)."""
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, dict):
        return {redact(str(k), secret): _sanitized(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitized(item, secret) for item in value]
    return value


def _message_and_id(
    body: Mapping[str, Any], secret: Secret | None
) -> tuple[str | None, str | None]:
    """The message and request id of either error shape, redacted; None where there is none.

    OpenAI: {"error": {"message": ...}}; AI/ML API: {"message", "statusCode", "requestId", ...}.
    """
    error = body.get("error")
    source: Mapping[str, Any] = error if isinstance(error, dict) else body
    message = source.get("message", error if isinstance(error, str) else None)
    if isinstance(message, list):  # validation errors arrive as a list of strings
        message = "; ".join(
            part if isinstance(part, str) else _describe(part, None) for part in message
        )
    text = _quote(message, secret, MESSAGE_LIMIT) if isinstance(message, str) else None
    request_id = body.get("requestId") or source.get("request_id")
    if isinstance(request_id, (str, int)) and not isinstance(request_id, bool):
        return text or None, _quote(str(request_id), secret, 100)
    return text or None, None


def server_message(
    content: Content, secret: Secret | None = None
) -> tuple[str, str | None, object]:
    """The server's message, request id and parsed body (redacted), from either body shape."""
    parsed = _load_json(content)
    if parsed is _NOT_JSON or not _depth_at_most(parsed, MAX_BODY_DEPTH):
        text = _text(content, secret, PREVIEW_LIMIT)
        return text or "(empty body)", None, text
    body = _sanitized(parsed, secret)
    message, request_id = (
        _message_and_id(parsed, secret) if isinstance(parsed, dict) else (None, None)
    )
    if message is None:
        message = _cut(json.dumps(body, ensure_ascii=False), PREVIEW_LIMIT)
    return message, request_id, body


def make_status_error(
    status_code: int,
    reason: str,
    content: Content,
    headers: Mapping[str, str],
    secret: Secret | None,
    indices: Sequence[int] = (),
    model_note: str | None = None,
) -> APIStatusError:
    """The typed error for an error answer; the key is cut from anything the server sent.

    `indices` are the input positions of the texts the refused request carried: a 400 names
    them, so that the caller can find the text the server objected to. `model_note` says what
    is known of a model that is not simply active: a 404 ends with it (a mistyped id's nearest
    ids, a removed model's date).
    """
    message, request_id, body = server_message(content, secret)
    if request_id is None:
        header = headers.get("x-request-id") or headers.get("request-id")
        request_id = _cut(redact(header, secret), 100) if header else None
    reason = _cut(redact(reason, secret), 100)
    text = f"{status_code} {reason}: {message}".rstrip()
    named = tuple(sorted(set(indices))) if status_code == 400 else ()
    if named:
        text += f" [in the request with {describe_indices(named)}]"
    if request_id:
        text += f" (request id {request_id})"
    if status_code == 404 and model_note:
        text += f"; {model_note}"
    error_type = _STATUS_ERRORS.get(status_code)
    if error_type is None:
        error_type = InternalServerError if status_code >= 500 else APIStatusError
    return error_type(
        text, status_code=status_code, request_id=request_id, body=body, indices=named or None
    )


def describe_indices(indices: Sequence[int], most: int = 8) -> str:
    """`texts[3]`, or `texts[0..127]`, or `texts[2, 5..9, 14]`: sorted input positions, briefly."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and index == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    parts = [str(low) if low == high else f"{low}..{high}" for low, high in runs[:most]]
    if len(runs) > most:
        parts.append(f"... ({len(indices)} texts)")
    return f"texts[{', '.join(parts)}]"
