"""Requests per call, old planner and new (issue 18), for corpus sizes from 10 to 100,000.

    .venv/bin/python benchmarks/planner_requests.py     # a second; writes results/planner.md

Pure planning, no server: how many requests `embed()` sends for a call of N distinct passages
(60-90 characters each) with the batch size unset, at max_concurrency 8 (the default) and 4,
and how many rounds of concurrent requests that is. "Old" is the planner before issue 18:
batches of ceil(N / max_concurrency) texts, at least 32 and at most 512, filled in order.
"New": whole rounds of requests of equal cost, as few as the model's limits and the cap on the
floats an answer holds (1,024 vectors of 1,536) allow. Timings: `planner.py`.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from aimlapi_embeddings import get_model_spec
from aimlapi_embeddings._batching import batch_limit, plan_requests

SIZES = (10, 100, 200, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
MODELS = ("text-embedding-3-small", "voyage-2", "alibaba/qwen-text-embedding-v3")
RESULTS = Path(__file__).parent / "results" / "planner.md"


def passages(count: int) -> list[str]:
    rng = random.Random(count)
    return [f"passage {i} " + "retrieval words " * rng.randint(3, 5) for i in range(count)]


def old_requests(count: int, max_inputs: int, slots: int) -> int:
    """The planner before issue 18, for texts far within the token budget."""
    limit = min(max_inputs, 512, max(math.ceil(count / slots), 32))
    return math.ceil(count / limit)


def main() -> None:
    lines = [
        "# Requests per call: old planner and new (issue 18)",
        "",
        "`python benchmarks/planner_requests.py`: pure planning, N distinct passages, batch size",
        "unset. Cells: requests (rounds of `max_concurrency` requests).",
        "",
    ]
    for slots in (8, 4):
        for model in MODELS:
            spec = get_model_spec(model)
            lines += [
                f"## {model}, max_concurrency={slots} (at most {batch_limit(spec, None)} texts a "
                f"request: the model's {spec.max_inputs} inputs and the cap on an answer's floats)",
                "",
                "| texts | old | new |",
                "|---:|---:|---:|",
            ]
            for count in SIZES:
                new = len(plan_requests(passages(count), spec, max_concurrency=slots).batches)
                old = old_requests(count, spec.max_inputs, slots)
                lines.append(
                    f"| {count:,} | {old} ({math.ceil(old / slots)}) "
                    f"| {new} ({math.ceil(new / slots)}) |"
                )
            lines.append("")
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
