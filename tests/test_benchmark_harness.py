"""A smoke run of the bulk benchmark's harness (`benchmarks/bulk.py`) on a tiny corpus: every
path runs in its worker process, its vectors are checked, and a wrong vector is caught.

The benchmark itself is not run here (`python benchmarks/bulk.py`, about 10 minutes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bulk  # noqa: E402
import planner  # noqa: E402
from _bulk_cases import Case, corpus  # noqa: E402

from aimlapi_embeddings.testing import Emulator  # noqa: E402

pytestmark = pytest.mark.timeout(120)
CORPUS_SIZE = 300


def test_every_path_runs_is_checked_and_reported() -> None:
    cases = [Case("parallel", path, 500) for path in ("list", "numpy", "stream", "raw", "fetch")]
    cases.append(Case("parallel", "numpy", 400, repeats=0.3))
    with Emulator() as api:
        expected = bulk.prime(api, corpus(CORPUS_SIZE))
        results = [bulk.run_case(api, case, expected, CORPUS_SIZE) for case in cases]
    for result in results:
        assert result.ok, f"{result.case.name}: {result.status} {result.error} {result.check}"
        assert result.wall is not None
        assert result.peak_rss_mib is not None
    assert results[-1].inputs_sent == 280, "30% of 400 texts repeat earlier ones"
    report = bulk.render({"run": "a test"}, results)
    assert "30% repeated texts send 30% fewer inputs" in report
    assert "| `stream` | 500 |" in report


def test_a_wrong_vector_or_a_moved_row_is_caught() -> None:
    with Emulator() as api:
        expected = bulk.prime(api, corpus(20))
    indices = list(range(20))
    digests = [expected.digests[i] for i in indices]
    assert bulk.check_rows(digests, indices, expected) == bulk.CORRECT
    digests[3], digests[4] = digests[4], digests[3]
    assert "WRONG" in bulk.check_rows(digests, indices, expected)
    sums = expected.sums
    chunk = [0, 20, float(sum((i + 1) * sums[i] for i in indices))]
    assert bulk.check_stream({"chunks": [chunk], "samples": {}}, indices, expected) == bulk.CORRECT
    moved = [0, 20, float(sum((i + 1) * sums[19 - i] for i in indices))]
    assert "WRONG" in bulk.check_stream({"chunks": [moved], "samples": {}}, indices, expected)


def test_planner_cases_send_their_batch_sizes_over_the_mixed_corpus() -> None:
    """benchmarks/planner.py's cases in small: the token-timed shape over the mixed corpus, a
    batch size given to ours and to the floor, and a server bound counted in tokens."""
    scenario = bulk.SCENARIOS["tokens"]
    cases = [
        Case("tokens", "numpy", 240),
        Case("tokens", "numpy", 240, batch_size=50),
        Case("tokens", "fetch", 240, batch_size=60),
    ]
    with Emulator() as api:
        expected = bulk.prime(api, corpus(CORPUS_SIZE, "mixed"))
        results = []
        for case in cases:
            bulk.configure(api, scenario)
            results.append(bulk.run_case(api, case, expected, CORPUS_SIZE))
    for result in results:
        assert result.ok, f"{result.case.name}: {result.status} {result.error} {result.check}"
    assert [r.requests for r in results[1:]] == [5, 4]
    assert results[0].requests == len(
        planner.plan_requests(
            corpus(CORPUS_SIZE, "mixed")[:240],
            planner.get_model_spec(planner.MODEL),
            max_concurrency=8,
        ).batches
    )
    # Long passages (every eighth) make the bound grow with tokens, not with the 240 inputs.
    assert results[0].bound > scenario.lower_bound(240, 240 * 20)
    report = planner.render(results, [])
    assert "| `fetch` | 240 | planned |" in report
