"""Parsing a 200: vectors by index, checked for count, width and finiteness."""

from __future__ import annotations

import base64
import json
from array import array

import pytest

from aimlapi_embeddings import ResponseError
from aimlapi_embeddings._response import QUOTE_SPAN, Usage, parse_embeddings, read_embeddings
from aimlapi_embeddings._secret import Secret
from aimlapi_embeddings._secret import redact as real_redact


def body(data: object, **extra: object) -> bytes:
    return json.dumps({"data": data, **extra}).encode()


def test_data_is_put_back_in_index_order() -> None:
    data = [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}]
    vectors, _ = parse_embeddings(body(data), 2, 2)
    assert vectors == [[1.0, 0.0], [0.0, 1.0]]


def test_base64_float32_is_decoded() -> None:
    raw = base64.b64encode(array("f", [0.5, -0.25, 1.0]).tobytes()).decode()
    vectors, _ = parse_embeddings(body([{"index": 0, "embedding": raw}]), 1, 3)
    assert vectors == [[0.5, -0.25, 1.0]]


def b64(values: list[float]) -> str:
    return base64.b64encode(array("f", values).tobytes()).decode()


ROWS = [[0.5, -0.25, 1.0], [0.125, 2.0, -8.0]]
DATA = [{"object": "embedding", "index": i, "embedding": b64(row)} for i, row in enumerate(ROWS)]
# Answers that base64 strings are cut out of before json reads the rest, and answers where that
# must not change anything: every spelling JSON allows reads as json.loads reads it.
SPELLINGS: dict[str, bytes] = {
    "compact": json.dumps({"data": DATA}, separators=(",", ":")).encode(),
    "pretty, as OpenAI sends it": json.dumps({"object": "list", "data": DATA}, indent=2).encode(),
    "shuffled": body(DATA[::-1]),
    "slashes escaped": body(DATA).replace(b"/", b"\\/"),
    "the key spelled with an escape": body(DATA).replace(b'"embedding"', b'"embe\\u0064ding"'),
    "an embedding key elsewhere": body(DATA, meta={"embedding": "not a vector", "n": "1"}),
    "usage after data": body(DATA, usage={"prompt_tokens": 4, "total_tokens": 4}),
}


@pytest.mark.parametrize("content", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_every_spelling_of_an_answer_reads_alike(content: bytes) -> None:
    assert parse_embeddings(content, 2, 3)[0] == ROWS


def test_base64_strings_are_read_without_copying_them_into_json_strings() -> None:
    """The quick reading is taken for answers as the API sends them, and left for escapes."""
    quick = read_embeddings(SPELLINGS["pretty, as OpenAI sends it"], 2)
    assert all(isinstance(value, memoryview) for value in quick.values)
    escaped = read_embeddings(SPELLINGS["slashes escaped"], 2)
    assert all(isinstance(value, str) for value in escaped.values)


# (answer, expected width, what the error says): shared with the numpy output's tests.
MALFORMED: list[tuple[bytes, int | None, str]] = [
    (b"<html>oops</html>", None, "not JSON"),
    # json.loads refuses a control character in a string, even in one that is cut out first.
    (body([{"index": 0, "embedding": "AAAA"}] * 2).replace(b"AAAA", b"AA\nAA"), None, "not JSON"),
    (
        body([{"index": 0, "embedding": "AAAAAA=="}, {"index": 1, "embedding": "AA"}]),
        None,
        "base64",
    ),
    (b'{"object": "list"}', None, "without a `data` list"),
    (body([{"index": 0, "embedding": [1.0]}]), None, "returned 1 vectors for 2 inputs"),
    (body([{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]}]), None, "twice"),
    (
        body([{"index": 0, "embedding": [1.0]}, {"index": 5, "embedding": [1.0]}]),
        None,
        "index is 5",
    ),
    (
        body([{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0, 2.0]}]),
        None,
        "expected 1",
    ),
    (
        body([{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0]}]),
        3,
        "expected 3",
    ),
    (
        body([{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [None]}]),
        None,
        "not a number",
    ),
    (
        body([{"index": 0, "embedding": [1e400]}, {"index": 1, "embedding": [1.0]}]),
        None,
        "NaN or infinity",
    ),
    (
        body([{"index": 0, "embedding": "@@@"}, {"index": 1, "embedding": [1.0]}]),
        None,
        "base64",
    ),
    (
        body([{"index": 0, "embedding": "AAA="}, {"index": 1, "embedding": [1.0]}]),
        None,
        "bytes",
    ),
    (
        body([{"index": 0, "embedding": {}}, {"index": 1, "embedding": [1.0]}]),
        None,
        "not a list",
    ),
    (body([{"index": 0, "embedding": []}, {"index": 1, "embedding": []}]), None, "expected 0"),
]


