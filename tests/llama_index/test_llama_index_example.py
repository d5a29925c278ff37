"""examples/llama_index_rag.py runs without a key, on the emulator, and finds the right answers."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "llama_index_rag.py"


@pytest.mark.usefixtures("restore_settings")
def test_example_runs_on_the_emulator_without_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "AIMLAPI_API_KEY is not set: using the bundled loopback emulator" in out
    assert "Indexed 5 documents with text-embedding-3-small." in out
    for question, answer in [
        ("Which tower stands in Paris?", "[eiffel]"),
        ("How do plants make glucose from sunlight?", "[photosynthesis]"),
        ("Where do I store embeddings for nearest-neighbour search?", "[vector-db]"),
    ]:
        assert f"Q: {question}\nA: {answer}" in out
