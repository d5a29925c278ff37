"""AimlapiEmbedding in real LlamaIndex pipelines, over real loopback HTTP to the emulator.

The emulator's vectors are hashed bags of words (texts sharing words are close), so retrieval on
a small corpus has one right answer per question. No LLM is used anywhere: retrievers only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import (
    Document,
    Settings,
    StorageContext,
    VectorStoreIndex,
    load_index_from_storage,
)
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient

from aimlapi_embeddings import AuthenticationError, InternalServerError
from aimlapi_embeddings.testing import Emulator, embedding_for
from llama_index_aimlapi import AimlapiEmbedding

CORPUS = {
    "qdrant": "Qdrant is a vector database that stores embeddings and searches them by similarity.",
    "eiffel": "The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
    "photosynthesis": "Photosynthesis lets green plants turn sunlight, water and carbon dioxide "
    "into sugar and oxygen.",
    "asyncio": "Python's asyncio module runs coroutines concurrently on an event loop.",
    "sourdough": "Sourdough bread rises thanks to wild yeast and lactic acid bacteria in the "
    "starter.",
}
QUESTIONS = {
    "Which tower was built in Paris?": "eiffel",
    "How do plants use sunlight and water?": "photosynthesis",
    "What makes sourdough bread rise?": "sourdough",
    "Which database searches embeddings by similarity?": "qdrant",
    "How does Python run coroutines on an event loop?": "asyncio",
}
GOOGLE = "text-multilingual-embedding-002"


def documents() -> list[Document]:
    return [Document(text=text, id_=name) for name, text in CORPUS.items()]


@pytest.fixture
def api() -> Iterator[Emulator]:
    with Emulator(seed=0) as emulator:
        yield emulator


class Embeddings:
    """Makes AimlapiEmbeddings for the emulator and closes their pools after the test.

    Closing explicitly, before the emulator stops, leaves nothing to garbage-collection timing:
    an open keep-alive socket found later would fail another test with a ResourceWarning.
    """

    def __init__(self, api: Emulator) -> None:
        self.api = api
        self.made: list[AimlapiEmbedding] = []

    def __call__(self, **options: Any) -> AimlapiEmbedding:
        options.setdefault("api_key", self.api.api_key)
        return self.track(AimlapiEmbedding(base_url=self.api.base_url, **options))

    def track(self, embedding: AimlapiEmbedding) -> AimlapiEmbedding:
        self.made.append(embedding)
        return embedding

    def close(self) -> None:
        for embedding in self.made:
            embedding.close()


@pytest.fixture
def make(api: Emulator) -> Iterator[Embeddings]:
    embeddings = Embeddings(api)
    yield embeddings
    embeddings.close()


def retrieved(index: VectorStoreIndex, question: str) -> str | None:
    (hit,) = index.as_retriever(similarity_top_k=1).retrieve(question)
    return hit.node.ref_doc_id


# -- the adapter's answers are the API's answers --------------------------------------------------


async def test_vectors_are_the_apis_vectors_sync_async_batch_single(
    api: Emulator, make: Embeddings
) -> None:
    embedding = make(dimensions=256)
    texts = list(CORPUS.values())
    expected = [embedding_for(text, "text-embedding-3-small", dimensions=256) for text in texts]
    assert embedding.get_text_embedding_batch(texts) == expected
    assert await embedding.aget_text_embedding_batch(texts) == expected
    assert [embedding.get_text_embedding(text) for text in texts] == expected
    assert [await embedding.aget_text_embedding(text) for text in texts] == expected
    assert embedding.get_query_embedding(texts[0]) == expected[0]
    assert await embedding.aget_query_embedding(texts[0]) == expected[0]


def test_the_sync_path_keeps_every_concurrent_request_busy(api: Emulator, make: Embeddings) -> None:
    # Qwen takes 10 inputs per request. LlamaIndex sends one chunk of embed_batch_size texts at
    # a time; the default chunk (80) lets the core run max_concurrency requests side by side.
    api.configure(latency=0.05)
    embedding = make(model="alibaba/qwen-text-embedding-v3", max_concurrency=4)
    texts = [f"text number {number}" for number in range(80)]
    vectors = embedding.get_text_embedding_batch(texts)
    assert vectors == [embedding_for(text, "alibaba/qwen-text-embedding-v3") for text in texts]
    assert [len(record.inputs) for record in api.requests] == [10] * 8
    assert api.peak_concurrency == 4


def test_failed_requests_are_retried_once_by_the_core(api: Emulator, make: Embeddings) -> None:
    embedding = make(max_retries=2)
    api.fail_next(503, count=2, retry_after=0.01)
    assert embedding.get_text_embedding("retried") == embedding_for(
        "retried", "text-embedding-3-small"
    )
    assert [record.status for record in api.requests] == [503, 503, 200]
    api.clear()
    api.fail_next(503, count=3, retry_after=0.01)
    with pytest.raises(InternalServerError, match="503"):
        embedding.get_text_embedding("given up")
    # max_retries=2 means three attempts in all: no second retry layer multiplies them.
    assert [record.status for record in api.requests] == [503, 503, 503]


async def test_close_releases_pools_and_the_embedding_keeps_working(make: Embeddings) -> None:
    embedding = make()
    first = embedding.get_text_embedding("text")
    embedding.close()
    assert embedding.get_text_embedding("text") == first
    assert await embedding.aget_text_embedding("text") == first
    await embedding.aclose()
    assert await embedding.aget_text_embedding("text") == first


def test_a_wrong_key_fails_without_showing_it(api: Emulator, make: Embeddings) -> None:
    wrong = "sk-wrong-key-7d2e1a"
    embedding = make(api_key=wrong)
    with pytest.raises(AuthenticationError) as caught:
        embedding.get_query_embedding("anything")
    assert caught.value.status_code == 401
    assert wrong not in str(caught.value)


# -- indexes --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("restore_settings")
def test_settings_embed_model_builds_an_index_whose_retriever_finds_the_right_node(
    api: Emulator,
    make: Embeddings,
) -> None:
    Settings.embed_model = make()
    index = VectorStoreIndex.from_documents(documents())
    for question, name in QUESTIONS.items():
        assert retrieved(index, question) == name
    document_texts = {text for record in api.requests for text in record.inputs}
    assert set(CORPUS.values()) <= document_texts
    # All five documents went out in one request, not one request per document.
    assert [len(record.inputs) for record in api.requests[:1]] == [len(CORPUS)]


@pytest.mark.usefixtures("restore_settings")
async def test_async_index_and_retriever(api: Emulator, make: Embeddings) -> None:
    Settings.embed_model = make(embed_batch_size=2, num_workers=2)
    index = VectorStoreIndex(nodes=[], use_async=True)
    await index.ainsert_nodes(SentenceSplitter().get_nodes_from_documents(documents()))
    retriever = index.as_retriever(similarity_top_k=1)
    for question, name in QUESTIONS.items():
        (hit,) = await retriever.aretrieve(question)
        assert hit.node.ref_doc_id == name
    # Documents in batches of embed_batch_size, then one request per question.
    sizes = [len(record.inputs) for record in api.requests]
    assert sizes == [2, 2, 1] + [1] * len(QUESTIONS)


@pytest.mark.usefixtures("restore_settings")
def test_persist_reload_and_query_again(api: Emulator, make: Embeddings, tmp_path: Path) -> None:
    embedding = make()
    Settings.embed_model = embedding
    VectorStoreIndex.from_documents(documents()).storage_context.persist(persist_dir=tmp_path)
    for path in tmp_path.iterdir():
        assert api.api_key not in path.read_text(encoding="utf-8")

    # A fresh process would rebuild the model from its configuration and the environment.
    Settings.embed_model = make.track(
        AimlapiEmbedding.from_json(embedding.to_json(), api_key=api.api_key)
    )
    api.clear()
    index = load_index_from_storage(StorageContext.from_defaults(persist_dir=str(tmp_path)))
    assert isinstance(index, VectorStoreIndex)
    for question, name in QUESTIONS.items():
        assert retrieved(index, question) == name
    # Reloading embeds nothing again: only the questions went out.
    assert [record.inputs for record in api.requests] == [[question] for question in QUESTIONS]


@pytest.mark.usefixtures("restore_settings")
def test_query_hooks_send_retrieval_query_for_google_models(
    api: Emulator, make: Embeddings
) -> None:
    Settings.embed_model = make(model=GOOGLE)
    index = VectorStoreIndex.from_documents(documents())
    for question, name in QUESTIONS.items():
        assert retrieved(index, question) == name
    task_types = {
        tuple(record.inputs): record.parameters.get("task_type") for record in api.requests
    }
    assert task_types[tuple(CORPUS.values())] == "RETRIEVAL_DOCUMENT"
    for question in QUESTIONS:
        assert task_types[(question,)] == "RETRIEVAL_QUERY"
    assert all(record.status == 200 for record in api.requests)


# -- ingestion ------------------------------------------------------------------------------------

LONG_DOCUMENT = " ".join(
    f"Paragraph {number} explains topic number {number} of the handbook in a few plain words."
    for number in range(40)
)


async def test_ingestion_pipeline_with_a_sentence_splitter_embeds_every_node(
    api: Emulator,
    make: Embeddings,
) -> None:
    embedding = make(dimensions=128)
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), embedding]
    )
    nodes = pipeline.run(documents=[Document(text=LONG_DOCUMENT, id_="handbook")])
    assert len(nodes) > 5
    contents = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
    for node, content in zip(nodes, contents, strict=True):
        assert node.ref_doc_id == "handbook"
        assert node.embedding == embedding_for(content, "text-embedding-3-small", dimensions=128)
    assert sorted(text for record in api.requests for text in record.inputs) == sorted(contents)

    again = await IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), embedding]
    ).arun(documents=[Document(text=LONG_DOCUMENT, id_="handbook")])
    assert [node.embedding for node in again] == [node.embedding for node in nodes]


# -- a real vector database: Qdrant in local mode -------------------------------------------------


# llama-index-vector-stores-qdrant creates payload indexes, which local mode warns it ignores.
@pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant:UserWarning")
def test_qdrant_vector_store_stores_and_finds_the_right_node(
    make: Embeddings, tmp_path: Path
) -> None:
    embedding = make(dimensions=256)
    with closing(QdrantClient(path=str(tmp_path))) as client:
        store = QdrantVectorStore(client=client, collection_name="corpus")
        index = VectorStoreIndex.from_documents(
            documents(),
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embedding,
        )
        collection = client.get_collection("corpus")
        assert collection.points_count == len(CORPUS)
        assert collection.config.params.vectors.size == 256  # type: ignore[union-attr]
        for question, name in QUESTIONS.items():
            assert retrieved(index, question) == name

    # The collection outlives its client: reopen it and query through a new index object.
    with closing(QdrantClient(path=str(tmp_path))) as reopened:
        index = VectorStoreIndex.from_vector_store(
            QdrantVectorStore(client=reopened, collection_name="corpus"), embed_model=embedding
        )
        for question, name in QUESTIONS.items():
            assert retrieved(index, question) == name
