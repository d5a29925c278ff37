"""One bulk case in a fresh process: `python _bulk_worker.py < request.json`.

The request names the path (list, numpy, stream, raw; "-async" for the async shell), the number
of texts, the emulator and the client's concurrency. Texts are made before the timed call; the
stream's come from a generator over them (text `i` is the corpus' text `i % len(corpus)`), so
they are read as the stream needs them. The worker prints TIMED_CALL_STARTS as the timed call
begins and writes JSON to `request["result_path"]`: the measurements (`Meter`), and what the
runner checks the vectors with: every row's fingerprint for a call that returns them all; for a
stream, which holds only a few chunks, every chunk's bounds and a checksum that depends on the
value and the position of each of its rows, and the fingerprints of every 97th row.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _bulk_cases import SCENARIOS, WIDTH, Case, corpus
from _worker import Meter, announce_timed_call
from _workloads import MODEL, WARM_UP_TEXT, digest_float32, row_digest

from aimlapi_embeddings import EmbeddingChunk, EmbeddingsClient

SAMPLE_EVERY = 97
# Texts per request of the raw floor unless a case names its own.
RAW_BATCH = 512


def chunk_checksum(chunk: EmbeddingChunk[Any]) -> float:
    """Sum over rows of (index + 1) x the row's float64 sum: a row missing, moved or changed
    changes it."""
    sums = np.asarray(chunk.vectors, dtype=np.float32).sum(axis=1, dtype=np.float64)
    positions = np.arange(chunk.start + 1, chunk.start + 1 + len(sums), dtype=np.float64)
    return float(np.dot(positions, sums))


class StreamCheck:
    def __init__(self) -> None:
        self.chunks: list[tuple[int, int, float]] = []
        self.samples: dict[int, str] = {}

    def take(self, chunk: EmbeddingChunk[Any]) -> None:
        rows = np.asarray(chunk.vectors, dtype=np.float32)
        self.chunks.append((chunk.start, len(rows), chunk_checksum(chunk)))
        first = -chunk.start % SAMPLE_EVERY
        for offset in range(first, len(rows), SAMPLE_EVERY):
            self.samples[chunk.start + offset] = digest_float32(rows[offset].tobytes())


def post_batches(
    base_url: str,
    api_key: str,
    texts: list[str],
    concurrency: int,
    handle: Callable[[int, httpx.Response], None],
    size: int = RAW_BATCH,
) -> None:
    """What a hand-written parallel httpx client does: fixed batches of `size` texts, one
    request each, `concurrency` threads; `handle(start, response)` for each answer."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120, trust_env=False) as http:

        def post(start: int) -> None:
            batch = texts[start : start + size]
            body = {"model": MODEL, "input": batch, "encoding_format": "base64"}
            handle(start, http.post("/embeddings", json=body).raise_for_status())

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(post, range(0, len(texts), size)))


def raw_floor(
    base_url: str, api_key: str, texts: list[str], concurrency: int, size: int
) -> np.ndarray:
    """Each answer parsed and its base64 decoded into rows of one float32 array; no checks."""
    rows = np.empty((len(texts), WIDTH), dtype=np.float32)

    def decode(start: int, response: httpx.Response) -> None:
        for item in response.json()["data"]:
            raw = base64.b64decode(item["embedding"])
            rows[start + item["index"]] = np.frombuffer(raw, dtype="<f4")

    post_batches(base_url, api_key, texts, concurrency, decode, size)
    return rows


def fetch_floor(base_url: str, api_key: str, texts: list[str], concurrency: int, size: int) -> int:
    """The transfer floor: the same requests, each answer read whole and dropped unparsed."""
    received = [0]

    def count(start: int, response: httpx.Response) -> None:
        received[0] += len(response.content)

    post_batches(base_url, api_key, texts, concurrency, count, size)
    return received[0]


def run(request: dict[str, Any]) -> dict[str, Any]:
    case = Case(**request["case"])
    concurrency = request["max_concurrency"]
    base_url, api_key = request["base_url"], request["api_key"]
    texts_of_corpus = corpus(request["corpus_size"], SCENARIOS[case.scenario].corpus)
    size = case.batch_size or RAW_BATCH  # the raw floor's
    sized = {"batch_size": case.batch_size}
    streamed = case.path.startswith("stream")
    # A stream reads a generator; every other path takes a list, made before the timed call.
    texts = [] if streamed else [texts_of_corpus[i] for i in case.indices(len(texts_of_corpus))]
    client = EmbeddingsClient(api_key=api_key, base_url=base_url, max_concurrency=concurrency)
    output = "list" if case.path == "list" else "numpy"
    client.embed([WARM_UP_TEXT], output=output)  # type: ignore[call-overload]
    meter = Meter()
    check = StreamCheck()

    async def run_async() -> Any:
        if case.path == "numpy-async":
            return (await client.aembed(texts, output="numpy", **sized)).vectors
        stream = client.aembed_stream(case.stream(texts_of_corpus), output="numpy", **sized)
        async for chunk in stream:
            check.take(chunk)
        return None

    vectors: Any = None
    received = 0
    announce_timed_call()
    with meter:
        if case.path.endswith("-async"):
            vectors = asyncio.run(run_async())
        elif case.path == "raw":
            vectors = raw_floor(base_url, api_key, texts, concurrency, size)
        elif case.path == "fetch":
            received = fetch_floor(base_url, api_key, texts, concurrency, size)
        elif case.path == "stream":
            stream = client.embed_stream(case.stream(texts_of_corpus), output="numpy", **sized)
            for chunk in stream:
                check.take(chunk)
        else:
            call = client.embed(texts, output=output, **sized)  # type: ignore[call-overload]
            vectors = call.vectors
    result: dict[str, Any] = {
        "wall": meter.wall,
        "cpu": meter.cpu,
        "gc": meter.gc,
        "rss_before_mib": meter.rss_before_mib,
        "peak_rss_mib": meter.peak_rss_mib,
    }
    if case.path == "fetch":
        result.update(received=received)
    elif streamed:
        result.update(chunks=check.chunks, samples=check.samples)
    elif output == "list":
        result.update(digests=[row_digest(vector) for vector in vectors])
    else:
        result.update(digests=[digest_float32(row.tobytes()) for row in vectors])
    return result


def main() -> None:
    request = json.load(sys.stdin)
    try:
        result = run(request)
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    Path(request["result_path"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
