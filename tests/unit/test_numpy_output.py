"""output="numpy": the same vectors as list output, to the bit in float32, without Python floats."""

from __future__ import annotations

import base64
import gc
import subprocess
import sys
import tracemalloc
from array import array
from functools import partial
from typing import Any

import httpx
import numpy as np
import pytest
from fakes import FakeAPI, error_answer

import aimlapi_embeddings
from aimlapi_embeddings import ModelSpec, ResponseError
from aimlapi_embeddings._numpy import parse_rows
from aimlapi_embeddings._response import parse_embeddings

from .conftest import Embed
from .test_response import MALFORMED, ROWS, SPELLINGS, body

pytestmark = pytest.mark.usefixtures("fast_backoff")

# Short texts, blanks of every kind, texts over the list-item limit (Voyage: 800 characters,
# sent alone) and over the context (cut into pieces and averaged), repeated ones.
TEXTS = [
    "alpha beta",
    "",
    "gamma " * 200,
    "  ",
    "delta " * 4000,
    "alpha beta",
    "\n\t",
    "epsilon",
    "zeta " * 12_000,
]


def same_bits(vectors: Any, rows: np.ndarray) -> bool:
    """Whether `rows` holds `vectors` rounded to float32, bit for bit."""
    expected = np.array(vectors, dtype=np.float32)
    return expected.shape == rows.shape and np.array_equal(
        expected.view(np.uint32), rows.view(np.uint32)
    )


@pytest.mark.parametrize("model", ["text-embedding-3-small", "voyage-2", "text-embedding-004"])
def test_numpy_output_is_list_output_in_float32_bit_for_bit(embed: Embed, model: str) -> None:
    api = FakeAPI(shuffle=True, precise=True)
    listed = embed(api.client(), TEXTS, model=model, batch_size=3)
    array_ = embed(api.client(), TEXTS, model=model, batch_size=3, output="numpy")
    assert isinstance(array_.vectors, np.ndarray)
    assert array_.vectors.dtype == np.float32
    assert array_.vectors.flags.c_contiguous
    assert same_bits(listed.vectors, array_.vectors)
    assert array_.usage == listed.usage
    assert array_.model == listed.model


def test_texts_split_on_the_servers_word_are_averaged_alike(embed: Embed) -> None:
    def strict(body: dict[str, Any]) -> httpx.Response | None:
        if any(len(text) > 5000 for text in body["input"]):
            return error_answer(400, "This model's maximum context length is 1000 tokens")
        return None

    texts = ["short", "word " * 3000, "other"]
    listed = embed(FakeAPI(refuse=strict).client(), texts)
    array_ = embed(FakeAPI(refuse=strict).client(), texts, output="numpy")
    assert same_bits(listed.vectors, array_.vectors)


def test_a_model_of_unknown_width_takes_the_width_of_its_answers(embed: Embed) -> None:
    spec = ModelSpec(
        name="custom", dimensions=None, context_tokens=200, max_inputs=4, max_tokens_per_request=800
    )
    api = FakeAPI(width=24, shuffle=True)
    texts = ["a", "b " * 300, "", "c"]
    listed = embed(api.client(), texts, model=spec)
    array_ = embed(api.client(), texts, model=spec, output="numpy")
    assert array_.vectors.shape == (4, 24)
    assert same_bits(listed.vectors, array_.vectors)


def test_no_texts_make_an_empty_array_of_the_models_width(embed: Embed) -> None:
    api = FakeAPI()
    assert embed(api.client(), [], output="numpy").vectors.shape == (0, 1536)
    assert embed(api.client(), [], output="numpy", dimensions=64).vectors.shape == (0, 64)
    assert api.requests == []


def test_rows_belong_to_the_caller(embed: Embed) -> None:
    """Blank and repeated texts get rows of their own: changing one changes no other."""
    result = embed(FakeAPI().client(), ["", "a", " ", "a"], output="numpy")
    rows = result.vectors
    before = rows.copy()
    rows[0] += 1.0
    rows[1] += 1.0
    assert np.array_equal(rows[2], before[2])
    assert np.array_equal(rows[3], before[3])


@pytest.mark.parametrize(("content", "width", "problem"), MALFORMED)
def test_numpy_output_refuses_what_list_output_refuses(
    content: bytes, width: int | None, problem: str
) -> None:
    with pytest.raises(ResponseError, match=problem) as listed:
        parse_embeddings(content, 2, width)
    with pytest.raises(ResponseError) as as_array:
        parse_rows(content, 2, width, secret=None)
    assert str(as_array.value) == str(listed.value)


