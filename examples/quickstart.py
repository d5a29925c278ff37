"""Embed a small corpus and retrieve from it: `make demo`.

With AIMLAPI_API_KEY set this calls the real AI/ML API. Without it, it starts the bundled
loopback emulator and says so: its vectors are deterministic stand-ins, not a real model's.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator

from aimlapi_embeddings import EmbeddingsClient

MODEL = os.environ.get("AIMLAPI_MODEL", "text-embedding-3-small")

CORPUS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "Photosynthesis turns sunlight, water and carbon dioxide into glucose and oxygen.",
    "The Python programming language emphasises readable code and batteries included.",
    "Mount Everest, on the border of Nepal and China, is Earth's highest mountain.",
    "Vector databases store embeddings and answer nearest-neighbour queries quickly.",
    "The Great Barrier Reef off Australia is the world's largest coral reef system.",
]
QUERIES = [
    "Which tower stands in Paris?",
    "How do plants make glucose from sunlight?",
    "Where do I store embeddings for nearest-neighbour search?",
]


@contextlib.contextmanager
def api_settings() -> Iterator[dict[str, str]]:
    key = os.environ.get("AIMLAPI_API_KEY")
    if key:
        print(f"Using the real AI/ML API with model {MODEL} (AIMLAPI_API_KEY is set).")
        yield {"api_key": key}
        return
    from aimlapi_embeddings.testing import Emulator

    with Emulator(latency=0.02) as api:
        print(
            "AIMLAPI_API_KEY is not set: using the bundled loopback emulator at "
            f"{api.base_url}.\nIts vectors are deterministic bags of words, NOT the real "
            "model's; set AIMLAPI_API_KEY to use the real API."
        )
        yield {"api_key": api.api_key, "base_url": api.base_url}


def cosine(left: list[float], right: list[float]) -> float:
    dot = sum(a * b for a, b in zip(left, right, strict=True))
    return dot / (math.hypot(*left) * math.hypot(*right))


def main() -> None:
    with api_settings() as settings, EmbeddingsClient(**settings) as client:
        started = time.perf_counter()
        documents = client.embed(CORPUS, model=MODEL)
        queries = client.embed(QUERIES, model=MODEL, input_type="query")
        elapsed = time.perf_counter() - started
        width = len(documents.vectors[0])
        print(f"Embedded {len(CORPUS)} documents and {len(QUERIES)} queries ({width} dimensions)")
        print(f"in {elapsed:.2f}s; usage: {documents.usage + queries.usage}\n")
        for query, vector in zip(QUERIES, queries.vectors, strict=True):
            scores = [cosine(vector, document) for document in documents.vectors]
            best = max(range(len(CORPUS)), key=scores.__getitem__)
            print(f"Q: {query}\nA: {CORPUS[best]}  (cosine {scores[best]:.3f})\n")
    print("More: examples/langchain_rag.py and examples/llama_index_rag.py")


if __name__ == "__main__":
    main()
