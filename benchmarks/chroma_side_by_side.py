"""Ours and Chroma's own OpenAIEmbeddingFunction, pointed at one emulator: requests and time.

    make tools-check   # builds .venv-tools, which has chromadb and openai
    .venv-tools/bin/python benchmarks/chroma_side_by_side.py

Each function fills a fresh in-memory collection with the same documents (the emulator answers
in 50 ms plus 0.05 ms an input), then answers the same queries. Writes
benchmarks/results/chroma.md.
"""

from __future__ import annotations

import os
import platform
import time
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import chromadb
from chromadb.utils.embedding_functions import OpenAIEmbeddingFunction

from aimlapi_embeddings.chroma import AimlapiEmbeddingFunction
from aimlapi_embeddings.testing import Emulator

RESULTS = Path(__file__).parent / "results" / "chroma.md"
SHORT = [f"passage {i}: the bridge over river {i % 37} in town {i}" for i in range(5000)]
# Voyage's list items hold at most 800 characters: these are 1,000 to 1,600.
LONG = [f"chapter {i}: " + "the river runs past the old mill. " * (30 + i % 20) for i in range(300)]
QUERIES = [f"the bridge in town {i}" for i in range(0, 5000, 250)]


def run(make: Any, model: str, documents: list[str], api: Emulator) -> str:
    before = len(api.requests)
    started = time.perf_counter()
    try:
        function = make(model)
        collection = chromadb.EphemeralClient().create_collection(
            f"c{time.monotonic_ns()}", embedding_function=function
        )
        # Adds of 2,000: OpenAIEmbeddingFunction sends each add as one request, and the API
        # takes at most 2,048 inputs in one.
        for start in range(0, len(documents), 2000):
            chunk = documents[start : start + 2000]
            collection.add(ids=[str(start + i) for i in range(len(chunk))], documents=chunk)
        collection.query(query_texts=QUERIES, n_results=1)
        outcome = "ok"
    except Exception as exc:  # the peer's failure is the finding
        outcome = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:90]}"
    seconds = time.perf_counter() - started
    sent = api.requests[before:]
    refused = sum(record.status != 200 for record in sent)
    return f"{len(sent)} | {refused} | {seconds:.2f} s | {outcome}"


def main() -> None:
    rows = []
    with Emulator(latency=0.05, latency_per_input=0.00005) as api:
        os.environ["CHROMA_OPENAI_API_KEY"] = api.api_key
        os.environ["AIMLAPI_API_KEY"] = api.api_key
        ours = lambda model: AimlapiEmbeddingFunction(model_name=model, api_base=api.base_url)  # noqa: E731
        theirs = lambda model: OpenAIEmbeddingFunction(model_name=model, api_base=api.base_url)  # noqa: E731
        for label, model, documents in [
            ("5,000 passages", "text-embedding-3-small", SHORT),
            ("300 chapters of 1,000-1,600 characters", "voyage-large-2", LONG),
        ]:
            functions = [("AimlapiEmbeddingFunction", ours), ("OpenAIEmbeddingFunction", theirs)]
            for name, make in functions:
                rows.append(f"| {label}, {model} | {name} | {run(make, model, documents, api)} |")
    table = "\n".join(
        [
            "| corpus | function | requests | refused | wall | outcome |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    text = (
        "# Chroma: ours and OpenAIEmbeddingFunction on one emulator\n\n"
        "`benchmarks/chroma_side_by_side.py`: each function fills a fresh in-memory collection "
        "(adds of 2,000 documents, the most OpenAIEmbeddingFunction can send, as it sends each "
        f"add as one request) and answers {len(QUERIES)} queries in one call; the emulator "
        "answers in 50 ms plus 0.05 ms an input. Requests counted at the emulator; a refused "
        "one is a 4xx/5xx.\n\n"
        f"{table}\n\nchromadb {version('chromadb')}, openai {version('openai')}, Python "
        f"{platform.python_version()}, {os.cpu_count()} cores (shared, loaded machine).\n"
    )
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        main()
