"""Build a LangChain vector store with AI/ML API embeddings and retrieve from it.

    python examples/langchain_rag.py

With AIMLAPI_API_KEY set this calls the real AI/ML API. Without it, it starts the bundled
loopback emulator and says so: its vectors are deterministic stand-ins, not a real model's.
No LLM is involved: the retriever returns the stored documents closest to each question.
Needs the [langchain] extra; from the root of a clone: pip install ".[langchain]" (README: Install).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from _shared import DOCUMENTS, MODEL, QUESTIONS, api_settings, needs_extra

with needs_extra("langchain", example="examples/langchain_rag.py"):
    from langchain_core.documents import Document
    from langchain_core.vectorstores import InMemoryVectorStore

    from langchain_aimlapi import AimlapiEmbeddings


@contextlib.contextmanager
def embeddings() -> Iterator[AimlapiEmbeddings]:
    with api_settings() as (api_key, base_url):
        embedder = AimlapiEmbeddings(model=MODEL, api_key=api_key, base_url=base_url)
        try:
            yield embedder
        finally:
            embedder.close()  # hang up before the emulator (if any) stops


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
