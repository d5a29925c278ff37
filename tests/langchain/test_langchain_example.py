"""examples/langchain_rag.py runs without a key, on the emulator, and finds the right answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "langchain_rag.py"


def test_example_runs_on_the_emulator_without_a_key() -> None:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AIMLAPI_") and not name.lower().endswith("_proxy")
    }
    finished = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLE)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == ""
    assert "using the bundled loopback emulator" in finished.stdout
    assert "A: [eiffel]" in finished.stdout
    assert "A: [photosynthesis]" in finished.stdout
    assert "A: [vector-db]" in finished.stdout
