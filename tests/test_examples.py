"""Every example runs without a key, on the emulator, says so, and finds the right answers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


def run_example(example: str) -> str:
    """The example's output, run as a user would without a key; fails the test if it fails."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AIMLAPI_") and not name.lower().endswith("_proxy")
    }
    finished = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / example)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


@pytest.mark.parametrize("example", ["quickstart.py", "langchain_rag.py", "llama_index_rag.py"])
def test_example_runs_on_the_emulator_without_a_key(example: str) -> None:
    output = run_example(example)
    assert "using the bundled loopback emulator" in output
    assert "NOT the real model's" in output
    assert "cosines stay low" in output  # why the scores shown are small
    for answer in ("eiffel", "photosynthesis", "vector-db"):
        assert f"A: [{answer}]" in output, f"wrong retrieval: {output}"


def test_quickstart_reports_usage_in_words() -> None:
    # The emulator reports tokens as the API does, and no credits.
    assert re.search(r"; usage: [1-9][\d,]* tokens\n", run_example("quickstart.py"))
