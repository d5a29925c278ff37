"""Build a LlamaIndex VectorStoreIndex with AI/ML API embeddings and retrieve from it.

    python examples/llama_index_rag.py

With AIMLAPI_API_KEY set this calls the real AI/ML API. Without it, it starts the bundled
loopback emulator and says so: its vectors are deterministic stand-ins, not a real model's.
No LLM is involved: the retriever returns the stored chunks closest to each question.
Needs the [llama-index] extra; from the root of a clone: pip install ".[llama-index]" (README:
Install).
"""

from __future__ import annotations

import contextlib
import tempfile

from _shared import DOCUMENTS, MODEL, QUESTIONS, api_settings, needs_extra

with needs_extra("llama-index", example="examples/llama_index_rag.py"):
    from llama_index.core import (
        Document,
        Settings,
        StorageContext,
        VectorStoreIndex,
        load_index_from_storage,
    )

    from llama_index_aimlapi import AimlapiEmbedding


def main() -> None:
    with (
        api_settings() as (api_key, base_url),
        # closing(): release the pooled connections before the emulator (if any) stops.
        contextlib.closing(
            AimlapiEmbedding(model=MODEL, api_key=api_key, base_url=base_url)
        ) as embed_model,
    ):
        # Every index, retriever and ingestion pipeline now embeds through AI/ML API.
        Settings.embed_model = embed_model
        documents = [Document(text=text, id_=name) for name, text in DOCUMENTS.items()]
        index = VectorStoreIndex.from_documents(documents, show_progress=True)
        print(f"\nIndexed {len(documents)} documents with {embed_model.model_name}.\n")

        with tempfile.TemporaryDirectory() as persist_dir:
            # Persist and reload: the stored vectors are reused, only questions are embedded.
            index.storage_context.persist(persist_dir=persist_dir)
            reloaded = load_index_from_storage(
                StorageContext.from_defaults(persist_dir=persist_dir)
            )
            retriever = reloaded.as_retriever(similarity_top_k=1)
            for question in QUESTIONS:
                (hit,) = retriever.retrieve(question)
                print(f"Q: {question}\nA: [{hit.node.ref_doc_id}] {hit.node.get_content()}")
                print(f"   (score {hit.get_score():.3f})\n")


if __name__ == "__main__":
    main()
