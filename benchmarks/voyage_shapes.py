"""Voyage's character limits: what sending long items alone costs, against cutting them up.

    .venv/bin/python benchmarks/voyage_shapes.py            # about 2 minutes; results/voyage.md
    .venv/bin/python benchmarks/voyage_shapes.py --quick    # smaller, about 30 s

AI/ML API takes at most 800 characters per item of a Voyage `input` list and 8,000 as one string.
An ordinary RAG chunk (1,000-4,000 characters) therefore cannot be batched whole. Two ways:

- `over_item_limit="alone"` (the default): each such chunk is one request, `input` a string;
  its vector is the model's vector of the whole chunk.
- `over_item_limit="split"`: each is cut into pieces of at most 800 characters that batch with
  everything else (128 inputs a request); its vector is the length-weighted mean of the pieces.

Each mode embeds the same corpus against the emulator in two scenarios: `parallel` (answers after
50 ms plus 2 ms per input, no rate limit, 8 requests in flight) and `rate-capped` (the same, with
a cap of 20 requests per second, 429 beyond, as a real account's request quota would). Measured:
wall time, requests, inputs sent, client CPU. Fidelity is measured as the cosine between each
chunk's split-mode vector and its alone-mode vector; with the emulator's bag-of-words vectors a
mean of pieces stays close to the whole by construction, so the figure is an upper bound: a real
model's vector of a whole passage carries context that a mean of its pieces does not.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aimlapi_embeddings import EmbeddingsClient
from aimlapi_embeddings.testing import Emulator

HERE = Path(__file__).resolve().parent
MODEL = "voyage-large-2"
WORDS = [
    "contract",
    "clause",
    "liability",
    "party",
    "agreement",
    "term",
    "notice",
    "payment",
    "invoice",
    "delivery",
    "warranty",
    "damages",
    "court",
    "jurisdiction",
    "arbitration",
    "breach",
    "remedy",
    "schedule",
    "annex",
    "amendment",
    "consent",
    "confidential",
    "information",
    "disclosure",
    "obligation",
    "termination",
    "renewal",
    "price",
    "currency",
]


def chunks(count: int, seed: int = 5) -> list[str]:
    """RAG-sized chunks: 1,000 to 4,000 characters, sentences of common words."""
    rng = random.Random(seed)
    texts = []
    for number in range(count):
        length = rng.randint(1000, 4000)
        words = [f"Chunk {number}."]
        size = len(words[0])
        while size < length:
            words.append(rng.choice(WORDS) + ("." if rng.random() < 0.08 else ""))
            size += len(words[-1]) + 1
        texts.append(" ".join(words)[:length])
    return texts


@dataclass
class Row:
    scenario: str
    mode: str
    texts: int
    wall_s: float
    requests: int
    answered_429: int
    inputs_sent: int
    client_cpu_s: float
    texts_per_s: float


def run_case(scenario: str, mode: str, texts: list[str]) -> tuple[Row, list[list[float]]]:
    faults: dict[str, Any] = {"latency": 0.05, "latency_per_input": 0.002}
    if scenario == "rate-capped":
        faults["rate_limit_rps"] = 20.0
    with Emulator(**faults) as api:
        client = EmbeddingsClient(api_key=api.api_key, base_url=api.base_url, max_retries=20)
        client.embed(["warm up"], model=MODEL)
        api.clear()
        cpu = time.process_time()
        started = time.perf_counter()
        result = client.embed(texts, model=MODEL, over_item_limit=mode)  # type: ignore[arg-type]
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu  # the emulator's thread included: an upper bound
        records = api.requests
        client.close()
    answered = [record for record in records if record.status == 200]
    row = Row(
        scenario=scenario,
        mode=mode,
        texts=len(texts),
        wall_s=round(wall, 2),
        requests=len(records),
        answered_429=sum(record.status == 429 for record in records),
        inputs_sent=sum(len(record.inputs) for record in answered),
        client_cpu_s=round(cpu, 2),
        texts_per_s=round(len(texts) / wall, 1),
    )
    return row, result.vectors


def cosine(a: list[float], b: list[float]) -> float:
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(math.fsum(x * x for x in a) * math.fsum(y * y for y in b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 and 200 chunks, not 2,000/500")
    options = parser.parse_args()
    sizes = (
        {"parallel": 500, "rate-capped": 200}
        if options.quick
        else {
            "parallel": 2000,
            "rate-capped": 500,
        }
    )
    rows: list[Row] = []
    fidelity: dict[str, float] = {}
    for scenario, count in sizes.items():
        texts = chunks(count)
        vectors = {}
        for mode in ("alone", "split"):
            row, vectors[mode] = run_case(scenario, mode, texts)
            rows.append(row)
            print(json.dumps(asdict(row)))
        cosines = sorted(
            cosine(a, b) for a, b in zip(vectors["alone"], vectors["split"], strict=True)
        )
        fidelity = {
            "min": round(cosines[0], 4),
            "median": round(cosines[len(cosines) // 2], 4),
            "mean": round(math.fsum(cosines) / len(cosines), 4),
        }
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "# Voyage chunks of 1,000-4,000 characters: alone vs split",
        "",
        f"Model {MODEL}; emulator answers after 50 ms + 2 ms per input; 8 requests in flight "
        "(the client's default); rate-capped: 20 requests/s, 429 beyond. Client CPU includes "
        f"the emulator's thread (one process). Peak RSS of the run: {peak_mb:.0f} MB.",
        "",
        "| scenario | mode | texts | wall s | texts/s | requests | 429s | inputs sent | CPU s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.scenario} | {r.mode} | {r.texts:,} | {r.wall_s} | {r.texts_per_s} | "
        f"{r.requests:,} | {r.answered_429:,} | {r.inputs_sent:,} | {r.client_cpu_s} |"
        for r in rows
    ]
    lines += [
        "",
        "Cosine of each chunk's split vector to its alone vector (emulator bag-of-words vectors, "
        f"an upper bound for a real model): min {fidelity['min']}, median {fidelity['median']}, "
        f"mean {fidelity['mean']}.",
    ]
    name = "voyage-quick" if options.quick else "voyage"
    (HERE / "results" / f"{name}.md").write_text("\n".join(lines) + "\n")
    (HERE / "results" / f"{name}.json").write_text(
        json.dumps({"rows": [asdict(r) for r in rows], "fidelity": fidelity}, indent=1) + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
