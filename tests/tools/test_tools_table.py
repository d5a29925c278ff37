"""benchmarks/results/tools.md is what benchmarks/tools_table.py writes today: the requests it
reports for ours and the OpenAI classes cannot go stale (`make tools-table` rewrites it)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import tools_table  # noqa: E402


def test_the_committed_table_is_what_the_script_writes() -> None:
    measured = tools_table.measure()
    wrong = [
        (tool, name, run.wrong)
        for tools in measured.values()
        for tool, runs in tools.items()
        for name, run in runs.items()
        if run.wrong
    ]
    assert wrong == []  # every question found its passage, with every implementation
    written = tools_table.render(measured)
    assert tools_table.RESULTS.read_text() == written, "run `make tools-table` and commit it"
