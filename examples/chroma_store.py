"""A persisted Chroma collection embedded with AI/ML API, then opened again without the function.

    python examples/chroma_store.py [folder]

Chroma stores the embedding function's name ("aimlapi") and configuration in the collection, so
a collection made with `AimlapiEmbeddingFunction` opens later with `get_collection(name)` alone,
once `aimlapi_embeddings.chroma` is imported (that import registers it). The configuration names
the environment variable holding the key, AIMLAPI_API_KEY, never the key itself.

With AIMLAPI_API_KEY set this calls the real AI/ML API. Without it, it starts the bundled
loopback emulator and says so: its vectors are deterministic stand-ins, not a real model's.
The collection goes into `folder` (default: a new temporary folder). Needs the [chroma] extra;
from the root of a clone: pip install ".[chroma]" (README: Install).
"""

from __future__ import annotations

import os
import sys
import tempfile

from _shared import DOCUMENTS, MODEL, QUESTIONS, api_settings, needs_extra

with needs_extra("chroma", example="examples/chroma_store.py"):
    import chromadb

    # Importing the module registers "aimlapi" with Chroma: before any collection is reopened.
    from aimlapi_embeddings.chroma import AimlapiEmbeddingFunction


def main(folder: str) -> None:
    with api_settings() as (api_key, base_url):
        # The stored configuration reads the key from this variable when the collection is
        # opened again; with the emulator, its key goes there for this run.
        os.environ.setdefault("AIMLAPI_API_KEY", api_key)
        function = AimlapiEmbeddingFunction(model_name=MODEL, api_base=base_url)
        client = chromadb.PersistentClient(path=folder)
        collection = client.get_or_create_collection("passages", embedding_function=function)
        collection.upsert(ids=list(DOCUMENTS), documents=list(DOCUMENTS.values()))
        print(f"Stored {collection.count()} passages in {folder} with {MODEL}.")
        print(f"Chroma keeps: {collection.configuration['embedding_function'].get_config()}\n")
        function.close()

        # Later, or in another process: no embedding function passed.
        reopened = chromadb.PersistentClient(path=folder).get_collection("passages")
        for question in QUESTIONS:
            hits = reopened.query(query_texts=[question], n_results=1)
            print(f"Q: {question}\nA: [{hits['ids'][0][0]}] {hits['documents'][0][0]}\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="chroma-demo-"))
