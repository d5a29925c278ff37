"""What users do with an embeddings object in the tools of a RAG pipeline, step by step.

Each scenario takes `make`, which builds the embeddings object (ours, or a peer's pointed at the
same emulator; called again where a new process would build a new one), the emulator, and a
scratch folder. It returns a `Run`: what the emulator received at each step, and every question
whose first passage retrieved was not the right one. tests/tools/ asserts them for our adapters;
benchmarks/tools_table.py runs them for ours and for the OpenAI classes and writes
benchmarks/results/tools.md.

The emulator's vectors are bags of words: a question shares words with its passage only, so
there is one right answer, and a wrong order, a lost row or a query/document mix-up shows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Both announce at import that they are no longer maintained; SemanticChunker and LangChain's
# FAISS store have no other home. Every other warning is left as it is (an error in the tests).
with warnings.catch_warnings():
    for package in ("langchain-community", "langchain-experimental"):
        warnings.filterwarnings("ignore", f"`{package}` is being sunset", DeprecationWarning)
    import langchain_community  # noqa: F401
    import langchain_experimental  # noqa: F401

import chromadb
from langchain_chroma import Chroma
from langchain_classic.embeddings import CacheBackedEmbeddings
from langchain_classic.storage import LocalFileStore
from langchain_community.vectorstores import FAISS
from langchain_core.documents import Document as LangChainDocument
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore
from langchain_experimental.text_splitter import SemanticChunker
from langchain_qdrant import QdrantVectorStore as LangChainQdrant
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.ingestion import IngestionCache, IngestionPipeline
from llama_index.core.node_parser import SemanticSplitterNodeParser, SentenceSplitter
from llama_index.core.schema import BaseNode
from llama_index.core.storage.docstore import SimpleDocumentStore
from llama_index.vector_stores.chroma import ChromaVectorStore
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient

from aimlapi_embeddings.testing import Emulator

MODEL = "text-embedding-3-small"
# What Qdrant's local mode says when LlamaIndex's store asks it for payload indexes.
QDRANT_LOCAL_NOTICE = "Payload indexes have no effect in the local Qdrant"

PASSAGES = {
    "eiffel": "The Eiffel Tower is a wrought iron lattice tower in Paris, France.",
    "photosynthesis": "Photosynthesis lets plant leaves turn sunlight, water and carbon dioxide "
    "into sugar.",
    "reef": "The Great Barrier Reef is the largest coral reef system, off the coast of Australia.",
    "python": "Python is a programming language that favours readable code.",
    "everest": "Mount Everest, in the Himalayas, is the highest mountain above sea level.",
    "sourdough": "Sourdough bread rises thanks to wild yeast and lactic acid bacteria.",
}
QUESTIONS = {
    "Which tower stands in Paris?": "eiffel",
    "Where is the largest coral reef?": "reef",
    "What makes sourdough bread rise?": "sourdough",
}
# One text on two topics, three sentences each, for the splitters that cut where the topic
# changes: each chunk should be one topic's sentences.
TOPICS = {
    "eiffel": (
        "The Eiffel Tower stands in Paris. The tower in Paris is made of iron. "
        "Paris built the tower for a fair."
    ),
    "photosynthesis": (
        "Plants turn sunlight into sugar. Green plants use sunlight and water. "
        "Plants release oxygen from sunlight."
    ),
}
TWO_TOPICS = " ".join(TOPICS.values())
TOPIC_QUESTIONS = {
    "Which tower stands in Paris?": "eiffel",
    "How do plants use sunlight?": "photosynthesis",
}
# A corpus large enough for batch sizes to show: each passage has a word of its own.
CORPUS = {f"p{i}": f"Passage {i} is about the word zq{i}x and nothing else." for i in range(2000)}
CORPUS_QUESTIONS = {f"Which passage is about zq{i}x?": f"p{i}" for i in (7, 1234, 1999)}

MakeLangChain = Callable[[], Embeddings]
MakeLlamaIndex = Callable[[], BaseEmbedding]


@dataclass(frozen=True)
class Sent:
    requests: int
    inputs: int


@dataclass
class Run:
    """One scenario's steps, in order: what each sent to the emulator; and wrong answers."""

    api: Emulator
    steps: dict[str, Sent] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)
    """What a splitter made, in order."""

    def __post_init__(self) -> None:
        self._seen = len(self.api.requests)

    def step(self, name: str) -> None:
        """The step `name` ends here: it sent what the emulator received since the last one."""
        records = self.api.requests[self._seen :]
        self._seen += len(records)
        self.steps[name] = Sent(len(records), sum(len(record.inputs) for record in records))

    def ask(self, name: str, first: Callable[[str], str], questions: dict[str, str]) -> None:
        """Each question, answered by the key of the passage `first` retrieves for it."""
        for question, right in questions.items():
            found = first(question)
            if found != right:
                self.wrong.append(f"{name}: {question!r} found {found!r}, not {right!r}")
        self.step(name)