@pytest.mark.parametrize(("content", "width", "problem"), MALFORMED)
def test_malformed_answers_are_response_errors(
    content: bytes, width: int | None, problem: str
) -> None:
    with pytest.raises(ResponseError, match=problem):
        parse_embeddings(content, 2, width)


def test_nan_literals_are_refused() -> None:
    content = b'{"data": [{"index": 0, "embedding": [NaN]}]}'
    with pytest.raises(ResponseError, match="NaN"):
        parse_embeddings(content, 1, None)


@pytest.mark.parametrize(
    ("extra", "usage"),
    [
        ({"usage": {"prompt_tokens": 3, "total_tokens": 3}}, Usage(3, 3, None)),
        ({"usage": {"prompt_tokens": None, "total_tokens": 7}}, Usage(None, 7, None)),
        ({"usage": None}, Usage()),
        ({}, Usage()),
        ({"meta": {"usage": {"credits_used": 42}}}, Usage(None, None, 42.0)),
        # No answer counts more than 2**31 tokens: larger ones are not counts (2**62 wrapped
        # Ray's int64 usage column negative; 2**63 overflowed it).
        ({"usage": {"prompt_tokens": 2**31, "total_tokens": 2**31}}, Usage(2**31, 2**31, None)),
        ({"usage": {"prompt_tokens": 2**62, "total_tokens": 2**63}}, Usage()),
        ({"usage": {"prompt_tokens": 10**400, "total_tokens": 1e300}}, Usage()),
    ],
)
def test_usage_shapes(extra: dict[str, object], usage: Usage) -> None:
    _, parsed = parse_embeddings(body([{"index": 0, "embedding": [1.0]}], **extra), 1, None)
    assert parsed == usage


def test_usage_sums_tolerate_none() -> None:
    assert Usage(1, None, None) + Usage(2, 5, None) == Usage(3, 5, None)
    assert Usage() + Usage() == Usage()


def test_a_200_at_the_most_numbers_a_valid_answer_holds_is_parsed() -> None:
    vector = [0.5] * 8192
    data = [{"index": 0, "embedding": vector}, {"index": 1, "embedding": vector}]
    vectors, _ = parse_embeddings(body(data, usage={"prompt_tokens": 2}), 2, None)
    assert vectors == [vector, vector]


@pytest.mark.parametrize(
    "content",
    [
        b"sk-test-0123456789 is not JSON " + b"sk-test-012345678Z " * 100_000,
        json.dumps({"message": "sk-test-0123456789 " + "sk-test-012345678Z " * 100_000}).encode(),
    ],
)
def test_a_long_200_is_quoted_from_a_redacted_prefix_not_redacted_whole(
    content: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Redacting 2 MB of near-misses of the key to quote 80 characters took seconds.
    secret = Secret("sk-test-0123456789")
    redacted: list[int] = []

    def redact(text: str, secret: Secret | None) -> str:
        redacted.append(len(text))
        return real_redact(text, secret)

    monkeypatch.setattr("aimlapi_embeddings._response.redact", redact)
    with pytest.raises(ResponseError) as caught:
        parse_embeddings(content, 1, 4, secret=secret)
    assert "***" in str(caught.value)
    assert "0123456789" not in str(caught.value)
    assert redacted
    assert max(redacted) <= QUOTE_SPAN
