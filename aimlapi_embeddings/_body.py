"""An answer's body as it arrives: its Content-Encoding undone and its size capped, chunk by chunk.

Reading a whole body before looking at it lets one answer take any amount of memory: a 300 MB
body, or 510 KiB of gzip that inflates to 512 MiB. `BodyReader` keeps at most its limit of
decoded bytes, and inflates in steps no larger than the room left, so a bomb costs no more
memory than an honest answer of the limit's size. Pure: the shells feed it the raw chunks.

A 200 over its limit, or whose body does not match its Content-Encoding, is a `ResponseError`
(retried like any malformed answer). An error answer only has to yield a message: its body is
read up to `ERROR_BODY_LIMIT` and cut there, and one that cannot be decoded has none.
"""

from __future__ import annotations

import zlib

from ._errors import ResponseError

# What the client accepts: what it can inflate under a cap (httpx would add br and zstd when
# their packages are installed).
ACCEPT_ENCODING = "gzip, deflate"
# Error messages are short; a longer error body is cut here.
ERROR_BODY_LIMIT = 64 * 1024

_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}
# The most raw bytes kept to start "deflate" over as raw deflate, before its first output.
_RAW_DEFLATE_START_LIMIT = 64 * 1024


def _declared(content_length: str | None) -> int:
    text = (content_length or "").strip()
    return int(text) if text.isdigit() else 0


class BodyReader:
    """Collects one answer's body; `feed` says whether it wants more, `body` ends it."""

    def __init__(
        self,
        status: int,
        content_encoding: str | None,
        limit: int,
        content_length: str | None = None,
    ) -> None:
        self._strict = status == 200
        self._limit = limit if self._strict else min(limit, ERROR_BODY_LIMIT)
        # One buffer, not a list of chunks: a server sending a byte per packet would otherwise
        # cost an object per byte.
        self._buffer = bytearray()
        self._done = False
        self._encoding = (content_encoding or "identity").strip().lower()
        # "deflate" may come without its zlib wrapper: until the first output, the raw bytes
        # are kept to start over as raw deflate (a 1-byte first chunk is no proof either way).
        self._raw_deflate_start: bytearray | None = (
            bytearray() if self._encoding == "deflate" else None
        )
        self._inflater: zlib._Decompress | None = None
        if self._encoding in _WBITS:
            self._inflater = zlib.decompressobj(_WBITS[self._encoding])
        elif self._encoding != "identity":
            self._corrupt(f"is in {self._encoding!r}, an encoding the client did not ask for")
        elif self._strict and _declared(content_length) > self._limit:
            self._too_large()  # said so in advance: not a byte of it is read

    def feed(self, chunk: bytes) -> bool:
        """Take the next raw chunk; False once the rest of the body is not wanted."""
        if self._done:
            return False
        if self._inflater is None:
            self._keep(chunk)
            return not self._done
        if self._raw_deflate_start is not None:
            self._raw_deflate_start += chunk
            if len(self._raw_deflate_start) > _RAW_DEFLATE_START_LIMIT:
                self._raw_deflate_start = None
        data = chunk
        while data and not self._done:
            if self._inflater.eof:
                if _WBITS[self._encoding] != _WBITS["gzip"]:
                    break  # deflate is one stream; what follows it was never read
                # gzip may have several members (RFC 1952), to be read one after the other.
                self._inflater = zlib.decompressobj(_WBITS["gzip"])
            try:
                # At most one byte over the room left: enough to know the body is too large.
                decoded = self._inflater.decompress(data, self._limit - len(self._buffer) + 1)
            except zlib.error:
                if self._raw_deflate_start is not None:
                    data, self._raw_deflate_start = bytes(self._raw_deflate_start), None
                    self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                self._corrupt(f"does not match its Content-Encoding ({self._encoding})")
                return False
            if decoded:
                self._raw_deflate_start = None
            inflater = self._inflater
            data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            self._keep(decoded)
        return not self._done

    def body(self) -> bytearray:
        """The decoded body (cut at the limit for an error answer)."""
        if self._inflater is not None and not self._done and not self._inflater.eof:
            self._corrupt(f"ends before its {self._encoding} stream does")
        return self._buffer  # a bytearray parses as bytes do; no copy of a large answer

    def _keep(self, data: bytes) -> None:
        room = self._limit - len(self._buffer)
        if len(data) > room:
            if self._strict:
                self._too_large()
            data = data[:room]
        self._buffer += data
        if len(self._buffer) >= self._limit and not self._strict:
            self._done = True

    def _too_large(self) -> None:
        msg = (
            f"the API answered 200 with more than {self._limit:,} bytes, more than any valid "
            "answer to this request could take"
        )
        raise ResponseError(msg)

    def _corrupt(self, problem: str) -> None:
        if self._strict:
            msg = f"the API answered 200 with a body that {problem}"
            raise ResponseError(msg)
        # An error answer without a readable body still has its status and reason phrase.
        self._buffer, self._done = bytearray(), True
