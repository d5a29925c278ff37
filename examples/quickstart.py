"""Embed a small corpus and retrieve from it with the core client alone: `make demo`.

With AIMLAPI_API_KEY set this calls the real AI/ML API. Without it, it starts the bundled
loopback emulator and says so: its vectors are deterministic stand-ins, not a real model's.
"""

from __future__ import annotations

import math
import time

from _shared import DOCUMENTS, MODEL, QUESTIONS, api_settings

from aimlapi_embeddings import EmbeddingsClient, Usage


def cosine(left: list[float], right: list[float]) -> float:
    dot = sum(a * b for a, b in zip(left, right, strict=True))
    return dot / (math.hypot(*left) * math.hypot(*right))


def describe(usage: Usage) -> str:
    """What the API reported, in words: "225 tokens, 0.0012 credits"."""
    parts = []
    if usage.total_tokens is not None:
        parts.append(f"{usage.total_tokens:,} tokens")
    if usage.credits is not None:
        parts.append(f"{usage.credits:g} credits")
    return ", ".join(parts) or "not reported by the API"


def main() -> None:
    names, texts = list(DOCUMENTS), list(DOCUMENTS.values())
    with api_settings() as (api_key, base_url):
        with EmbeddingsClient(api_key=api_key, base_url=base_url) as client:
            started = time.perf_counter()
            documents = client.embed(texts, model=MODEL)
            queries = client.embed(QUESTIONS, model=MODEL, input_type="query")
            elapsed = time.perf_counter() - started
        width = len(documents.vectors[0])
        print(f"Embedded {len(texts)} documents and {len(QUESTIONS)} questions ({width} dims)")
        print(f"in {elapsed:.2f}s; usage: {describe(documents.usage + queries.usage)}\n")
        for question, vector in zip(QUESTIONS, queries.vectors, strict=True):
            scores = [cosine(vector, document) for document in documents.vectors]
            best = max(range(len(texts)), key=scores.__getitem__)
            print(f"Q: {question}\nA: [{names[best]}] {texts[best]}  (cosine {scores[best]:.3f})\n")
    print("More: examples/langchain_rag.py and examples/llama_index_rag.py")


if __name__ == "__main__":
    main()
