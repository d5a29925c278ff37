"""Ours and Haystack's own OpenAIDocumentEmbedder, pointed at one emulator: requests and time.

    make tools-check   # builds .venv-tools, which has haystack-ai and openai
    .venv-tools/bin/python benchmarks/haystack_side_by_side.py

Each embedder, with its defaults (OpenAIDocumentEmbedder: batches of 32, one at a time; ours:
requests sized by the client, 8 in flight), embeds the same documents in one `run` (the
emulator answers in 50 ms plus 0.05 ms an input), then the embedded documents are counted.
Both leave failed documents without embedding by default (raise_on_failure=False), so the
count is part of the outcome. Writes benchmarks/results/haystack.md.
"""

from __future__ import annotations

import logging
import os
import platform
import time
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

from haystack import Document
from haystack.components.embedders import OpenAIDocumentEmbedder
from haystack.utils import Secret
from haystack_integrations.components.embedders.aimlapi import AimlapiDocumentEmbedder

from aimlapi_embeddings.testing import Emulator

RESULTS = Path(__file__).parent / "results" / "haystack.md"
SHORT = [f"passage {i}: the bridge over river {i % 37} in town {i}" for i in range(5000)]
# Voyage's list items hold at most 800 characters: these are 1,000 to 1,600.
LONG = [f"chapter {i}: " + "the river runs past the old mill. " * (30 + i % 20) for i in range(300)]


def run(make: Any, model: str, texts: list[str], api: Emulator) -> str:
    documents = [Document(content=text) for text in texts]
    before = len(api.requests)
    started = time.perf_counter()
    try:
        embedder = make(model)
        embedded = embedder.run(documents)["documents"]
        count = sum(document.embedding is not None for document in embedded)
        outcome = "ok" if count == len(documents) else "documents left without embedding"
    except Exception as exc:  # a failure is the finding
        count = 0
        outcome = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:90]}"
    seconds = time.perf_counter() - started
    sent = api.requests[before:]
    refused = sum(record.status != 200 for record in sent)
    embedded = f"{count:,} of {len(documents):,}"
    return f"{len(sent)} | {refused} | {embedded} | {seconds:.2f} s | {outcome}"


def main() -> None:
    rows = []
    with Emulator(latency=0.05, latency_per_input=0.00005) as api:
        os.environ["AIMLAPI_API_KEY"] = api.api_key
        key = Secret.from_env_var("AIMLAPI_API_KEY")
        ours = lambda model: AimlapiDocumentEmbedder(  # noqa: E731
            model=model, api_base_url=api.base_url, progress_bar=False
        )
        theirs = lambda model: OpenAIDocumentEmbedder(  # noqa: E731
            api_key=key, model=model, api_base_url=api.base_url, progress_bar=False
        )
        for label, model, texts in [
            ("5,000 passages", "text-embedding-3-small", SHORT),
            ("300 chapters of 1,000-1,600 characters", "voyage-large-2", LONG),
        ]:
            embedders = [("AimlapiDocumentEmbedder", ours), ("OpenAIDocumentEmbedder", theirs)]
            for name, make in embedders:
                rows.append(f"| {label}, {model} | {name} | {run(make, model, texts, api)} |")
    table = "\n".join(
        [
            "| corpus | embedder | requests | refused | embedded | wall | outcome |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    text = (
        "# Haystack: ours and OpenAIDocumentEmbedder on one emulator\n\n"
        "`benchmarks/haystack_side_by_side.py`: each document embedder, with its defaults "
        "(OpenAIDocumentEmbedder: batches of 32 sent one after another; "
        "AimlapiDocumentEmbedder: requests sized by the client within the model's limits, 8 in "
        "flight), embeds the same documents in one `run`; the emulator answers in 50 ms plus "
        "0.05 ms an input. Requests counted at the emulator; a refused one is a 4xx/5xx. "
        "Both leave a failed batch's documents without embedding (raise_on_failure=False, "
        "the default): `embedded` counts the documents that came back with one.\n\n"
        f"{table}\n\nhaystack-ai {version('haystack-ai')}, openai {version('openai')}, Python "
        f"{platform.python_version()}, {os.cpu_count()} cores (shared, loaded machine).\n"
    )
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    # OpenAIDocumentEmbedder logs a traceback per failed batch: the table counts them instead.
    logging.disable(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        main()
