"""LlamaIndex's progress bar over time: where it stands after each update, sync and async.

    python benchmarks/llama_index_progress.py

2,000 texts through `get_text_embedding_batch(..., show_progress=True)` against the emulator
(100 ms a request), with request sizes planned and with `embed_batch_size=250`: the bar should
move with each request that finishes, not jump from 0 to done.
"""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import tqdm.auto

from aimlapi_embeddings.testing import Emulator
from llama_index_aimlapi import AimlapiEmbedding

TEXTS = [f"passage {i} about topic {i % 17}" for i in range(2000)]


class TimedBar(tqdm.auto.tqdm):  # type: ignore[misc]
    """A bar that writes nowhere and keeps (seconds since start, position) at each update."""

    last: TimedBar | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "file": io.StringIO()})
        self.started = time.perf_counter()
        self.updates: list[tuple[float, int]] = [(0.0, 0)]
        TimedBar.last = self

    def update(self, n: float | None = 1) -> bool | None:
        shown = super().update(n)
        self.updates.append((time.perf_counter() - self.started, int(self.n)))
        return shown


def main() -> None:
    tqdm.auto.tqdm = TimedBar  # what the adapter imports when it shows a bar
    with Emulator(latency=0.1) as api:
        for batch_size, mode in [(None, "sync"), (None, "async"), (250, "sync"), (250, "async")]:
            model = AimlapiEmbedding(
                api_key=api.api_key, api_base=api.base_url, embed_batch_size=batch_size
            )
            before = len(api.requests)
            if mode == "sync":
                model.get_text_embedding_batch(TEXTS, show_progress=True)
            else:
                asyncio.run(model.aget_text_embedding_batch(TEXTS, show_progress=True))
            assert TimedBar.last is not None
            steps = ", ".join(f"{t:.2f} s: {n}" for t, n in TimedBar.last.updates)
            requests = len(api.requests) - before
            print(f"embed_batch_size={batch_size}, {mode}, {requests} requests: {steps}")


if __name__ == "__main__":
    main()
