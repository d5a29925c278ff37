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


# Runs the example in argv[2] as `python examples/NAME` would, as if argv[1] were not installed.
WITHOUT = """
import runpy, sys
missing, example = sys.argv[1:]


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name == missing or name.startswith(missing + "."):
            raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)


sys.meta_path.insert(0, NotInstalled())
sys.argv = [example]
sys.path.insert(0, example.rpartition("/")[0])
runpy.run_path(example, run_name="__main__")
"""


@pytest.mark.parametrize(
    ("example", "missing", "extra"),
    [
        ("langchain_rag.py", "langchain_core", "langchain"),
        ("llama_index_rag.py", "llama_index.core", "llama-index"),
        ("ray_embed.py", "pyarrow", "ray"),
        ("ray_embed.py", "ray", "ray"),
        ("chroma_store.py", "chromadb", "chroma"),
        ("haystack_rag.py", "haystack", "haystack"),
    ],
)
def test_an_example_without_its_framework_names_the_extra(
    example: str, missing: str, extra: str
) -> None:
    # As in an environment without that framework, `missing` cannot be found (tests/install_check.py
    # runs them in real ones, each with another framework's extra only).
    finished = subprocess.run(
        [sys.executable, "-W", "error", "-c", WITHOUT, missing, str(EXAMPLES / example)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 1
    assert finished.stdout == ""  # stopped before anything started
    assert finished.stderr.splitlines()[-1] == (
        f"ModuleNotFoundError: examples/{example} needs {missing}, which is not installed: "
        f'pip install "aimlapi-embeddings[{extra}]"'
    )