def topic_of(text: str) -> str:
    """The topic of a chunk of TWO_TOPICS: the one whose first sentence it starts with."""
    (topic,) = [key for key, sentences in TOPICS.items() if text.startswith(sentences[:20])]
    return topic


# -- LangChain ------------------------------------------------------------------------------------


def langchain_documents() -> list[LangChainDocument]:
    return [
        LangChainDocument(page_content=text, metadata={"key": k}) for k, text in PASSAGES.items()
    ]


def first_key(
    store: VectorStore,
    key: Callable[[LangChainDocument], str] = lambda document: str(document.metadata["key"]),
) -> Callable[[str], str]:
    """A question -> the key of the document the store retrieves first for it."""

    def first(question: str) -> str:
        (document,) = store.similarity_search(question, k=1)
        return key(document)

    return first


def langchain_cache(make: MakeLangChain, api: Emulator, folder: Path) -> Run:
    """CacheBackedEmbeddings over a LocalFileStore under a vector store, documents and queries
    cached; then all of it again as a new process would, new objects over the same folder."""
    run = Run(api)
    for attempt in ("first run", "rerun"):
        cached = CacheBackedEmbeddings.from_bytes_store(
            make(),
            LocalFileStore(folder),
            namespace=MODEL,
            key_encoder="sha256",
            query_embedding_cache=True,
        )
        store = InMemoryVectorStore(cached)
        store.add_documents(langchain_documents())
        run.step(f"{attempt}: index 6 passages")
        run.ask(f"{attempt}: ask 3 questions", first_key(store), QUESTIONS)
    return run


def langchain_faiss(make: MakeLangChain, api: Emulator, folder: Path) -> Run:
    """FAISS built from documents, saved, and loaded again (its reopening) with a new
    embeddings object."""
    run = Run(api)
    store = FAISS.from_documents(langchain_documents(), make())
    run.step("index 6 passages")
    run.ask("ask 3 questions", first_key(store), QUESTIONS)
    store.save_local(str(folder))
    # Our own file, just written: FAISS's docstore is a pickle.
    loaded = FAISS.load_local(str(folder), make(), allow_dangerous_deserialization=True)
    run.step("reopen")
    run.ask("reopened: ask 3 questions", first_key(loaded), QUESTIONS)
    return run


def langchain_chroma(make: MakeLangChain, api: Emulator, folder: Path) -> Run:
    """Chroma persisted to a folder, then opened again from it with a new embeddings object."""
    run = Run(api)
    store = Chroma(
        collection_name="passages", embedding_function=make(), persist_directory=str(folder)
    )
    store.add_documents(langchain_documents())
    run.step("index 6 passages")
    run.ask("ask 3 questions", first_key(store), QUESTIONS)
    reopened = Chroma(
        collection_name="passages", embedding_function=make(), persist_directory=str(folder)
    )
    run.step("reopen")
    run.ask("reopened: ask 3 questions", first_key(reopened), QUESTIONS)
    return run


def langchain_qdrant(make: MakeLangChain, api: Emulator, folder: Path) -> Run:
    """Qdrant's local mode on disk (no server), closed, then opened again from its folder."""
    run = Run(api)
    store = LangChainQdrant.from_documents(
        langchain_documents(), make(), path=str(folder), collection_name="passages"
    )
    try:
        run.step("index 6 passages")
        run.ask("ask 3 questions", first_key(store), QUESTIONS)
    finally:
        store.client.close()
    client = QdrantClient(path=str(folder))
    try:
        reopened = LangChainQdrant(client=client, collection_name="passages", embedding=make())
        run.step("reopen")
        run.ask("reopened: ask 3 questions", first_key(reopened), QUESTIONS)
    finally:
        client.close()
    return run


