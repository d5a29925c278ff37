"""Haystack: an indexing pipeline and a query pipeline over AI/ML API embeddings.

    python examples/haystack_rag.py

The indexing pipeline embeds passages with `AimlapiDocumentEmbedder` and writes them into an
`InMemoryDocumentStore`; the query pipeline embeds each question with `AimlapiTextEmbedder` (as a
query, for models that tell queries from documents) and retrieves the closest passage with
`InMemoryEmbeddingRetriever`. The query pipeline is then saved as YAML and loaded again: the
YAML names the environment variable holding the key, AIMLAPI_API_KEY, never the key.

With AIMLAPI_API_KEY set this calls the real AI/ML API. Without it, it starts the bundled
loopback emulator and says so: its vectors are deterministic stand-ins, not a real model's.
Needs the [haystack] extra; from the root of a clone: pip install ".[haystack]" (README: Install).
"""

from __future__ import annotations

import os

from _shared import DOCUMENTS, MODEL, QUESTIONS, api_settings, needs_extra

with needs_extra("haystack", example="examples/haystack_rag.py"):
    from haystack import Document, Pipeline
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
    from haystack.components.writers import DocumentWriter
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack_integrations.components.embedders.aimlapi import (
        AimlapiDocumentEmbedder,
        AimlapiTextEmbedder,
    )


def main() -> None:
    with api_settings() as (api_key, base_url):
        # The components read the key from this variable (Secret.from_env_var), so a saved
        # pipeline holds its name only; with the emulator, its key goes there for this run.
        os.environ.setdefault("AIMLAPI_API_KEY", api_key)
        store = InMemoryDocumentStore()

        indexing = Pipeline()
        indexing.add_component(
            "embedder",
            AimlapiDocumentEmbedder(model=MODEL, api_base_url=base_url, progress_bar=False),
        )
        indexing.add_component("writer", DocumentWriter(document_store=store))
        indexing.connect("embedder.documents", "writer.documents")
        passages = [Document(content=text, meta={"name": name}) for name, text in DOCUMENTS.items()]
        result = indexing.run({"embedder": {"documents": passages}})
        print(f"Indexed {result['writer']['documents_written']} passages with {MODEL}.\n")

        query = Pipeline()
        query.add_component("embedder", AimlapiTextEmbedder(model=MODEL, api_base_url=base_url))
        query.add_component("retriever", InMemoryEmbeddingRetriever(document_store=store, top_k=1))
        query.connect("embedder.embedding", "retriever.query_embedding")
        for question in QUESTIONS:
            (best,) = query.run({"embedder": {"text": question}})["retriever"]["documents"]
            print(f"Q: {question}\nA: [{best.meta['name']}] {best.content}  ({best.score:.3f})\n")

        saved = query.dumps()
        print(
            f"Saved as YAML: names AIMLAPI_API_KEY: {'AIMLAPI_API_KEY' in saved}; "
            f"holds the key: {api_key in saved}."
        )
        reloaded = Pipeline.loads(saved)
        (best,) = reloaded.run({"embedder": {"text": QUESTIONS[0]}})["retriever"]["documents"]
        print(f"Loaded again, it answers [{best.meta['name']}].")


if __name__ == "__main__":
    main()
