"""AimlapiEmbedding against an in-process fake of the API (httpx.MockTransport): no sockets."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import warnings
from typing import Any

import httpx
import pytest
from llama_index.core.bridge.pydantic import ValidationError
from llama_index.core.storage.kvstore import SimpleKVStore
from llama_index_fakes import API_KEY, BASE_URL, FakeAPI, make_embedding, vector_for

from aimlapi_embeddings import (
    AuthenticationError,
    InputTooLongError,
    InvalidInputError,
    ModelStatusWarning,
    UnknownModelWarning,
)
from aimlapi_embeddings.client import DEFAULT_TIMEOUT
from llama_index_aimlapi import AimlapiEmbedding

TEXTS = ["the first text", "a second one", "", "   ", "and a fourth, about embeddings"]
GOOGLE = "text-multilingual-embedding-002"

# -- construction ---------------------------------------------------------------------------------


def test_class_name_and_defaults() -> None:
    embedding = AimlapiEmbedding(api_key=API_KEY)
    assert AimlapiEmbedding.class_name() == "AimlapiEmbedding"
    assert embedding.model_name == "text-embedding-3-small"
    assert embedding.base_url == "https://api.aimlapi.com/v1"
    assert embedding.embed_batch_size == 2048
    assert embedding.api_key.get_secret_value() == API_KEY
    assert (embedding.max_concurrency, embedding.max_retries) == (8, 4)


def test_missing_key_is_an_error_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="AIMLAPI_API_KEY"):
        AimlapiEmbedding()
    with pytest.raises(ValueError, match="AIMLAPI_API_KEY"):
        AimlapiEmbedding(api_key="   ")


def test_key_and_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMLAPI_API_KEY", "sk-from-env")
    monkeypatch.setenv("AIMLAPI_API_BASE", "https://older.example/v1/")
    assert AimlapiEmbedding().base_url == "https://older.example/v1"
    monkeypatch.setenv("AIMLAPI_BASE_URL", "https://proxy.example/v1")
    api = FakeAPI()
    embedding = make_embedding(api, api_key=None, base_url=None)
    assert embedding.api_key.get_secret_value() == "sk-from-env"
    assert embedding.base_url == "https://proxy.example/v1"
    embedding.get_text_embedding("hello")
    assert api.urls == ["https://proxy.example/v1/embeddings"]
    assert api.headers[0]["authorization"] == "Bearer sk-from-env"


def test_api_base_is_an_alias_of_base_url() -> None:
    embedding = AimlapiEmbedding(api_key=API_KEY, api_base="https://alias.example/v1")
    assert embedding.base_url == "https://alias.example/v1"
    same = AimlapiEmbedding(
        api_key=API_KEY, base_url="https://a.example", api_base="https://a.example"
    )
    assert same.base_url == "https://a.example"
    with pytest.raises(ValueError, match="not both"):
        AimlapiEmbedding(
            api_key=API_KEY, base_url="https://a.example", api_base="https://b.example"
        )


def test_plain_http_only_to_this_machine_unless_allowed() -> None:
    with pytest.raises(ValueError, match="allow_insecure_http"):
        AimlapiEmbedding(api_key=API_KEY, base_url="http://api.example/v1")
    allowed = AimlapiEmbedding(
        api_key=API_KEY, base_url="http://api.example/v1", allow_insecure_http=True
    )
    assert allowed.allow_insecure_http
    assert AimlapiEmbedding(api_key=API_KEY, base_url="http://127.0.0.1:8000/v1").base_url


@pytest.mark.parametrize(
    ("model", "dimensions", "message"),
    [
        ("text-embedding-ada-002", 256, "does not accept `dimensions`"),
        ("text-embedding-3-small", 4096, "from 1 to 1536"),
        ("alibaba/qwen-text-embedding-v3", 32, "from 64 to 2048"),
        ("text-embedding-3-small", 0, "from 1 to 1536, not 0"),
    ],
)
def test_bad_dimensions_fail_at_construction(model: str, dimensions: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AimlapiEmbedding(api_key=API_KEY, model=model, dimensions=dimensions)


def test_unknown_model_warns_at_construction() -> None:
    with pytest.warns(UnknownModelWarning, match="not in aimlapi_embeddings' registry") as caught:
        embedding = AimlapiEmbedding(api_key=API_KEY, model="someone/new-embedder")
    # The warning points at the caller's line, not into the adapter.
    assert caught[0].filename == __file__
    assert embedding.embed_batch_size == 8 * 128  # the generic rules' inputs per request


def test_removed_model_warns_at_construction_pointing_at_the_callers_line() -> None:
    with pytest.warns(ModelStatusWarning, match="removed from AI/ML API on 2026-03-30") as caught:
        AimlapiEmbedding(api_key=API_KEY, model="BAAI/bge-base-en-v1.5")
    assert caught[0].filename == __file__


@pytest.mark.parametrize(
    ("model", "max_concurrency", "batch_size"),
    [
        ("text-embedding-3-large", 8, 2048),  # 2048 inputs per request, LlamaIndex's ceiling
        ("voyage-2", 8, 1024),  # 128 per request, 8 requests at once
        (GOOGLE, 8, 2000),
        ("alibaba/qwen-text-embedding-v4", 8, 80),
        ("qwen-text-embedding-v3", 2, 20),  # an alias gets its model's rules
        ("togethercomputer/m2-bert-80M-8k-retrieval", 3, 3),  # one input per request
    ],
)
def test_embed_batch_size_defaults_to_what_fills_every_concurrent_request(
    model: str, max_concurrency: int, batch_size: int
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelStatusWarning)
        embedding = AimlapiEmbedding(api_key=API_KEY, model=model, max_concurrency=max_concurrency)
    assert embedding.embed_batch_size == batch_size
    assert embedding.model_name == model


def test_embed_batch_size_bounds() -> None:
    assert AimlapiEmbedding(api_key=API_KEY, embed_batch_size=7).embed_batch_size == 7
    with pytest.raises(ValidationError, match="less than or equal to 2048"):
        AimlapiEmbedding(api_key=API_KEY, embed_batch_size=4096)
    with pytest.raises(ValidationError, match="must be >= 1"):
        AimlapiEmbedding(api_key=API_KEY, embed_batch_size=0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_concurrency", 0), ("max_retries", -1), ("timeout", 0.0), ("long_text", "drop")],
)
def test_fields_are_validated(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        AimlapiEmbedding(api_key=API_KEY, **{field: value})


def test_a_misspelt_argument_is_an_error() -> None:
    with pytest.raises(ValidationError, match="max_concurency"):
        AimlapiEmbedding(api_key=API_KEY, max_concurency=4)


def test_model_name_is_accepted_as_written_by_to_dict() -> None:
    embedding = AimlapiEmbedding(api_key=API_KEY, model_name="voyage-2")
    assert embedding.model_name == "voyage-2"
    with pytest.raises(ValueError, match="not both"):
        AimlapiEmbedding(api_key=API_KEY, model="voyage-2", model_name="voyage-law-2")


def test_client_settings_are_frozen() -> None:
    embedding = AimlapiEmbedding(api_key=API_KEY)
    secret = "aiml-sk-assigned-9Qw3Er7Ty1"
    for field, value in [("api_key", secret), ("base_url", "https://x"), ("max_retries", 1), ("default_headers", {"X-Api-Key": secret})]:  # fmt: skip
        with pytest.raises(ValueError, match="frozen") as caught:
            setattr(embedding, field, value)
        assert secret not in str(caught.value)  # pydantic's own error quoted the value


def test_configuration_reaches_the_client() -> None:
    embedding = AimlapiEmbedding(
        api_key=API_KEY,
        max_concurrency=3,
        max_retries=1,
        timeout=5.0,
        default_headers={"X-Trace": "on"},
    )
    client = embedding._client
    assert (client.max_concurrency, client.max_retries) == (3, 1)
    assert client.timeout == httpx.Timeout(5.0)
    assert client.default_headers == {"X-Trace": "on"}
    # No timeout given: the core's default, with its short connect timeout.
    assert AimlapiEmbedding(api_key=API_KEY)._client.timeout == DEFAULT_TIMEOUT


# -- the hooks ------------------------------------------------------------------------------------


def test_batch_keeps_order_and_sends_each_text_once(fake_api: FakeAPI) -> None:
    embedding = make_embedding(fake_api, dimensions=8)
    vectors = embedding.get_text_embedding_batch(TEXTS)
    assert len(vectors) == len(TEXTS)
    for text, vector in zip(TEXTS, vectors, strict=True):
        expected = vector_for(text if text.strip() else " ", 8)
        assert vector == pytest.approx(expected, rel=1e-6)
    # Empty and blank texts share one stand-in, sent once.
    assert sorted(fake_api.inputs) == sorted([*(t for t in TEXTS if t.strip()), " "])
    assert all(body["dimensions"] == 8 for body in fake_api.requests)


def test_batches_respect_the_models_limit(fake_api: FakeAPI) -> None:
    texts = [f"text number {i}" for i in range(300)]
    embedding = make_embedding(fake_api, model="voyage-2")
    vectors = embedding.get_text_embedding_batch(texts)
    assert [len(body["input"]) <= 128 for body in fake_api.requests] == [True] * len(
        fake_api.requests
    )
    assert sorted(fake_api.inputs) == sorted(texts)
    assert vectors == [pytest.approx(vector_for(text, 1024)) for text in texts]


async def test_sync_equals_async(fake_api: FakeAPI) -> None:
    embedding = make_embedding(fake_api, dimensions=16)
    sync_batch = embedding.get_text_embedding_batch(TEXTS)
    async_batch = await embedding.aget_text_embedding_batch(TEXTS)
    assert sync_batch == async_batch
    assert embedding.get_text_embedding(TEXTS[0]) == await embedding.aget_text_embedding(TEXTS[0])
    query = "what is in the fourth text?"
    assert embedding.get_query_embedding(query) == await embedding.aget_query_embedding(query)


async def test_batch_equals_one_text_at_a_time(fake_api: FakeAPI) -> None:
    embedding = make_embedding(fake_api, dimensions=16)
    batch = embedding.get_text_embedding_batch(TEXTS)
    assert batch == [embedding.get_text_embedding(text) for text in TEXTS]
    assert batch == [await embedding.aget_text_embedding(text) for text in TEXTS]
    # The single-text hooks go through the batched one: one request per text, not a loop.
    count = len(fake_api.requests)
    embedding.get_text_embedding("one more")
    assert len(fake_api.requests) == count + 1


@pytest.mark.parametrize(
    ("model", "document_fields", "query_fields"),
    [
        (GOOGLE, {"task_type": "RETRIEVAL_DOCUMENT"}, {"task_type": "RETRIEVAL_QUERY"}),
        ("voyage-large-2", {"input_type": "document"}, {}),
        ("text-embedding-3-small", {}, {}),
    ],
)
async def test_queries_and_documents_send_the_models_input_type(
    fake_api: FakeAPI, model: str, document_fields: dict[str, str], query_fields: dict[str, str]
) -> None:
    embedding = make_embedding(fake_api, model=model)
    embedding.get_text_embedding_batch(["a document"])
    await embedding.aget_text_embedding_batch(["a document"])
    embedding.get_text_embedding("a document")
    await embedding.aget_text_embedding("a document")
    embedding.get_query_embedding("a query")
    await embedding.aget_query_embedding("a query")
    embedding.get_agg_embedding_from_queries(["one query", "another query"])

    def fields(body: dict[str, Any]) -> dict[str, str]:
        return {k: v for k, v in body.items() if k in ("task_type", "input_type")}

    documents = [fields(body) for body in fake_api.requests if body["input"] == ["a document"]]
    queries = [fields(body) for body in fake_api.requests if "query" in body["input"][0]]
    assert documents == [document_fields] * 4
    assert queries == [query_fields] * 4


def test_per_call_fields_are_read_at_call_time(fake_api: FakeAPI) -> None:
    embedding = make_embedding(fake_api)
    embedding.dimensions = 32
    assert len(embedding.get_text_embedding("text")) == 32
    embedding.model_name = "text-embedding-3-large"
    embedding.get_query_embedding("text")
    assert fake_api.requests[-1]["model"] == "text-embedding-3-large"


def test_long_text_modes(fake_api: FakeAPI) -> None:
    long_text = "word " * 30_000  # far over text-embedding-3-small's 8191-token context
    with pytest.raises(InputTooLongError) as caught:
        make_embedding(fake_api, long_text="error").get_text_embedding_batch(["ok", long_text])
    assert caught.value.index == 1
    assert fake_api.requests == []
    make_embedding(fake_api, long_text="truncate").get_text_embedding(long_text)
    assert len(fake_api.inputs) == 1
    assert len(fake_api.inputs[0]) < len(long_text)
    vector = make_embedding(fake_api, long_text="chunk").get_text_embedding(long_text)
    assert len(fake_api.inputs) > 2
    assert len(vector) == 1536


def test_invalid_input_is_reported_by_index(fake_api: FakeAPI) -> None:
    embedding = make_embedding(fake_api)
    texts: list[Any] = ["fine", 42]
    with pytest.raises(InvalidInputError, match=r"texts\[1\]") as caught:
        embedding.get_text_embedding_batch(texts)
    assert caught.value.index == 1


def test_base_embedding_fields_keep_working(fake_api: FakeAPI) -> None:
    embedding = make_embedding(fake_api, dimensions=8, embeddings_cache=SimpleKVStore())
    first = embedding.get_text_embedding_batch(["cached", "texts"])
    assert embedding.get_text_embedding_batch(["cached", "texts"]) == first
    assert embedding.get_query_embedding("cached") == first[0]
    assert fake_api.inputs == ["cached", "texts"]  # the second batch and the query hit the cache


def test_empty_batch_sends_nothing(fake_api: FakeAPI) -> None:
    assert make_embedding(fake_api).get_text_embedding_batch([]) == []
    assert fake_api.requests == []


def test_show_progress_draws_a_bar(fake_api: FakeAPI, capsys: pytest.CaptureFixture[str]) -> None:
    embedding = make_embedding(fake_api, dimensions=8, embed_batch_size=2)
    vectors = embedding.get_text_embedding_batch(TEXTS, show_progress=True)
    assert len(vectors) == len(TEXTS)
    err = capsys.readouterr().err
    assert "Generating embeddings" in err
    assert f"{len(TEXTS)}/{len(TEXTS)}" in err


async def test_show_progress_async(fake_api: FakeAPI, capsys: pytest.CaptureFixture[str]) -> None:
    embedding = make_embedding(fake_api, dimensions=8, embed_batch_size=2)
    vectors = await embedding.aget_text_embedding_batch(TEXTS, show_progress=True)
    assert vectors == embedding.get_text_embedding_batch(TEXTS)
    assert "Generating embeddings" in capsys.readouterr().err


class _ConcurrencyProbe:
    """An async handler that records how many requests were in flight at once."""

    def __init__(self) -> None:
        self.api = FakeAPI()
        self.in_flight = 0
        self.peak = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.02)
        self.in_flight -= 1
        return self.api(request)


@pytest.mark.parametrize(("num_workers", "peak"), [(None, 6), (2, 2)])
async def test_num_workers_bounds_the_batches_in_flight(num_workers: int | None, peak: int) -> None:
    probe = _ConcurrencyProbe()
    embedding = AimlapiEmbedding(
        api_key=API_KEY,
        base_url=BASE_URL,
        dimensions=8,
        embed_batch_size=2,
        num_workers=num_workers,
        async_transport=httpx.MockTransport(probe),
    )
    texts = [f"text {i}" for i in range(12)]
    vectors = await embedding.aget_text_embedding_batch(
        texts, show_progress=num_workers is not None
    )
    assert vectors == [pytest.approx(vector_for(text, 8)) for text in texts]
    assert len(probe.api.requests) == 6  # one request per embed_batch_size texts
    assert probe.peak == peak


# -- secrets --------------------------------------------------------------------------------------

SECRET = "sk-do-not-leak-4f1c9e"


def test_the_key_is_in_no_serialised_form() -> None:
    embedding = AimlapiEmbedding(
        api_key=SECRET,
        default_headers={
            "X-Trace": "trace-id",
            "X-Proxy-Token": SECRET,
            "Proxy-Authorization": SECRET,
        },
    )
    forms = [
        repr(embedding),
        str(embedding),
        json.dumps(embedding.to_dict()),
        embedding.to_json(),
        embedding.model_dump_json(),
        json.dumps(embedding.model_dump(mode="json")),
        json.dumps(embedding.to_payload()),
        repr(embedding._client),
    ]
    for form in forms:
        assert SECRET not in form
    data = embedding.to_dict()
    assert "api_key" not in data
    assert data["default_headers"] == {"X-Trace": "trace-id"}
    assert data["class_name"] == "AimlapiEmbedding"


def test_the_key_is_in_no_error() -> None:
    def echo_key(request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"]
        return httpx.Response(401, json={"message": f"bad key {auth}", "statusCode": 401})

    embedding = AimlapiEmbedding(
        api_key=SECRET, base_url=BASE_URL, transport=httpx.MockTransport(echo_key)
    )
    with pytest.raises(AuthenticationError) as caught:
        embedding.get_text_embedding("text")
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.body)
    with pytest.raises(ValidationError) as invalid:
        AimlapiEmbedding(api_key=SECRET, max_retries=-1)
    assert SECRET not in str(invalid.value)
    with pytest.raises(ValueError, match="allow_insecure_http") as insecure:
        AimlapiEmbedding(api_key=SECRET, base_url="http://api.example")
    assert SECRET not in str(insecure.value)


def test_from_dict_and_from_json_round_trip(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeAPI
) -> None:
    embedding = make_embedding(
        fake_api,
        model=GOOGLE,
        dimensions=64,
        embed_batch_size=50,
        max_concurrency=3,
        max_retries=2,
        timeout=12.5,
        long_text="truncate",
        default_headers={"X-Trace": "t"},
        num_workers=4,
    )
    data = embedding.to_dict()
    with pytest.raises(ValueError, match="AIMLAPI_API_KEY"):
        AimlapiEmbedding.from_dict(data)
    explicit = AimlapiEmbedding.from_dict(data, api_key=SECRET)
    assert explicit.api_key.get_secret_value() == SECRET
    assert explicit.to_dict() == data
    monkeypatch.setenv("AIMLAPI_API_KEY", "sk-from-env")
    from_json = AimlapiEmbedding.from_json(embedding.to_json())
    assert from_json.to_dict() == data
    assert from_json.api_key.get_secret_value() == "sk-from-env"
    assert isinstance(from_json, AimlapiEmbedding)
    assert data["model_name"] == GOOGLE


@pytest.mark.parametrize("duplicate", [pickle.loads, copy.deepcopy])
async def test_copies_embed_like_the_original(fake_api: FakeAPI, duplicate: Any) -> None:
    embedding = make_embedding(fake_api, dimensions=8)
    expected = embedding.get_text_embedding_batch(TEXTS)
    source = pickle.dumps(embedding) if duplicate is pickle.loads else embedding
    clone = duplicate(source)
    assert isinstance(clone, AimlapiEmbedding)
    assert clone._client is not embedding._client
    assert clone.to_dict() == embedding.to_dict()
    assert clone.api_key.get_secret_value() == API_KEY
    assert clone.get_text_embedding_batch(TEXTS) == expected
    assert await clone.aget_text_embedding_batch(TEXTS) == expected


def test_an_unpicklable_transport_falls_back_to_the_default() -> None:
    unpicklable = httpx.MockTransport(lambda request: httpx.Response(500))
    embedding = AimlapiEmbedding(api_key=API_KEY, transport=unpicklable)
    clone = pickle.loads(pickle.dumps(embedding))
    assert clone._client is not embedding._client
    assert clone._client._transport is None
    assert clone.api_key.get_secret_value() == API_KEY
