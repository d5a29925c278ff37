"""Build a LangChain vector store with AI/ML API embeddings and retrieve from it.

    python examples/langchain_rag.py

With AIMLAPI_API_KEY set this calls the real AI/ML API. Without it, it starts the bundled
loopback emulator and says so: its vectors are deterministic stand-ins, not a real model's.
No LLM is involved: the retriever returns the stored documents closest to each question.
Needs the extra: pip install "aimlapi-embeddings[langchain]".
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_aimlapi import AimlapiEmbeddings

MODEL = os.environ.get("AIMLAPI_MODEL", "text-embedding-3-small")

DOCUMENTS = {
    "eiffel": "The Eiffel Tower is a wrought-iron lattice tower in Paris, France, completed "
    "in 1889 for the World's Fair.",
    "photosynthesis": "Photosynthesis turns sunlight, water and carbon dioxide into glucose and "
    "oxygen inside the leaves of green plants.",
    "everest": "Mount Everest, on the border of Nepal and China, is Earth's highest mountain "
    "above sea level.",
    "vector-db": "Vector databases store embeddings and answer nearest-neighbour queries "
    "quickly, which is what retrieval-augmented generation needs.",
    "reef": "The Great Barrier Reef off Australia is the world's largest coral reef system.",
}
QUESTIONS = [
    "Which tower stands in Paris?",
    "How do plants make glucose from sunlight?",
    "Where do I store embeddings for nearest-neighbour search?",
]


@contextlib.contextmanager
def embeddings() -> Iterator[AimlapiEmbeddings]:
    """The real API when a key is set, else the loopback emulator, announced."""
    if os.environ.get("AIMLAPI_API_KEY"):
        print(f"Using the real AI/ML API with model {MODEL} (AIMLAPI_API_KEY is set).\n")
        yield AimlapiEmbeddings(model=MODEL)  # the key comes from the environment
        return
    from aimlapi_embeddings.testing import Emulator

    with Emulator(latency=0.02) as api:
        print(
            "AIMLAPI_API_KEY is not set: using the bundled loopback emulator at "
            f"{api.base_url}.\nIts vectors are deterministic bags of words, NOT the real "
            "model's; set AIMLAPI_API_KEY to use the real API.\n"
        )
        embedder = AimlapiEmbeddings(model=MODEL, api_key=api.api_key, base_url=api.base_url)
        try:
            yield embedder
        finally:
            embedder.close()  # hang up before the emulator stops


def main() -> None:
    with embeddings() as embedder:
        store = InMemoryVectorStore(embedder)
        store.add_documents(
            [Document(page_content=text, metadata={"id": key}) for key, text in DOCUMENTS.items()]
        )
        print(f"Indexed {len(DOCUMENTS)} documents with {embedder.model}.\n")
        retriever = store.as_retriever(search_kwargs={"k": 1})
        for question in QUESTIONS:
            (best,) = retriever.invoke(question)
            print(f"Q: {question}\nA: [{best.metadata['id']}] {best.page_content}\n")


if __name__ == "__main__":
    main()
