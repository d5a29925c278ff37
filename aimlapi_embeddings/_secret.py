"""The API key: kept out of sight, put on a request only as it is sent, cut from all servers say.

`Secret` holds the key; its repr is stars, so `vars()`, debuggers and tracebacks that print
local variables (pytest --showlocals, Sentry, rich) show stars. No settings object, closure or
local variable of this package holds the key or the Authorization header: `BearerAuth` writes
the header while httpx sends the request.

A server may echo a request back: in its message, a field, a header, the reason phrase, escaped
as JSON (`\\/`, `\\u0041`), percent-encoded, as HTML entities or inside base64, or only in part
(cut short, or masked in the middle). `Secret.redact` removes every one of those forms, and any
run of `PIECE` or more characters of the key as it is. Forms no pattern can list (the key
reversed, in hex, fullwidth, with dots between its characters) are caught on the text's
skeleton, its letters and digits after NFKC and casefolding: a text holding the key's skeleton,
reversed or in hex, is withheld whole. It runs over a whole text before anything
cuts it short, so no piece of the key survives our own cuts either.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import unicodedata
import weakref
from collections.abc import Generator

import httpx

REDACTED = "***"
# What stands for a whole text that held the key in a form only its letters and digits show.
WITHHELD = "(the server's message echoed the API key; withheld)"
# A run of this many characters of the key, found as they are, is cut as if it were the key.
PIECE = 8
# The shortest key taken: a real key is 32 characters; redaction stars every echo of a key, and
# a shorter one (a test's "k") would star that letter in every message, or ordinary words.
SHORTEST_KEY = PIECE

# What a key may contain: printable ASCII without spaces, quotes or backslashes. Anything else is
# a paste accident (quotes copied along, a line break, a typographic quote from a document) that
# would fail later, inside httpx, with an error that repeats the header and so the key.
_KEY_CHARACTERS = frozenset(chr(code) for code in range(0x21, 0x7F)) - frozenset("\"'\\`")


def _describe_character(char: str) -> str:
    if char == " ":
        return "a space"
    if char in "\r\n":
        return "a line break"
    if char in "\"'`\u2018\u2019\u201c\u201d":
        return f"a quote (U+{ord(char):04X})"
    if char == "\\":
        return "a backslash"
    if not char.isprintable():
        return f"a control character (U+{ord(char):04X})"
    return f"a non-ASCII character (U+{ord(char):04X})"


def _character_forms(char: str) -> str:
    """A regex for one character of the key in every way a server may have escaped it."""
    code = ord(char)
    # A JSON escape may itself be escaped again: a Python repr of it (in a log line) doubles
    # the backslash.
    forms = [
        re.escape(char),
        rf"\\+u{code:04x}",  # JSON
        f"%(?:25)*{code:02x}",  # URL, also encoded twice or more
        f"&#0*{code};",  # HTML, decimal and hex
        f"&#x0*{code:x};",
    ]
    if char == "/":
        forms.append(r"\\+/")  # JSON may escape the slash
    if char == "&":
        forms.append("&amp;")
    return "(?:" + "|".join(forms) + ")"


# What a server may put between the characters of an echo to hide it from a plain search:
# whitespace, NUL, zero-width and other invisible characters.
_SEPARATORS = r"[\s\x00\u00ad\u200b-\u200f\u2060-\u2064\ufeff]*"


def _base64_forms(key: bytes) -> list[str]:
    """The characters of base64(… key …) that depend on the key alone, at each of 3 alignments."""
    forms = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + key + bytes(3)).decode("ascii")
        first = -(-8 * offset // 6)  # the first character made of key bits only
        last = 8 * (offset + len(key)) // 6  # one past the last
        core = encoded[first:last]
        forms += [re.escape(core), re.escape(core.replace("+", "-").replace("/", "_"))]
    return forms


class Secret:
    """The API key. `repr()` and `str()` are stars; `reveal()` is for the Authorization header."""

    __slots__ = ("__weakref__", "_pattern", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        self._pattern: re.Pattern[str] | None = None
        with _LIVE_LOCK:
            _LIVE.add(self)

    def __repr__(self) -> str:
        return "'**********'"

    __str__ = __repr__

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # Pickled with its value: a client sent to another process (Ray, multiprocessing) must
        # be able to authenticate there.
        return (Secret, (self._value,))

    def reveal(self) -> str:
        return self._value

    def problem(self) -> str | None:
        """Why this key cannot be sent in an HTTP header, or cannot be a key, without repeating
        it; None if it is fine."""
        for position, char in enumerate(self._value):
            if char not in _KEY_CHARACTERS:
                return (
                    f"the API key has {_describe_character(char)} at position {position}: keys "
                    "are printable ASCII without spaces or quotes. Was it pasted with its quotes "
                    "or a line break?"
                )
        if len(self._value) < SHORTEST_KEY:
            return (
                f"the API key is {len(self._value)} character(s) long: AI/ML API keys are 32, "
                f"and one of fewer than {SHORTEST_KEY} could not be told apart from ordinary "
                "text to keep it out of error messages and logs. Was it cut short?"
            )
        return None

    def redact(self, text: str) -> str:
        """`text` with every echo of the key replaced by stars."""
        if not self._value:
            return text
        if self._pattern is None:
            forms = [_SEPARATORS.join(_character_forms(char) for char in self._value)]
            forms += _base64_forms(self._value.encode("utf-8"))
            self._pattern = re.compile("|".join(forms), re.IGNORECASE)
        redacted = self._cut_pieces(self._pattern.sub(REDACTED, text))
        return WITHHELD if self._in_skeleton(redacted) else redacted

    def _in_skeleton(self, text: str) -> bool:
        """Whether the key's skeleton, reversed or not, or its hex, is in `text`'s skeleton."""
        key = _skeleton(self._value)
        if len(key) < PIECE:  # too short to tell an echo from chance
            return False
        found = _skeleton(text)
        return any(form in found for form in (key, key[::-1], self._value.encode().hex()))

    def _cut_pieces(self, text: str) -> str:
        """`text` without any run of `PIECE` or more characters of the key."""
        spans: list[tuple[int, int]] = []
        for start in range(len(self._value) - PIECE + 1):
            piece = self._value[start : start + PIECE]
            found = text.find(piece)
            while found != -1:
                spans.append((found, found + PIECE))
                found = text.find(piece, found + 1)
        if not spans:
            return text
        kept: list[str] = []
        end = 0
        for span_start, span_end in sorted(spans):
            if span_start > end:
                kept += [text[end:span_start], REDACTED]
            elif not kept:
                kept.append(REDACTED)
            end = max(end, span_end)
        kept.append(text[end:])
        return "".join(kept)


def _skeleton(text: str) -> str:
    """`text`'s ASCII letters and digits, after NFKC (fullwidth to ASCII) and casefolding."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(char for char in folded if char.isascii() and char.isalnum())