@pytest.mark.parametrize("width", [4, None])
@pytest.mark.parametrize("output", ["list", "numpy"])
def test_a_200_of_more_numbers_than_any_valid_answer_is_refused_before_parsing(
    output: str, width: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "0.0," is 4 bytes but a parsed float about 32: parsing it would take 8 times the cap.
    # Both outputs read answers alike, so both refuse it before json.loads.
    numbers = 2 * ((width or 8192) + 16) + 4096 + 1
    content = b'{"data":[{"index":0,"embedding":[' + b"0.0," * numbers + b"0.0]}]}"

    def parse(_: object) -> object:
        raise AssertionError("parsed")

    monkeypatch.setattr("aimlapi_embeddings._response.json.loads", parse)
    read = {"list": parse_embeddings, "numpy": partial(parse_rows, secret=None)}[output]
    with pytest.raises(ResponseError, match=r"more than .* values"):
        read(content, 2, width)


@pytest.mark.parametrize("content", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_every_spelling_of_an_answer_reads_alike(content: bytes) -> None:
    rows, _ = parse_rows(content, 2, 3, secret=None)
    assert [row.tolist() for row in rows] == ROWS


# Embeddings are float32: both outputs take what float32 holds, its largest value as the
# models' float32 written in decimal (3.4028235e+38) included, and refuse what it cannot.
FITS = [3.4028235e38, -3.4028235e38, 3.4028235677973362e38, 1e-45, -0.0]
TOO_LARGE = [1e39, -1e39, 3.4028235677973366e38, 1e300]


@pytest.mark.parametrize("number", FITS)
@pytest.mark.parametrize("output", ["list", "numpy"])
def test_every_number_float32_holds_is_taken_by_both_outputs(number: float, output: str) -> None:
    content = body([{"index": 0, "embedding": [0.5, number]}])
    read = {"list": parse_embeddings, "numpy": partial(parse_rows, secret=None)}[output]
    rows, _ = read(content, 1, 2)
    assert float(np.float32(rows[0][1])) == float(np.float32(number))


@pytest.mark.parametrize("number", TOO_LARGE)
@pytest.mark.parametrize("output", ["list", "numpy"])
def test_a_number_too_large_for_float32_is_refused_by_both_outputs(
    number: float, output: str
) -> None:
    content = body([{"index": 0, "embedding": [0.5, number]}])
    read = {"list": parse_embeddings, "numpy": partial(parse_rows, secret=None)}[output]
    with pytest.raises(ResponseError, match=r"data\[0\].embedding holds a number too large"):
        read(content, 1, 2)


def test_base64_and_numbers_in_one_answer_keep_every_bit() -> None:
    raw = base64.b64encode(array("f", [0.5, -0.25]).tobytes()).decode()
    content = body([{"index": 0, "embedding": raw}, {"index": 1, "embedding": [0.1, 0.2]}])
    rows, _ = parse_rows(content, 2, 2, secret=None)
    assert [row.tolist() for row in rows] == parse_embeddings(content, 2, 2)[0]


def test_numpy_output_makes_no_python_float_per_number() -> None:
    """Measured by memory: 4,000 x 256 Python floats in lists take ~33 MB, as float32 4 MB (the
    rest of the peak is the plan, and this test's fake server and its answers)."""

    def peak(output: str) -> int:
        client = FakeAPI().client(max_concurrency=1)
        texts = [f"text {i}" for i in range(4000)]
        gc.collect()
        tracemalloc.start()
        try:
            client.embed(texts, output=output, batch_size=100, dimensions=256)  # type: ignore[call-overload]
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak("numpy")  # imports and caches first
    as_list, as_array = peak("list"), peak("numpy")
    assert as_array < 4000 * 256 * 4 * 3, f"numpy output peaked at {as_array / 1e6:.1f} MB"
    assert as_array * 3 < as_list, f"{as_array / 1e6:.1f} MB vs {as_list / 1e6:.1f} MB for lists"


def test_without_numpy_the_error_names_the_extra_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)
    # As in an environment without numpy, where aimlapi_embeddings._numpy was never imported.
    monkeypatch.delitem(sys.modules, "aimlapi_embeddings._numpy")
    monkeypatch.delattr(aimlapi_embeddings, "_numpy")
    api = FakeAPI()
    with pytest.raises(ModuleNotFoundError, match=r'pip install "aimlapi-embeddings\[numpy\]"'):
        api.client().embed(["a"], output="numpy")
    with pytest.raises(ModuleNotFoundError, match="numpy"):
        api.client().embed_stream(["a"], output="numpy")
    assert api.requests == []


def test_importing_the_package_or_embedding_lists_does_not_import_numpy() -> None:
    script = """
import sys, httpx
from aimlapi_embeddings import EmbeddingsClient, ModelSpec
spec = ModelSpec(name="m", dimensions=2, context_tokens=9, max_inputs=9, max_tokens_per_request=99)
def answer(request):
    return httpx.Response(200, json={"data": [{"index": 0, "embedding": [1.0, 0.0]}]})
client = EmbeddingsClient(api_key="k-test-key", transport=httpx.MockTransport(answer))
assert client.embed(["a"], model=spec).vectors == [[1.0, 0.0]]
print("numpy" in sys.modules)
"""
    finished = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert finished.stdout.strip() == "False"


def test_an_unknown_output_is_refused() -> None:
    with pytest.raises(ValueError, match='output must be "list" or "numpy"'):
        FakeAPI().client().embed(["a"], output="pandas")  # type: ignore[call-overload]
