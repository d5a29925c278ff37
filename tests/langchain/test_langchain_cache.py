"""CacheBackedEmbeddings over AimlapiEmbeddings: a text embedded once is never sent again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_classic.embeddings import CacheBackedEmbeddings
from langchain_core.stores import InMemoryByteStore

from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings

MakeEmbeddings = Callable[..., AimlapiEmbeddings]

TEXTS = ["alpha particles", "beta decay", "gamma rays"]


def cached(embeddings: AimlapiEmbeddings, store: InMemoryByteStore) -> Any:
    return CacheBackedEmbeddings.from_bytes_store(
        embeddings,
        store,
        namespace=embeddings.model,
        key_encoder="sha256",
        query_embedding_cache=True,
    )


def test_second_call_is_served_from_the_cache(
    make_embeddings: MakeEmbeddings, emulator: Emulator
) -> None:
    store = InMemoryByteStore()
    embedder = cached(make_embeddings(), store)

    first = embedder.embed_documents(TEXTS)
    assert [record.inputs for record in emulator.requests] == [TEXTS]
    assert len(list(store.yield_keys())) == len(TEXTS)

    assert embedder.embed_documents(TEXTS) == first
    assert len(emulator.requests) == 1, "nothing sent for cached texts"

    mixed = embedder.embed_documents(["delta waves", *TEXTS])
    assert mixed[1:] == first
    assert [record.inputs for record in emulator.requests[1:]] == [["delta waves"]]


async def test_async_and_query_cache(make_embeddings: MakeEmbeddings, emulator: Emulator) -> None:
    store = InMemoryByteStore()
    embedder = cached(make_embeddings(model="text-multilingual-embedding-002"), store)

    first = await embedder.aembed_documents(TEXTS)
    assert await embedder.aembed_documents(TEXTS) == first
    query = await embedder.aembed_query("what is beta decay?")
    assert await embedder.aembed_query("what is beta decay?") == query
    assert embedder.embed_query("what is beta decay?") == query

    records = emulator.requests
    assert [record.inputs for record in records] == [TEXTS, ["what is beta decay?"]]
    assert records[1].parameters["task_type"] == "RETRIEVAL_QUERY"


def test_a_fresh_embedder_reuses_the_store(
    make_embeddings: MakeEmbeddings, emulator: Emulator
) -> None:
    store = InMemoryByteStore()
    first = cached(make_embeddings(), store).embed_documents(TEXTS)
    again = cached(make_embeddings(), store).embed_documents(TEXTS)
    assert again == first
    assert len(emulator.requests) == 1
