"""Every example runs without a key, on the emulator, says so, and finds the right answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.mark.parametrize("example", ["quickstart.py", "langchain_rag.py", "llama_index_rag.py"])
def test_example_runs_on_the_emulator_without_a_key(example: str) -> None:
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
    assert "using the bundled loopback emulator" in finished.stdout
    assert "NOT the real model's" in finished.stdout
    for answer in ("eiffel", "photosynthesis", "vector-db"):
        assert f"A: [{answer}]" in finished.stdout, f"wrong retrieval: {finished.stdout}"
