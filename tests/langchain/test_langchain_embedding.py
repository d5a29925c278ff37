"""The four methods over real loopback HTTP: what is sent, what comes back, sync and async alike."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from aimlapi_embeddings import (
    AuthenticationError,
    EmbeddingsClient,
    InputTooLongError,
    InternalServerError,
)
from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings, _embeddings

MakeEmbeddings = Callable[..., AimlapiEmbeddings]

TEXTS = ["red apples", "green pears", "", "yellow bananas", "red cherries"]


def test_documents_map_every_setting_onto_the_request(
    make_embeddings: MakeEmbeddings, emulator: Emulator
) -> None:
    embeddings = make_embeddings(
        model="text-embedding-004",
        dimensions=64,
        batch_size=2,
        model_kwargs={"auto_truncate": False},
    )
    vectors = embeddings.embed_documents(TEXTS)

    assert len(vectors) == len(TEXTS)
    assert all(len(vector) == 64 for vector in vectors)
    records = emulator.requests
    # Requests run in parallel, so they reach the server in any order.
    assert sorted(len(record.inputs) for record in records) == [1, 2, 2]
    for record in records:
        assert record.status == 200
        assert record.model == "text-embedding-004"
        assert record.parameters["dimensions"] == 64
        assert record.parameters["auto_truncate"] is False
        assert record.parameters["task_type"] == "RETRIEVAL_DOCUMENT"
    sent = sorted(text for record in records for text in record.inputs)
    assert sent == sorted(text if text.strip() else " " for text in TEXTS), "blank: one space"


def test_vectors_come_back_in_input_order(
    make_embeddings: MakeEmbeddings, emulator: Emulator
) -> None:
    emulator.configure(shuffle=True)
    embeddings = make_embeddings(batch_size=2, max_concurrency=3)
    together = embeddings.embed_documents(TEXTS)
    one_by_one = [embeddings.embed_documents([text])[0] for text in TEXTS]
    assert together == one_by_one
    assert len({tuple(vector) for vector in together}) == len(TEXTS)


async def test_sync_and_async_agree(make_embeddings: MakeEmbeddings) -> None:
    embeddings = make_embeddings(model="text-multilingual-embedding-002", batch_size=2)
    assert await embeddings.aembed_documents(TEXTS) == embeddings.embed_documents(TEXTS)
    assert await embeddings.aembed_query("red fruit") == embeddings.embed_query("red fruit")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_google_query_and_document_task_types(
    make_embeddings: MakeEmbeddings, emulator: Emulator, mode: str
) -> None:
    embeddings = make_embeddings(model="text-multilingual-embedding-002")
    if mode == "sync":
        embeddings.embed_documents(["a document"])
        embeddings.embed_query("a question")
    else:

        async def both() -> None:
            await embeddings.aembed_documents(["a document"])
            await embeddings.aembed_query("a question")

        asyncio.run(both())
    document, query = emulator.requests
    assert document.inputs == ["a document"]
    assert document.parameters["task_type"] == "RETRIEVAL_DOCUMENT"
    assert query.inputs == ["a question"]
    assert query.parameters["task_type"] == "RETRIEVAL_QUERY"


def test_voyage_documents_say_so_and_queries_send_no_type(
    make_embeddings: MakeEmbeddings, emulator: Emulator
) -> None:
    embeddings = make_embeddings(model="voyage-large-2")
    embeddings.embed_documents(["a document"])
    embeddings.embed_query("a question")
    document, query = emulator.requests
    assert document.parameters.get("input_type") == "document"
    assert "input_type" not in query.parameters


def test_models_without_query_type_embed_query_like_a_document(
    make_embeddings: MakeEmbeddings, emulator: Emulator
) -> None:
    embeddings = make_embeddings()
    assert embeddings.embed_query("same text") == embeddings.embed_documents(["same text"])[0]
    assert all("task_type" not in r.parameters for r in emulator.requests)


async def test_sync_methods_work_inside_a_running_event_loop(
    make_embeddings: MakeEmbeddings, emulator: Emulator
) -> None:
    """As in Jupyter, where a loop is always running: the sync path must not touch it."""
    asyncio.get_running_loop()  # this test body runs inside the loop
    embeddings = make_embeddings(batch_size=1, max_concurrency=4)
    vectors = embeddings.embed_documents(TEXTS)
    query = embeddings.embed_query("red apples")
    assert len(vectors) == len(TEXTS)
    assert query == vectors[0]
    assert len(emulator.requests) == len(TEXTS) + 1


def test_each_asyncio_run_gets_a_working_connection_pool(make_embeddings: MakeEmbeddings) -> None:
    embeddings = make_embeddings()
    first = asyncio.run(embeddings.aembed_documents(TEXTS))
    second = asyncio.run(embeddings.aembed_documents(TEXTS))
    assert first == second


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_requests_run_in_parallel_up_to_max_concurrency(
    make_embeddings: MakeEmbeddings, emulator: Emulator, mode: str
) -> None:
    emulator.configure(latency=0.05)
    embeddings = make_embeddings(batch_size=1, max_concurrency=3)
    texts = [f"text number {i}" for i in range(9)]
    if mode == "sync":
        embeddings.embed_documents(texts)
    else:
        asyncio.run(embeddings.aembed_documents(texts))
    assert len(emulator.requests) == 9
    assert emulator.peak_concurrency == 3


@pytest.mark.usefixtures("fast_backoff")
def test_max_retries_reaches_the_client(
    make_embeddings: MakeEmbeddings, emulator: Emulator
) -> None:
    emulator.fail_next(503)
    with pytest.raises(InternalServerError, match="503"):
        make_embeddings(max_retries=0).embed_query("once")
    emulator.fail_next(503)
    assert make_embeddings(max_retries=1).embed_query("twice")
    assert [record.status for record in emulator.requests] == [503, 503, 200]


def test_long_text_reaches_the_client(make_embeddings: MakeEmbeddings, emulator: Emulator) -> None:
    long_text = "word " * 40_000
    with pytest.raises(InputTooLongError) as caught:
        make_embeddings(long_text="error").embed_documents(["short", long_text])
    assert caught.value.index == 1
    assert emulator.requests == []
    vectors = make_embeddings(long_text="chunk").embed_documents(["short", long_text])
    assert len(vectors) == 2
    assert sum(len(record.inputs) for record in emulator.requests) > 2, "sent in pieces"


def test_empty_list_sends_nothing(make_embeddings: MakeEmbeddings, emulator: Emulator) -> None:
    embeddings = make_embeddings()
    assert embeddings.embed_documents([]) == []
    assert asyncio.run(embeddings.aembed_documents([])) == []
    assert emulator.requests == []


def test_wrong_key_is_an_authentication_error_without_the_key(
    make_embeddings: MakeEmbeddings,
) -> None:
    wrong = "sk-wrong-key-5e0c1d"
    with pytest.raises(AuthenticationError, match="401") as caught:
        make_embeddings(api_key=wrong).embed_documents(["hello"])
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value)


def test_changed_settings_take_effect(
    make_embeddings: MakeEmbeddings, emulator: Emulator, closing: Any
) -> None:
    embeddings = make_embeddings(batch_size=1, max_concurrency=4)
    emulator.configure(latency=0.03)
    embeddings.max_concurrency = 1
    embeddings.model = "text-embedding-3-large"
    embeddings.embed_documents(TEXTS[:3])
    assert emulator.peak_concurrency == 1
    assert {record.model for record in emulator.requests} == {"text-embedding-3-large"}

    with Emulator() as other:
        update = {"base_url": other.base_url, "aimlapi_api_key": SecretStr(other.api_key)}
        moved = closing(embeddings.model_copy(update=update))
        moved.embed_query("where did this go?")
        assert [record.inputs for record in other.requests] == [["where did this go?"]]
    assert len(emulator.requests) == 3, "the original still talks to its own server"
    embeddings.embed_query("still here")
    assert len(emulator.requests) == 4


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_progress_bar_counts_texts(
    make_embeddings: MakeEmbeddings, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    embeddings = make_embeddings(batch_size=2, show_progress_bar=True)
    if mode == "sync":
        embeddings.embed_documents(TEXTS)
    else:
        asyncio.run(embeddings.aembed_documents(TEXTS))
    err = capsys.readouterr().err
    assert "Embedding" in err
    assert "5/5" in err


def test_no_progress_bar_by_default(
    make_embeddings: MakeEmbeddings, capsys: pytest.CaptureFixture[str]
) -> None:
    make_embeddings(batch_size=2).embed_documents(TEXTS)
    assert capsys.readouterr().err == ""


def test_default_headers_and_timeout_reach_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Headers are not in the emulator's records: watch the wire with httpx.MockTransport."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        count = len(json.loads(request.content)["input"])
        data = [{"index": i, "embedding": [0.5] * 1024} for i in range(count)]
        return httpx.Response(200, json={"data": data, "usage": {"prompt_tokens": count}})

    def client_on_mock(**settings: Any) -> EmbeddingsClient:
        client = EmbeddingsClient(transport=httpx.MockTransport(answer), **settings)
        assert client.timeout == httpx.Timeout(7.0)
        return client

    monkeypatch.setattr(_embeddings, "EmbeddingsClient", client_on_mock)
    embeddings = AimlapiEmbeddings(
        model="voyage-2",
        api_key="sk-mock-key",
        base_url="https://mock.test/v1",
        default_headers={"X-Team": "search"},
        timeout=7.0,
    )
    assert embeddings.embed_documents(["a", "b"]) == [[0.5] * 1024] * 2
    (request,) = seen
    assert request.url == "https://mock.test/v1/embeddings"
    assert request.headers["X-Team"] == "search"
    assert request.headers["Authorization"] == "Bearer sk-mock-key"


async def test_close_and_aclose_release_pools_that_reopen(make_embeddings: MakeEmbeddings) -> None:
    embeddings = make_embeddings()
    first = embeddings.embed_query("again and again")
    embeddings.close()
    assert embeddings.embed_query("again and again") == first
    await embeddings.aembed_query("again and again")
    await embeddings.aclose()
    assert await embeddings.aembed_query("again and again") == first