def langchain_faiss_corpus(make: MakeLangChain, api: Emulator, folder: Path) -> Run:
    """FAISS built from 2,000 texts in one call, as a first ingestion does."""
    run = Run(api)
    store = FAISS.from_texts(
        list(CORPUS.values()), make(), metadatas=[{"key": key} for key in CORPUS]
    )
    run.step("index 2,000 passages")
    run.ask("ask 3 questions", first_key(store), CORPUS_QUESTIONS)
    return run


def langchain_semantic_chunker(make: MakeLangChain, api: Emulator, folder: Path) -> Run:
    """SemanticChunker cuts a text where the topic changes; its chunks go into a vector store."""
    run = Run(api)
    embeddings = make()
    run.chunks = SemanticChunker(embeddings).split_text(TWO_TOPICS)
    run.step("split 6 sentences")
    store = InMemoryVectorStore.from_texts(run.chunks, embeddings)
    run.step("index the chunks")
    by_topic = first_key(store, key=lambda document: topic_of(document.page_content))
    run.ask("ask 2 questions", by_topic, TOPIC_QUESTIONS)
    return run


# -- LlamaIndex -----------------------------------------------------------------------------------


def llama_index_documents() -> list[Document]:
    return [Document(text=text, id_=key) for key, text in PASSAGES.items()]


def first_document(
    index: VectorStoreIndex, key: Callable[[BaseNode], str] = lambda node: str(node.ref_doc_id)
) -> Callable[[str], str]:
    """A question -> the key of the node the index retrieves first for it."""
    retriever = index.as_retriever(similarity_top_k=1)

    def first(question: str) -> str:
        (hit,) = retriever.retrieve(question)
        return key(hit.node)

    return first


def llama_index_pipeline(make: MakeLlamaIndex, api: Emulator, folder: Path) -> Run:
    """An IngestionPipeline with a docstore, a cache and a vector store, as LlamaIndex's docs
    set one up: run again, persisted and loaded into a new pipeline, by its cache alone, and
    with one document changed."""
    run = Run(api)
    client = QdrantClient(location=":memory:")

    def pipeline(**stores: Any) -> IngestionPipeline:
        return IngestionPipeline(
            transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), make()],
            **stores,
        )

    def vector_store() -> QdrantVectorStore:
        return QdrantVectorStore(client=client, collection_name="passages")

    try:
        first = pipeline(
            docstore=SimpleDocumentStore(), cache=IngestionCache(), vector_store=vector_store()
        )
        first.run(documents=llama_index_documents())
        run.step("ingest 6 documents")
        index = VectorStoreIndex.from_vector_store(vector_store(), embed_model=make())
        run.ask("ask 3 questions", first_document(index), QUESTIONS)
        first.run(documents=llama_index_documents())
        run.step("the same documents again")
        first.persist(str(folder))
        loaded = pipeline(vector_store=vector_store())
        loaded.load(str(folder))
        loaded.run(documents=llama_index_documents())
        run.step("new pipeline, docstore and cache loaded: the same documents")
        cache = IngestionCache.from_persist_path(str(folder / "llama_cache"))
        nodes = pipeline(cache=cache).run(documents=llama_index_documents())
        if not all(node.embedding for node in nodes):
            run.wrong.append("its cache alone: a node came back without its vector")
        run.step("new pipeline, its cache alone: the same documents")
        changed = llama_index_documents()
        changed[1].set_content("Photosynthesis in green leaves makes sugar and oxygen.")
        loaded.run(documents=changed)
        run.step("one document changed")
    finally:
        client.close()
    return run


