"""Against the real AI/ML API: run only when AIMLAPI_API_KEY is set (they cost a few credits)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.vectorstores import InMemoryVectorStore

from aimlapi_embeddings import AuthenticationError
from langchain_aimlapi import AimlapiEmbeddings

pytestmark = pytest.mark.live

Make = Callable[..., AimlapiEmbeddings]

CORPUS = [
    "The Eiffel Tower is a wrought iron lattice tower in Paris, France.",
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar.",
    "Mount Everest is the highest mountain above sea level.",
]


@pytest.fixture
def make(live_api_key: str, closing: Callable[[AimlapiEmbeddings], AimlapiEmbeddings]) -> Make:
    def build(**options: Any) -> AimlapiEmbeddings:
        return closing(AimlapiEmbeddings(api_key=live_api_key, **options))

    return build


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


async def test_all_four_methods(make: Make) -> None:
    embeddings = make(model="text-embedding-3-small")
    documents = embeddings.embed_documents(CORPUS)
    query = embeddings.embed_query("Where is the Eiffel Tower?")
    assert [len(vector) for vector in documents] == [1536] * len(CORPUS)
    assert len(query) == 1536
    async_documents = await embeddings.aembed_documents(CORPUS)
    async_query = await embeddings.aembed_query("Where is the Eiffel Tower?")
    assert len(async_documents) == len(CORPUS)
    # The same text gives nearly the same vector (the API is not bit-for-bit deterministic).
    assert cosine(async_query, query) > 0.99
    assert cosine(async_documents[0], documents[0]) > 0.99


def test_dimensions_shorten_the_vectors(make: Make) -> None:
    assert len(make(model="text-embedding-3-large", dimensions=256).embed_query("hi")) == 256


def test_retrieval_with_a_real_model(make: Make) -> None:
    store = InMemoryVectorStore.from_texts(CORPUS, make())
    (best,) = store.similarity_search("Which is the tallest peak in the world?", k=1)
    assert best.page_content == CORPUS[2]


def test_google_model_with_query_task_type(make: Make) -> None:
    embeddings = make(model="text-multilingual-embedding-002")
    documents = embeddings.embed_documents(CORPUS)
    query = embeddings.embed_query("How do plants make sugar?")
    assert len(query) == len(documents[0]) == 768
    scores = [cosine(query, document) for document in documents]
    assert max(range(len(scores)), key=scores.__getitem__) == 1


def test_wrong_key_is_refused_without_echoing_it(make: Make) -> None:
    wrong = "sk-not-a-real-key-0000000000000000"
    with pytest.raises(AuthenticationError) as caught:
        AimlapiEmbeddings(api_key=wrong).embed_query("hello")
    assert wrong not in str(caught.value)
