"""What the bulk benchmark runs: its corpus, its two server scenarios and its cases.

Shared by the runner (`bulk.py`) and its workers (`_bulk_worker.py`), which build the same texts
independently: a case's texts are corpus texts named by index.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from _workloads import Workload

WIDTH = 1536
# The corpus: short passages, all distinct. A longer case cycles through it (1,000,000 texts are
# the corpus ten times over): the emulator then serves answers it has cached, as it does for
# every other case, and a stream never meets a repeat within its window of a few thousand.
CORPUS = Workload("passages", 100_000, 80, 0.0, 0.0)
QUICK_CORPUS = 5_000
# The `mixed` corpus: the same passages, but every eighth one about 1,200 characters long, so
# that requests of equal counts differ in tokens (issue 18's server whose time grows with them).
LONG_PASSAGES = Workload("long passages", 100_000, 1_200, 0.0, 0.0)
LONG_EVERY = 8


@cache
def corpus(size: int, kind: str = "passages") -> list[str]:
    if kind == "mixed":
        return [
            (LONG_PASSAGES if index % LONG_EVERY == LONG_EVERY - 1 else CORPUS).text(index)
            for index in range(size)
        ]
    return [CORPUS.text(index) for index in range(size)]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    latency: float
    """Seconds the emulator adds to every answer."""
    latency_per_input: float
    """Seconds it adds per input of a request."""
    max_concurrent: int | None
    """Requests it serves at once; more get 429. None: no cap."""
    concurrency: int = 8
    """The clients' max_concurrency (ours by default, the raw floor's threads)."""
    latency_per_token: float = 0.0
    """Seconds it adds per token of a request, as it counts them for usage."""
    corpus: str = "passages"
    """The corpus its cases embed: "passages", or "mixed" (see `corpus`)."""

    def lower_bound(self, inputs: int, tokens: int = 0) -> float:
        """The server's own lower bound for `inputs` texts of `tokens` tokens in all: their
        time spread over the requests allowed at once, plus one request's fixed time."""
        spread = inputs * self.latency_per_input + tokens * self.latency_per_token
        return spread / self.concurrency + self.latency

    def describe(self) -> str:
        cap = f"{self.max_concurrent} in flight, 429 beyond" if self.max_concurrent else "no cap"
        per = f"{self.latency_per_input * 1000:g} ms per input"
        if self.latency_per_token:
            per = f"{self.latency_per_token * 1000:g} ms per token"
        corpus = ", the mixed corpus" if self.corpus == "mixed" else ""
        return (
            f"{self.latency * 1000:g} ms + {per}, {cap}; clients at max_concurrency "
            f"{self.concurrency}{corpus}"
        )


SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario("parallel", 0.05, 0.0005, None),
        Scenario("capped", 0.1, 0.001, 8),
        # Issue 18's other shapes (benchmarks/planner.py): the capped server's costs without
        # its cap, and a capped server whose time grows with tokens (0.03 ms a token is about
        # 1 ms per short passage) over passages of two lengths.
        Scenario("uncapped", 0.1, 0.001, None),
        Scenario("tokens", 0.1, 0.0, 8, latency_per_token=0.00003, corpus="mixed"),
    )
}
BULK_SCENARIOS = ("parallel", "capped")

PATHS = {
    "list": "embed(texts): lists of floats",
    "numpy": 'embed(texts, output="numpy")',
    "numpy-async": 'await aembed(texts, output="numpy")',
    "stream": 'embed_stream(generator, output="numpy")',
    "stream-async": 'aembed_stream(generator, output="numpy")',
    "raw": "raw httpx: 8 threads, 512-text batches, base64 into one array, no checks or retries",
    "fetch": "the same raw requests, answers read and dropped unparsed: the transfer floor",
}


@dataclass(frozen=True, slots=True)
class Case:
    scenario: str
    path: str
    count: int
    repeats: float = 0.0
    """The share of texts that repeat an earlier one (sent once by the client)."""
    batch_size: int | None = None
    """Texts per request (the raw floor's too); None: ours plan it, the raw floor sends 512."""

    @property
    def name(self) -> str:
        repeats = f", {self.repeats:.0%} repeated" if self.repeats else ""
        sized = f", batch_size {self.batch_size}" if self.batch_size else ""
        return f"{self.scenario}: {self.path}, {self.count:,} texts{repeats}{sized}"

    @property
    def distinct(self) -> int:
        """Distinct texts of a case with repeats (all of its texts are corpus texts)."""
        return round(self.count * (1 - self.repeats))

    def indices(self, corpus_size: int) -> list[int]:
        """The corpus index of each text, in order."""
        if not self.repeats:
            return [index % corpus_size for index in range(self.count)]
        distinct = self.distinct
        rng = random.Random(f"repeats:{self.count}:{self.repeats}")
        chosen = list(range(distinct)) + [
            rng.randrange(distinct) for _ in range(self.count - distinct)
        ]
        rng.shuffle(chosen)
        return chosen

    def stream(self, corpus: list[str]) -> Iterator[str]:
        """The texts one at a time, as a generator over a file would give them."""
        return (corpus[index % len(corpus)] for index in range(self.count))

    def budget(self) -> float:
        """Seconds the timed call may take: ten times the server's bound, and a minute more."""
        return 10 * SCENARIOS[self.scenario].lower_bound(self.count) + 60


def full_cases() -> list[Case]:
    cases = []
    for count in (1_000, 20_000, 100_000):
        for path in ("list", "numpy", "stream", "raw", "fetch"):
            cases.append(Case("parallel", path, count))
        if count > 1_000:
            cases += [
                Case("parallel", "numpy-async", count),
                Case("parallel", "stream-async", count),
            ]
    cases.append(Case("parallel", "numpy", 20_000, repeats=0.3))
    cases.append(Case("parallel", "stream", 1_000_000))
    for count in (20_000, 100_000):
        for path in ("list", "numpy", "stream", "raw", "fetch"):
            cases.append(Case("capped", path, count))
    cases.append(Case("capped", "stream", 1_000_000))
    return cases


def quick_cases() -> list[Case]:
    cases = [Case("parallel", path, 2_000) for path in PATHS]
    cases.append(Case("parallel", "numpy", 2_000, repeats=0.3))
    cases.append(Case("parallel", "stream", 20_000))
    cases += [Case("capped", path, 2_000) for path in ("list", "numpy", "stream", "raw", "fetch")]
    return cases
