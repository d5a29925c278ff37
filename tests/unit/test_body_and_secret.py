"""The pure pieces under the hostile-server tests: reading a body under a cap, and the key's
redaction in every form a server may echo it."""

from __future__ import annotations

import base64
import gzip
import zlib

import pytest

from aimlapi_embeddings import ResponseError
from aimlapi_embeddings._body import ERROR_BODY_LIMIT, BodyReader
from aimlapi_embeddings._secret import WITHHELD, Secret

PAYLOAD = b'{"data": []}' * 100


def read(reader: BodyReader, data: bytes, chunk: int = 7) -> bytes:
    for start in range(0, len(data), chunk):
        if not reader.feed(data[start : start + chunk]):
            break
    return reader.body()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        (None, bytes),
        ("identity", bytes),
        ("gzip", gzip.compress),
        ("GZIP ", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),
    ],
)
def test_a_body_is_decoded_chunk_by_chunk(encoding: str | None, encode: object) -> None:
    assert callable(encode)
    assert read(BodyReader(200, encoding, 10_000), encode(PAYLOAD)) == PAYLOAD


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
@pytest.mark.parametrize("first", [1, 2, 3])
def test_deflate_with_or_without_its_wrapper_is_decoded_whatever_its_first_chunk(
    wbits: int, first: int
) -> None:
    data = zlib.compress(PAYLOAD, wbits=wbits)
    reader = BodyReader(200, "deflate", 10_000)
    assert reader.feed(data[:first])
    reader.feed(data[first:])
    assert reader.body() == PAYLOAD


@pytest.mark.parametrize("chunk", [1, 7, 100_000])
def test_gzip_of_several_members_is_decoded_whole(chunk: int) -> None:
    data = gzip.compress(PAYLOAD[:10]) + gzip.compress(PAYLOAD[10:])
    assert read(BodyReader(200, "gzip", 10_000), data, chunk) == PAYLOAD
    with pytest.raises(ResponseError, match="more than"):
        read(BodyReader(200, "gzip", len(PAYLOAD) - 1), data, chunk)
    with pytest.raises(ResponseError, match="ends before"):
        read(BodyReader(200, "gzip", 10_000), data[:-20], chunk)


def test_a_200_over_its_limit_is_refused_even_inflating() -> None:
    with pytest.raises(ResponseError, match="more than 1,000 bytes"):
        read(BodyReader(200, "gzip", 1000), gzip.compress(b" " * 10_000_000), chunk=65536)
    with pytest.raises(ResponseError, match="more than 1,000 bytes"):
        read(BodyReader(200, None, 1000), b" " * 1001)
    assert len(read(BodyReader(200, None, 1000), b" " * 1000)) == 1000


def test_a_200_whose_declared_length_is_over_the_limit_is_refused_before_reading() -> None:
    with pytest.raises(ResponseError, match="more than"):
        BodyReader(200, None, 1000, content_length="1001")
    BodyReader(200, None, 1000, content_length="not a number")


def test_an_error_body_is_cut_at_its_limit_and_reading_stops() -> None:
    reader = BodyReader(500, None, 10_000_000)
    assert not reader.feed(b"x" * (ERROR_BODY_LIMIT + 10))
    assert not reader.feed(b"more")
    assert reader.body() == b"x" * ERROR_BODY_LIMIT


@pytest.mark.parametrize(
    ("encoding", "data", "problem"),
    [
        ("gzip", b"not gzip at all", "does not match"),
        # mtime=0: the bytes are in the test's id, which must not change with the clock (each
        # pytest-xdist worker collects the tests itself, and all must collect the same ones).
        ("gzip", gzip.compress(PAYLOAD, mtime=0)[:-20], "ends before"),
        ("br", PAYLOAD, "did not ask for"),
    ],
)
def test_a_body_that_is_not_its_encoding(encoding: str, data: bytes, problem: str) -> None:
    with pytest.raises(ResponseError, match=problem):
        read(BodyReader(200, encoding, 10_000), data)
    assert read(BodyReader(503, encoding, 10_000), data) == b"", "an error answer: no message"