def llama_index_corpus(make: MakeLlamaIndex, api: Emulator, folder: Path) -> Run:
    """An IngestionPipeline over 2,000 documents, then an index of its nodes."""
    run = Run(api)
    embed_model = make()
    documents = [Document(text=text, id_=key) for key, text in CORPUS.items()]
    nodes = IngestionPipeline(transformations=[SentenceSplitter(), embed_model]).run(
        documents=documents
    )
    run.step("ingest 2,000 documents")
    index = VectorStoreIndex(nodes, embed_model=embed_model)
    run.step("index the nodes")
    run.ask("ask 3 questions", first_document(index), CORPUS_QUESTIONS)
    return run


def llama_index_chroma(make: MakeLlamaIndex, api: Emulator, folder: Path) -> Run:
    """A VectorStoreIndex over a persistent Chroma collection, then over it opened again."""
    run = Run(api)
    collection = chromadb.PersistentClient(path=str(folder)).get_or_create_collection("passages")
    index = VectorStoreIndex.from_documents(
        llama_index_documents(),
        storage_context=StorageContext.from_defaults(
            vector_store=ChromaVectorStore(chroma_collection=collection)
        ),
        embed_model=make(),
    )
    run.step("index 6 passages")
    run.ask("ask 3 questions", first_document(index), QUESTIONS)
    reopened = chromadb.PersistentClient(path=str(folder)).get_collection("passages")
    index = VectorStoreIndex.from_vector_store(
        ChromaVectorStore(chroma_collection=reopened), embed_model=make()
    )
    run.step("reopen")
    run.ask("reopened: ask 3 questions", first_document(index), QUESTIONS)
    return run


def llama_index_qdrant(make: MakeLlamaIndex, api: Emulator, folder: Path) -> Run:
    """A VectorStoreIndex over Qdrant's local mode on disk, closed, then opened again."""
    run = Run(api)
    client = QdrantClient(path=str(folder))
    try:
        index = VectorStoreIndex.from_documents(
            llama_index_documents(),
            storage_context=StorageContext.from_defaults(
                vector_store=QdrantVectorStore(client=client, collection_name="passages")
            ),
            embed_model=make(),
        )
        run.step("index 6 passages")
        run.ask("ask 3 questions", first_document(index), QUESTIONS)
    finally:
        client.close()
    client = QdrantClient(path=str(folder))
    try:
        index = VectorStoreIndex.from_vector_store(
            QdrantVectorStore(client=client, collection_name="passages"), embed_model=make()
        )
        run.step("reopen")
        run.ask("reopened: ask 3 questions", first_document(index), QUESTIONS)
    finally:
        client.close()
    return run


def llama_index_semantic_splitter(make: MakeLlamaIndex, api: Emulator, folder: Path) -> Run:
    """SemanticSplitterNodeParser cuts a document where the topic changes; an index of its
    nodes answers questions."""
    run = Run(api)
    embed_model = make()
    parser = SemanticSplitterNodeParser(
        embed_model=embed_model, buffer_size=1, breakpoint_percentile_threshold=95
    )
    nodes = parser.get_nodes_from_documents([Document(text=TWO_TOPICS, id_="two-topics")])
    run.chunks = [node.get_content() for node in nodes]
    run.step("split 6 sentences")
    index = VectorStoreIndex(nodes, embed_model=embed_model)
    run.step("index the chunks")
    by_topic = first_document(index, key=lambda node: topic_of(node.get_content()))
    run.ask("ask 2 questions", by_topic, TOPIC_QUESTIONS)
    return run


LANGCHAIN = {
    "CacheBackedEmbeddings + LocalFileStore": langchain_cache,
    "FAISS (langchain-community)": langchain_faiss,
    "FAISS, 2,000 passages": langchain_faiss_corpus,
    "Chroma, persistent (langchain-chroma)": langchain_chroma,
    "Qdrant, local on disk (langchain-qdrant)": langchain_qdrant,
    "SemanticChunker (langchain-experimental)": langchain_semantic_chunker,
}
LLAMA_INDEX = {
    "IngestionPipeline: docstore, cache, vector store": llama_index_pipeline,
    "IngestionPipeline, 2,000 documents": llama_index_corpus,
    "ChromaVectorStore, persistent": llama_index_chroma,
    "QdrantVectorStore, local on disk": llama_index_qdrant,
    "SemanticSplitterNodeParser": llama_index_semantic_splitter,
}
