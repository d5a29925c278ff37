"""Retrieval end to end: LangChain's in-memory store and Qdrant's embedded local mode.

The emulator's vectors are hashed bags of words, so a query sharing words with one document
retrieves that document: a wrong order, a dropped row or a query/document mix-up shows up here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_qdrant import QdrantVectorStore

from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings

MakeEmbeddings = Callable[..., AimlapiEmbeddings]

CORPUS = {
    "eiffel": "The Eiffel Tower is a wrought iron lattice tower in Paris, France.",
    "photosynthesis": "Photosynthesis lets plant leaves turn sunlight, water and carbon dioxide "
    "into sugar.",
    "reef": "The Great Barrier Reef is the largest coral reef system, off the coast of Australia.",
    "python": "Python is a programming language that favours readable code.",
    "everest": "Mount Everest, in the Himalayas, is the highest mountain above sea level.",
    "empty": "",
}
QUESTIONS = {
    "Which tower stands in Paris?": "eiffel",
    "How do plant leaves make sugar from sunlight?": "photosynthesis",
    "Where is the largest coral reef?": "reef",
    "Which programming language favours readable code?": "python",
    "What is the highest mountain?": "everest",
}
MODELS = ["text-embedding-3-small", "text-multilingual-embedding-002", "voyage-large-2"]


def documents() -> list[Document]:
    return [Document(page_content=text, metadata={"key": key}) for key, text in CORPUS.items()]


@pytest.mark.parametrize("model", MODELS)
def test_in_memory_store_retrieves_the_right_document(
    make_embeddings: MakeEmbeddings, emulator: Emulator, model: str
) -> None:
    store = InMemoryVectorStore(make_embeddings(model=model, batch_size=2))
    ids = store.add_documents(documents())
    assert len(ids) == len(CORPUS)
    for question, key in QUESTIONS.items():
        (best,) = store.similarity_search(question, k=1)
        assert best.metadata["key"] == key, question
    # One request per two documents, then one per question: nothing embedded twice.
    assert len(emulator.requests) == 3 + len(QUESTIONS)


async def test_in_memory_store_async(make_embeddings: MakeEmbeddings) -> None:
    store = InMemoryVectorStore(make_embeddings(model="text-multilingual-embedding-002"))
    await store.aadd_documents(documents())
    for question, key in QUESTIONS.items():
        (best,) = await store.asimilarity_search(question, k=1)
        assert best.metadata["key"] == key, question


def test_retriever_interface(make_embeddings: MakeEmbeddings) -> None:
    store = InMemoryVectorStore.from_texts(list(CORPUS.values()), make_embeddings())
    retriever = store.as_retriever(search_kwargs={"k": 2})
    found = retriever.invoke("Which tower stands in Paris?")
    assert found[0].page_content == CORPUS["eiffel"]


def test_qdrant_local_mode_retrieves_the_right_document(
    make_embeddings: MakeEmbeddings, emulator: Emulator
) -> None:
    """Qdrant's embedded mode: pure pip, in-process, no server, nothing downloaded."""
    embeddings = make_embeddings(model="text-embedding-3-small", dimensions=256)
    store = QdrantVectorStore.from_documents(
        documents(), embeddings, location=":memory:", collection_name="facts"
    )
    try:
        assert store.client.get_collection("facts").points_count == len(CORPUS)
        for question, key in QUESTIONS.items():
            (best,) = store.similarity_search(question, k=1)
            assert best.metadata["key"] == key, question
        kangaroos = "Kangaroos are marsupials that live in Australia."
        store.add_texts([kangaroos])
        (best,) = store.similarity_search("Which marsupials live in Australia?", k=1)
        assert best.page_content == kangaroos
    finally:
        store.client.close()
    assert all(record.parameters.get("dimensions") == 256 for record in emulator.requests)


async def test_qdrant_local_mode_async(make_embeddings: MakeEmbeddings, tmp_path: Path) -> None:
    """On disk this time (a local path), through the async methods."""
    embeddings = make_embeddings(model="text-multilingual-embedding-002")
    store = QdrantVectorStore.from_documents(
        documents()[:1], embeddings, path=str(tmp_path / "qdrant"), collection_name="facts"
    )
    try:
        await store.aadd_documents(documents()[1:])
        for question, key in QUESTIONS.items():
            (best,) = await store.asimilarity_search(question, k=1)
            assert best.metadata["key"] == key, question
    finally:
        store.client.close()