KEY = "aiml-sk/7Qv3+XzP9kLm2Tw8RbN4cYd6"


@pytest.mark.parametrize(
    "echo",
    [
        KEY,
        KEY.upper(),
        KEY.replace("/", "\\/"),
        KEY.replace("/", "\\\\/"),  # a repr of the JSON escape
        "".join(f"\\u{ord(c):04x}" for c in KEY),
        "".join(f"\\u{ord(c):04X}" for c in KEY),
        "".join(f"%{ord(c):02x}" for c in KEY),
        "".join(f"&#{ord(c)};" for c in KEY),
        "".join(f"&#x{ord(c):x};" for c in KEY),
        "\u200b".join(KEY),
        "\x00".join(KEY),
        base64.b64encode(f"Bearer {KEY}".encode()).decode(),
        base64.b64encode(f"x:{KEY}".encode()).decode(),
        base64.urlsafe_b64encode(f"{KEY}!".encode()).decode(),
    ],
)
def test_the_key_is_cut_in_every_form_and_only_the_key(echo: str) -> None:
    text = Secret(KEY).redact(f"before {echo} after")
    assert text.startswith("before ")
    assert text.endswith(" after")
    assert "***" in text
    assert len(text) < len(f"before {echo} after") - len(KEY) // 2


@pytest.mark.parametrize(
    "echo",
    [
        KEY.encode().hex(),
        KEY.encode().hex().upper(),
        ":".join(f"{byte:02x}" for byte in KEY.encode()),
        KEY[::-1],
        ".".join(KEY),
        "".join(chr(ord(c) + 0xFEE0) for c in KEY),  # fullwidth
    ],
)
def test_a_text_with_the_key_in_a_form_only_its_letters_show_is_withheld(echo: str) -> None:
    assert Secret(KEY).redact(f"before {echo} after") == WITHHELD


def test_text_without_the_key_is_left_alone() -> None:
    text = "aiml-sk is a prefix; 7Qv3+Xz a piece; %2F a slash; \\u0061 an a"
    assert Secret(KEY).redact(text) == text


@pytest.mark.parametrize(
    ("echo", "left"),
    [
        (KEY[:12] + "...", "***..."),  # cut short by the server
        (KEY[:8] + "..." + KEY[-8:], "***...***"),  # masked in the middle
        (KEY[3:20], "***"),
    ],
)
def test_a_run_of_eight_or_more_characters_of_the_key_is_cut(echo: str, left: str) -> None:
    assert Secret(KEY).redact(echo) == left


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("aiml\nsk", "a line break at position 4"),
        ("\u201caiml-sk\u201d", "a quote (U+201C) at position 0"),
        ("aiml sk", "a space"),
        ("aiml\x00sk", "a control character (U+0000)"),
        ("aimlé", "a non-ASCII character (U+00E9)"),
        ('"aiml"', "a quote (U+0022)"),
    ],
)
def test_a_key_that_cannot_go_in_a_header_is_described_not_repeated(key: str, problem: str) -> None:
    message = Secret(key).problem()
    assert message is not None
    assert problem in message
    assert "aiml" not in message


def test_the_secret_shows_as_stars() -> None:
    secret = Secret(KEY)
    assert KEY not in repr(secret)
    assert KEY not in str(secret)
    assert secret.problem() is None


def test_redaction_keeps_messages_readable_for_the_shortest_key_taken() -> None:
    secret = Secret("r" * 7 + "x")  # eight characters: the shortest taken
    assert secret.problem() is None
    text = "model 'text-embedding-3-large' not found: error reading request body"
    assert secret.redact(text) == text
    assert secret.redact("bad key rrrrrrrx here") == "bad key *** here"
