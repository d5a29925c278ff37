"""What every case embeds, and how a vector is fingerprinted. Standard library only.

The runner and the workers build the same texts independently (workers run in other virtual
environments, which may not have this package installed), so the texts are a pure function of
the workload and the index: text `i` is the same in every process and in every workload size.
"""

from __future__ import annotations

import hashlib
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

MODEL = "text-embedding-3-small"
WIDTH = 1536
# Every worker embeds this one text before the timed call (imports, connections, lazy setup);
# the runner leaves its request out of the counts.
WARM_UP_TEXT = "warm-up request, not timed"
# The line a worker prints when its timed call starts: the runner's budget counts from there.
TIMED_CALL_STARTS = "timed call starts"

_VOCABULARY = (
    "vector search retrieval embedding model index query document answer chunk store token "
    "latency batch python server client request response context window pipeline ingestion "
    "notebook cluster shard replica memory throughput benchmark dataset corpus language "
    "semantic similarity cosine distance nearest neighbour graph hybrid keyword ranking rerank "
    "prompt completion agent tool schema metadata filter payload upload stream parallel "
    "concurrency timeout retry backoff cache evaluation precision recall summary paragraph"
)
_WORDS = _VOCABULARY.split()


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    count: int
    chars: int
    """Each text is about this many characters long."""
    latency_per_input: float
    """The emulator's latency per input text for this workload, in seconds."""
    budget: float
    """Seconds the timed call may take before the case is killed; the worker's imports, its
    client's set-up and the warm-up call are not counted."""

    def text(self, index: int) -> str:
        rng = random.Random(f"{self.chars}:{index}")
        parts = [f"Document {index}:"]
        length = len(parts[0])
        sentence = 0
        while length < self.chars:
            word = rng.choice(_WORDS)
            sentence += 1
            if sentence >= rng.randint(8, 16):
                word += "."
                sentence = 0
            parts.append(word)
            length += len(word) + 1
        return " ".join(parts)

    def texts(self) -> list[str]:
        return [self.text(index) for index in range(self.count)]

    @property
    def kind(self) -> str:
        return "long" if self.chars > 1000 else "short"


FULL = (
    Workload("2,000 short", 2_000, 80, 0.0005, 10),
    Workload("20,000 short", 20_000, 80, 0.0005, 30),
    Workload("500 long", 500, 6_000, 0.005, 10),
)
QUICK = (
    Workload("1,000 short", 1_000, 80, 0.0005, 5),
    Workload("100 long", 100, 6_000, 0.005, 5),
)
WORKLOADS = {workload.name: workload for workload in FULL + QUICK}


def digest_float32(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


def row_digest(vector: Sequence[float]) -> str:
    """A fingerprint of a vector rounded to float32, the precision the API sends.

    Clients that decode base64 get float32 values exactly; any other decoding or re-normalising
    error is far below half a float32 step, so equal vectors have equal fingerprints.
    """
    try:
        return digest_float32(array("f", vector).tobytes())
    except (TypeError, ValueError, OverflowError):
        return "not-a-vector"
