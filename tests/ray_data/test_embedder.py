"""`AimlapiEmbedder` on its own (no Ray needed): each batch format in and out, float32 vectors
equal to the emulator's, usage that sums to what was billed, per-model rules, 429s, and errors
that name the row.

(This folder is not called `ray`: pytest puts `tests/` on sys.path, where it would hide Ray.)
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aimlapi_embeddings import InvalidInputError, ModelSpec, get_model_spec
from aimlapi_embeddings.ray import AimlapiEmbedder, _apportion, _batch_format
from aimlapi_embeddings.testing import Emulator, embedding_for

MODEL = "text-embedding-3-small"
DIMS = 16
TEXTS = ["Bees make honey", "", "The Eiffel Tower is in Paris", "   ", "bees and honey again"]
IDS = [101, 102, 103, 104, 105]
SECRET = "aiml-sk-RayEmbedder9f3Kq7Lw2Xz"


@pytest.fixture
def api() -> Iterator[Emulator]:
    with Emulator(api_key=SECRET) as emulator:
        yield emulator


def embedder(api: Emulator, **options: Any) -> AimlapiEmbedder:
    settings: dict[str, Any] = {"model": MODEL, "dimensions": DIMS, **options}
    return AimlapiEmbedder(api_key=api.api_key, base_url=api.base_url, **settings)


def make_batch(kind: str, ids: list[Any], texts: list[Any]) -> Any:
    if kind == "pandas":
        return pd.DataFrame({"id": ids, "text": texts})
    if kind == "pyarrow":
        return pa.table({"id": ids, "text": texts})
    return {"id": np.array(ids), "text": np.array(texts, dtype=object)}


def columns_of(kind: str, batch: Any) -> dict[str, Any]:
    """Each column as numpy: the vectors as one (n, width) float32 array, however stored."""
    if kind == "pyarrow":
        vectors = batch["embedding"].combine_chunks()
        width = vectors.type.list_size
        flat = vectors.values.to_numpy(zero_copy_only=True)
        return {
            "id": batch["id"].to_numpy(),
            "text": batch["text"].to_pylist(),
            "embedding": flat.reshape(-1, width),
            "embedding_tokens": batch["embedding_tokens"].to_numpy(),
            "type": vectors.type,
        }
    if kind == "pandas":
        rows = batch["embedding"].tolist()
        assert all(isinstance(row, np.ndarray) and row.dtype == np.float32 for row in rows)
        return {
            "id": batch["id"].to_numpy(),
            "text": batch["text"].tolist(),
            "embedding": np.stack(rows) if rows else np.zeros((0, DIMS), np.float32),
            "embedding_tokens": batch["embedding_tokens"].to_numpy(),
        }
    return {**batch, "text": list(batch["text"])}


def billed(api: Emulator) -> int:
    return sum(record.total_tokens for record in api.requests if record.status == 200)


def expected_vectors(texts: list[str], dimensions: int = DIMS, model: str = MODEL) -> Any:
    # Blank texts are sent as one space (the core's stand-in the schemas accept).
    return np.array(
        [
            embedding_for(text if text.strip() else " ", model, dimensions=dimensions)
            for text in texts
        ],
        dtype=np.float32,
    )


@pytest.mark.parametrize("kind", ["pandas", "pyarrow", "numpy"])
def test_each_format_comes_back_in_its_format_with_float32_vectors(
    kind: str, api: Emulator
) -> None:
    batch = make_batch(kind, IDS, TEXTS)
    out = embedder(api)(batch)
    assert _batch_format(out) == kind
    columns = columns_of(kind, out)
    assert columns["id"].tolist() == IDS  # the other columns, in their order
    assert columns["text"] == TEXTS
    vectors = columns["embedding"]
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(TEXTS), DIMS)
    # Bit for bit what the emulator sent, in input order.
    assert np.array_equal(vectors, expected_vectors(TEXTS))
    if kind == "pyarrow":
        assert columns["type"] == pa.list_(pa.float32(), DIMS)  # a fixed-size list
    # The token column adds up to exactly what the API counted.
    assert columns["embedding_tokens"].dtype == np.int64
    assert int(columns["embedding_tokens"].sum()) == billed(api) > 0


@pytest.mark.parametrize("kind", ["pandas", "pyarrow", "numpy"])
def test_an_empty_batch_gets_empty_columns_of_the_right_width(kind: str, api: Emulator) -> None:
    out = embedder(api)(make_batch(kind, [], []))
    columns = columns_of(kind, out)
    assert columns["embedding"].shape == (0, DIMS)
    assert len(columns["embedding_tokens"]) == 0
    assert api.requests == []


def test_other_column_names_and_no_usage_column(api: Emulator) -> None:
    batch = pa.table({"body": TEXTS, "vector": [1] * len(TEXTS)})
    out = embedder(api, text_column="body", output_column="vector", usage_column=None)(batch)
    assert out.column_names == ["body", "vector"]  # replaced in place, nothing added
    assert out["vector"].type == pa.list_(pa.float32(), DIMS)


def test_one_client_per_embedder_survives_pickling(api: Emulator) -> None:
    original = embedder(api)
    copy = pickle.loads(pickle.dumps(original))
    batch = make_batch("numpy", IDS, TEXTS)
    assert np.array_equal(copy(batch)["embedding"], original(batch)["embedding"])
    assert copy.client is not original.client


@pytest.mark.parametrize(
    ("model", "dimensions", "input_type"),
    [
        ("text-embedding-3-large", 64, "document"),  # base64 answers, `dimensions`
        ("voyage-large-2", None, "document"),  # input_type "document", character limits
        ("voyage-law-2", None, "query"),  # queries send no input_type
        ("text-multilingual-embedding-002", 32, "query"),  # task_type RETRIEVAL_QUERY
        ("alibaba/qwen-text-embedding-v4", 64, "document"),  # 10 inputs per request
    ],
)
def test_per_model_rules_hold_because_the_core_sends_every_request(
    model: str, dimensions: int | None, input_type: str, api: Emulator
) -> None:
    texts = [f"passage {i} on bees and honey" for i in range(25)] + ["x " * 3000]
    out = embedder(api, model=model, dimensions=dimensions, input_type=input_type)(
        pd.DataFrame({"text": texts})
    )
    vectors = np.stack(out["embedding"].tolist())
    assert vectors.dtype == np.float32
    for text, vector in zip(texts[:-1], vectors, strict=False):
        assert np.array_equal(vector, np.float32(embedding_for(text, model, dimensions=dimensions)))
    # Every request followed the model's published schema, and carried the settings given.
    assert api.schema_violations == 0
    fields = get_model_spec(model).request_fields(input_type, dimensions)  # type: ignore[arg-type]
    del fields["model"]
    assert all(record.parameters == fields for record in api.requests)
    assert int(out["embedding_tokens"].sum()) == billed(api)


@pytest.mark.usefixtures("fast_backoff")
def test_429s_slow_the_actor_down_and_every_vector_still_arrives() -> None:
    with Emulator(max_concurrent=2, latency=0.05) as api:
        texts = [f"text number {i}" for i in range(600)]
        out = embedder(api, max_concurrency=8)({"text": np.array(texts, dtype=object)})
        statuses = [record.status for record in api.requests]
    assert 429 in statuses  # the API refused some requests...
    assert np.array_equal(out["embedding"], expected_vectors(texts))  # ...none was lost


# (format, texts, the row at fault, what the message says it holds)
NOT_STRINGS = [
    ("pandas", ["fine", "also fine", None, "fine"], 2, "float"),  # pandas keeps None as NaN
    ("pandas", ["fine", "also fine", 7, "fine"], 2, "int"),
    ("pyarrow", ["fine", "also fine", None, "fine"], 2, "NoneType"),
    ("pyarrow", [1, 2, 7, 4], 0, "int"),  # a column of ints: the first row is at fault
    ("numpy", ["fine", "also fine", None, "fine"], 2, "NoneType"),
    ("numpy", ["fine", "also fine", 7, "fine"], 2, "int"),
]


@pytest.mark.parametrize(("kind", "texts", "row", "shown"), NOT_STRINGS)
def test_a_text_that_is_not_a_string_is_named_by_its_row(
    kind: str, texts: list[Any], row: int, shown: str, api: Emulator
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        embedder(api)(make_batch(kind, IDS[:4], texts))
    message = str(raised.value)
    assert f"column 'text', row {row} of this batch (id={IDS[row]}): " in message
    assert f"is {shown}, not str" in message
    assert raised.value.index == row
    assert api.requests == []  # nothing was sent
    assert SECRET not in message


def test_a_lone_surrogate_is_named_by_its_row_too(api: Emulator) -> None:
    # Arrow (and so pandas' own string type) cannot even hold one: a numpy object column can.
    batch = {"id": np.array(["a", "b"]), "text": np.array(["fine", "broken \ud800 text"], object)}
    with pytest.raises(InvalidInputError, match=r"row 1 of this batch \(id='b'\).*surrogate"):
        embedder(api)(batch)


@pytest.mark.parametrize("kind", ["pandas", "pyarrow", "numpy"])
def test_a_missing_text_column_names_the_columns_there_are(kind: str, api: Emulator) -> None:
    batch = make_batch(kind, IDS, TEXTS)
    with pytest.raises(
        InvalidInputError, match=r"no text column 'body' \(its columns: \['id', 'text'\]\)"
    ):
        embedder(api, text_column="body")(batch)


def test_other_batch_types_are_refused_naming_the_formats(api: Emulator) -> None:
    with pytest.raises(TypeError, match='batch_format="pandas", "pyarrow" or "numpy"'):
        embedder(api)(TEXTS)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "text-embedding-ada-002", "dimensions": 64}, "does not accept `dimensions`"),
        ({"input_type": "question"}, 'input_type must be "document" or "query"'),
        ({"output_column": "text"}, "must differ"),
        ({"usage_column": "embedding"}, "must differ"),
        ({"max_concurrency": 0}, "max_concurrency must be >= 1"),
    ],
)
def test_bad_settings_fail_when_the_actor_starts(
    options: dict[str, Any], message: str, api: Emulator
) -> None:
    with pytest.raises(ValueError, match=message):
        embedder(api, **options)
    assert api.requests == []


def test_without_a_key_the_error_names_the_variable() -> None:
    with pytest.raises(ValueError, match="AIMLAPI_API_KEY"):
        AimlapiEmbedder()


def test_the_key_and_url_come_from_the_environment_of_the_worker(
    api: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIMLAPI_API_KEY", api.api_key)
    monkeypatch.setenv("AIMLAPI_BASE_URL", api.base_url)
    out = AimlapiEmbedder(dimensions=DIMS)({"text": np.array(TEXTS, dtype=object)})
    assert np.array_equal(out["embedding"], expected_vectors(TEXTS))


def test_the_key_is_in_no_repr_or_state(api: Emulator) -> None:
    target = embedder(api)
    target(make_batch("numpy", IDS, TEXTS))
    for form in (repr(target), str(target), repr(vars(target))):
        assert SECRET not in form
    assert "AimlapiEmbedder(model='text-embedding-3-small'" in repr(target)


@given(
    total=st.integers(min_value=0, max_value=10**9),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=300),
)
def test_apportion_shares_out_exactly_the_total(total: int, weights: list[int]) -> None:
    shares = _apportion(total, weights)
    assert shares.dtype == np.int64
    assert len(shares) == len(weights)
    assert int(shares.sum()) == total
    # Each share is its exact proportion rounded down or up: nothing is moved between rows.
    counted = np.array(weights) + 1
    exact = [total * weight / counted.sum() for weight in counted]
    assert all(
        int(value) - 1 <= share <= int(value) + 1
        for value, share in zip(exact, shares, strict=True)
    )


def test_apportion_of_nothing_is_nothing() -> None:
    assert _apportion(0, []).tolist() == []
    assert _apportion(5, [0, 0]).tolist() in ([3, 2], [2, 3])


@pytest.mark.parametrize("count", [2**62, 2**63, 2**64 + 5, 10**30])
@pytest.mark.parametrize("kind", ["pandas", "pyarrow", "numpy"])
def test_an_absurd_usage_count_is_unknown_usage_not_a_wrong_column(count: int, kind: str) -> None:
    from hostile import HostileServer, embeddings

    def answer(request: Any, connection: Any) -> None:
        reply = embeddings(request)
        reply["usage"] = {"prompt_tokens": count, "total_tokens": count}
        connection.answer(200, json.dumps(reply).encode())

    with HostileServer(answer) as server:
        embed = AimlapiEmbedder(
            api_key=SECRET, base_url=server.base_url, model=MODEL, dimensions=DIMS
        )
        out = columns_of(kind, embed(make_batch(kind, [1, 2, 3], ["a", "bb", "ccc"])))
    assert out["embedding_tokens"].tolist() == [0, 0, 0]  # unknown, as with no usage at all


@pytest.mark.parametrize("kind", ["pandas", "pyarrow", "numpy"])
def test_an_empty_batch_of_a_model_of_unknown_width_comes_back_with_its_columns(
    api: Emulator, kind: str
) -> None:
    unknown = ModelSpec(
        name="in-house-embedder",
        dimensions=None,
        context_tokens=512,
        max_inputs=8,
        max_tokens_per_request=4096,
    )
    embed = AimlapiEmbedder(api_key=api.api_key, base_url=api.base_url, model=unknown)
    out = embed(make_batch(kind, [], []))
    names = list(
        out.column_names if kind == "pyarrow" else out.keys() if kind == "numpy" else out.columns
    )
    assert names == ["id", "text", "embedding", "embedding_tokens"]
    assert len(out["embedding"]) == 0
    assert api.requests == []
