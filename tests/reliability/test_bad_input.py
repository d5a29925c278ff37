"""Bad input, one case per test, through every way in: correct vectors, or a typed error that
names the index and the problem, raised before any request leaves.

Routes (see conftest): the core client sync and async, LangChain `embed_documents` /
`aembed_documents`, LlamaIndex `get_text_embedding_batch` / `aget_text_embedding_batch`; all over
loopback HTTP to the emulator, whose request log proves whether anything was sent.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

import pytest

from aimlapi_embeddings import InvalidInputError, get_model_spec
from aimlapi_embeddings._batching import combine, plan_requests
from aimlapi_embeddings.testing import Emulator

from .conftest import DIMS, MODEL, Closer, Route, expected, make_route

GOOD = ["the first text", "a second one", "and a third"]
BAD_AT = 2

# (case id, bad value put at index BAD_AT, words the message must contain)
BAD_ITEMS: list[tuple[str, object, str]] = [
    ("none", None, "NoneType"),
    ("int", 7, "int"),
    ("float", 1.5, "float"),
    ("bool", True, "bool"),
    ("bytes", b"bytes are not text", "bytes"),
    ("bytearray", bytearray(b"abc"), "bytearray"),
    ("dict", {"text": "a document"}, "dict"),
    ("nested-list", ["a", "nested", "list"], "list"),
    ("tuple", ("a", "tuple"), "tuple"),
    ("lone-high-surrogate", "before \ud800 after", "surrogate"),
    ("lone-low-surrogate", "\udfff", "surrogate"),
    ("surrogateescape-bytes", b"caf\xe9".decode("utf-8", "surrogateescape"), "surrogate"),
]


@pytest.mark.parametrize(
    ("bad", "words"),
    [pytest.param(value, words, id=case) for case, value, words in BAD_ITEMS],
)
def test_a_bad_item_is_named_by_index_before_any_request(
    route: Route, api: Emulator, bad: object, words: str
) -> None:
    texts: list[Any] = [*GOOD[:BAD_AT], bad, *GOOD[BAD_AT:]]
    with pytest.raises(InvalidInputError) as info:
        route.embed(texts)
    error = info.value
    assert error.index == BAD_AT, (
        f"{route.name}: the error names index {error.index}, not {BAD_AT}: {error}"
    )
    assert f"texts[{BAD_AT}]" in str(error), f"{route.name}: the message hides the index: {error}"
    assert words in str(error), f"{route.name}: the message does not say {words!r}: {error}"
    assert api.requests == [], (
        f"{route.name}: {len(api.requests)} request(s) sent before refusing a bad text"
    )


# (case id, the whole argument, a word the message must contain)
BAD_ARGUMENTS: list[tuple[str, object, str]] = [
    ("none", None, "NoneType"),
    ("number", 42, "int"),
    ("dict", {"a": "document"}, "dict"),
    ("bare-string", "a single text, not a list", "str"),
    ("bytes", b"a single text, as bytes", "bytes"),
    ("set", {"unordered", "texts"}, "set"),
]


@pytest.mark.parametrize(
    ("argument", "words"),
    [pytest.param(value, words, id=case) for case, value, words in BAD_ARGUMENTS],
)
def test_a_bad_argument_is_a_typed_error_before_any_request(
    route: Route, api: Emulator, argument: object, words: str
) -> None:
    """Not a list of texts at all: refused as a whole, never embedded piece by piece."""
    message = ""
    try:
        vectors = route.embed(argument)
    except InvalidInputError as error:
        message = str(error)
    except Exception as error:
        pytest.fail(
            f"{route.name}: {argument!r} raised {type(error).__name__}: {error}; "
            "expected aimlapi_embeddings.InvalidInputError"
        )
    else:
        pytest.fail(
            f"{route.name}: {argument!r} was embedded into {len(vectors)} vector(s) instead of "
            "being refused"
        )
    assert words in message, f"{route.name}: the message does not say {words!r}: {message}"
    assert api.requests == [], (
        f"{route.name}: {len(api.requests)} request(s) sent for an argument that is not a list"
    )


def test_an_iterator_of_texts_gives_every_vector_or_a_typed_error(
    route: Route, api: Emulator
) -> None:
    """A generator is not a list; the answer is all its vectors, or a refusal, never fewer."""
    texts = [f"generated text number {i}" for i in range(5)]
    try:
        vectors = route.embed(text for text in texts)
    except InvalidInputError:
        assert api.requests == [], f"{route.name}: refused only after sending requests"
        return
    except Exception as error:
        pytest.fail(
            f"{route.name}: a generator raised {type(error).__name__}: {error}; expected all "
            "vectors or aimlapi_embeddings.InvalidInputError"
        )
    assert vectors == [expected(text) for text in texts], (
        f"{route.name}: a generator of {len(texts)} texts gave {len(vectors)} vector(s)"
    )


# ---- odd but valid text: correct vectors, in place ---------------------------------------------

VALID_ODD_TEXTS: dict[str, list[str]] = {
    "nul-characters": ["before\x00after", "\x00", "\x00\x00 trailing NULs \x00"],
    "whitespace-only": ["", " ", "   ", "\t\n\r", "\u3000\u00a0\u2003", "\n" * 50],
    "right-to-left": [
        "مرحبا بالعالم، هذا نص عربي",
        "שלום עולם, זה טקסט בעברית",
        "\u200fمختلط mixed עברית text\u200e",
    ],
    "emoji": ["🙂", "family: 👨\u200d👩\u200d👧\u200d👦", "flags 🇫🇷🇯🇵 and skin 👍🏽", "🙂" * 300],
    "combining-marks": ["e\u0301 cafe\u0301 n\u0303", "Z\u0351\u0352\u0353algo"],
    "control-characters": ["bell\x07 escape\x1b[31m red \x7f del", "form\x0cfeed\x0bvt"],
}


@pytest.mark.parametrize("texts", list(VALID_ODD_TEXTS.values()), ids=list(VALID_ODD_TEXTS))
def test_odd_valid_texts_get_their_own_vectors_in_place(
    route: Route, api: Emulator, texts: list[str]
) -> None:
    framed = ["a plain text first", *texts, "a plain text last"]
    vectors = route.embed(framed)
    assert len(vectors) == len(framed), (
        f"{route.name}: {len(vectors)} vectors for {len(framed)} texts"
    )
    for index, (text, vector) in enumerate(zip(framed, vectors, strict=True)):
        assert vector == expected(text), (
            f"{route.name}: texts[{index}] = {text[:40]!r} got another text's vector (or a "
            "corrupted one)"
        )
    assert all(record.status == 200 for record in api.requests), (
        f"{route.name}: the server refused some request: "
        f"{[(r.status, r.message) for r in api.requests if r.status != 200]}"
    )


# ---- sizes: one 10 MB text, 100,000 short texts -----------------------------------------------

BIG_ROUTES = ["core-sync", "core-async", "langchain-sync", "llama-sync"]


def _ten_megabytes() -> str:
    words = "retrieval augmented generation over very long documents in many languages "
    text = (words + "日本語のテキスト 🙂 ") * (10_000_000 // 90)
    return text[:10_000_000]


@pytest.mark.parametrize("route_name", BIG_ROUTES)
def test_a_10_mb_text_is_chunked_into_one_unit_vector(
    route_name: str, api: Emulator, closing: Closer
) -> None:
    route = make_route(route_name, api, closing)
    big = _ten_megabytes()
    assert len(big.encode("utf-8")) >= 10_000_000
    started = time.monotonic()
    vectors = route.embed(["short text before", big, "short text after"])
    elapsed = time.monotonic() - started
    assert len(vectors) == 3, f"{route_name}: {len(vectors)} vectors for 3 texts"
    norm = math.sqrt(math.fsum(value * value for value in vectors[1]))
    assert math.isclose(norm, 1.0, rel_tol=1e-9), f"{route_name}: the 10 MB vector has norm {norm}"
    assert len(vectors[1]) == DIMS, f"{route_name}: width {len(vectors[1])}, not {DIMS}"
    assert vectors[0] == expected("short text before"), f"{route_name}: neighbour corrupted"
    assert vectors[2] == expected("short text after"), f"{route_name}: neighbour corrupted"
    # Exactly the planner's pieces went out, each once, and the vector is their weighted mean.
    pieces = plan_requests([big], get_model_spec(MODEL)).pieces
    assert "".join(pieces) == big
    sent = Counter(text for record in api.requests for text in record.inputs)
    assert sent == Counter([*pieces, "short text before", "short text after"]), (
        f"{route_name}: the pieces sent are not the 10 MB text's chunks, each once"
    )
    mean = combine([expected(piece) for piece in pieces], [len(piece) for piece in pieces])
    assert vectors[1] == pytest.approx(mean, abs=1e-12), (
        f"{route_name}: the 10 MB vector is not the length-weighted mean of its chunks"
    )
    assert elapsed < 60, f"{route_name}: a 10 MB text took {elapsed:.1f} s"


HUNDRED_THOUSAND = 100_000


@pytest.fixture(scope="module")
def many_texts() -> tuple[list[str], list[list[float]]]:
    texts = [f"short text {i}" for i in range(HUNDRED_THOUSAND)]
    return texts, [expected(text) for text in texts]


@pytest.mark.parametrize("route_name", BIG_ROUTES)
def test_100_000_short_texts_all_come_back_in_order(
    route_name: str,
    api: Emulator,
    closing: Closer,
    many_texts: tuple[list[str], list[list[float]]],
) -> None:
    texts, answers = many_texts
    route = make_route(route_name, api, closing)
    started = time.monotonic()
    vectors = route.embed(texts)
    elapsed = time.monotonic() - started
    assert len(vectors) == len(texts), f"{route_name}: {len(vectors)} vectors for {len(texts)}"
    wrong = next((i for i, (v, a) in enumerate(zip(vectors, answers, strict=True)) if v != a), None)
    assert wrong is None, f"{route_name}: texts[{wrong}] got another text's vector"
    spec = get_model_spec(MODEL)
    assert all(len(record.inputs) <= spec.max_inputs for record in api.requests)
    assert sum(len(record.inputs) for record in api.requests) == len(texts), (
        f"{route_name}: texts were sent more or less than once each"
    )
    assert elapsed < 30, f"{route_name}: 100,000 short texts took {elapsed:.1f} s"


# ---- LlamaIndex batches before the core sees the texts -----------------------------------------


@pytest.mark.parametrize("route_name", ["llama-sync", "llama-async"])
def test_a_bad_item_past_the_first_embed_batch_is_still_named_by_its_own_index(
    route_name: str, api: Emulator, closing: Closer
) -> None:
    """LlamaIndex cuts a list into `embed_batch_size` chunks; the error must still say where the
    bad text is in the caller's list, and nothing may be sent before it is found."""
    route = make_route(route_name, api, closing, embed_batch_size=10)
    texts: list[Any] = [f"text {i}" for i in range(30)]
    texts[25] = None
    with pytest.raises(InvalidInputError) as info:
        route.embed(texts)
    assert info.value.index == 25, (
        f"{route_name}: the error names index {info.value.index} of a chunk, not 25 of the "
        f"caller's list: {info.value}"
    )
    assert api.requests == [], (
        f"{route_name}: {len(api.requests)} request(s) were sent before the bad text was found"
    )
