"""Build a LlamaIndex VectorStoreIndex with AI/ML API embeddings and retrieve from it.

    python examples/llama_index_rag.py

With AIMLAPI_API_KEY set this calls the real AI/ML API. Without it, it starts the bundled
loopback emulator and says so: its vectors are deterministic stand-ins, not a real model's.
No LLM is involved: the retriever returns the stored chunks closest to each question.
Needs the extra: pip install "aimlapi-embeddings[llama-index]".
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from llama_index.core import (
    Document,
    Settings,
    StorageContext,
    VectorStoreIndex,
    load_index_from_storage,
)

from llama_index_aimlapi import AimlapiEmbedding

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
def api_settings() -> Iterator[tuple[str, str | None]]:
    """(key, base URL): the real API when a key is set, else the loopback emulator, announced."""
    key = os.environ.get("AIMLAPI_API_KEY")
    if key:
        print(f"Using the real AI/ML API with model {MODEL} (AIMLAPI_API_KEY is set).")
        yield key, None
        return
    from aimlapi_embeddings.testing import Emulator

    with Emulator(latency=0.02) as api:
        print(
            "AIMLAPI_API_KEY is not set: using the bundled loopback emulator at "
            f"{api.base_url}.\nIts vectors are deterministic bags of words, NOT the real "
            "model's; set AIMLAPI_API_KEY to use the real API."
        )
        yield api.api_key, api.base_url


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