def redact(text: str, secret: Secret | None) -> str:
    return text if secret is None else secret.redact(text)


class BearerAuth(httpx.Auth):
    """Puts `Authorization: Bearer <key>` on each request as httpx sends it."""

    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def __repr__(self) -> str:
        return f"BearerAuth({self._secret!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # A copy goes out: the request the caller keeps (and retries) never holds the header.
        yield httpx.Request(
            request.method,
            request.url,
            headers=[*request.headers.multi_items(), ("Authorization", self._bearer())],
            content=request.content,
            extensions=request.extensions,
        )

    def _bearer(self) -> str:
        return "Bearer " + self._secret.reveal()


# ---- logs of the libraries below us -------------------------------------------------------------

# Every key in use in this process, for the log filter below. The lock keeps one thread's new
# client from changing the set while another thread's log line reads it.
_LIVE: weakref.WeakSet[Secret] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()

# httpx logs every answer's reason phrase at INFO; httpcore logs response headers at DEBUG. A
# server that echoes the key there would put it in the application's logs.
_LIBRARY_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        with _LIVE_LOCK:
            secrets = {secret.reveal(): secret for secret in _LIVE}
        if secrets:
            message = cleaned = record.getMessage()
            for secret in secrets.values():
                cleaned = secret.redact(cleaned)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
        return True


def _after_fork_in_child() -> None:
    # A thread of the parent that does not exist here may have held the lock at the fork.
    global _LIVE_LOCK
    _LIVE_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

_FILTER = _RedactingFilter()
for _name in _LIBRARY_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)
