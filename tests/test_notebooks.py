"""The example notebooks run top to bottom on the emulator, as `jupyter execute` runs them, and are
stored without outputs so that a diff shows only what a person wrote."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
from _shared import QUESTIONS  # noqa: E402  (the notebooks' own questions)

NOTEBOOKS = sorted(path.name for path in EXAMPLES.glob("*.ipynb"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_both_notebooks_are_found() -> None:
    assert NOTEBOOKS == ["langchain_vector_store.ipynb", "llama_index_pipeline.ipynb"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_without_outputs(name: str) -> None:
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], cell.id
            assert cell.execution_count is None, cell.id


@pytest.mark.parametrize(
    ("name", "extra"),
    [("langchain_vector_store.ipynb", "langchain"), ("llama_index_pipeline.ipynb", "llama-index")],
)
def test_notebook_names_the_extras_it_needs(name: str, extra: str) -> None:
    introduction = nbformat.read(EXAMPLES / name, as_version=4).cells[0].source
    assert f'pip install ".[{extra},notebooks]"' in introduction
    assert f"jupyter execute examples/{name}" in introduction


@pytest.fixture(scope="module", autouse=True)
def _matplotlib_font_cache() -> None:
    # Built once per machine, with a notice on stderr: build it here, so that the notebooks'
    # output holds only what they print.
    import matplotlib.font_manager  # noqa: F401


def execute(name: str) -> tuple[str, list[str], list[bytes]]:
    """Run a notebook top to bottom as `jupyter execute` does; what it printed on stdout and
    stderr, and its pictures. A failing cell raises CellExecutionError with its traceback."""
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        # As `jupyter execute` and Jupyter do: the notebook's folder is the working directory.
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()
    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    streams = [output for output in outputs if output.output_type == "stream"]
    pictures = [
        base64.b64decode(output.data["image/png"])
        for output in outputs
        if "image/png" in output.get("data", {})
    ]
    printed = "".join(output.text for output in streams if output.name == "stdout")
    return printed, [output.text for output in streams if output.name == "stderr"], pictures


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_on_the_emulator(name: str) -> None:
    # The autouse environment fixture has removed AIMLAPI_*: the kernel starts without a key.
    printed, errors, pictures = execute(name)
    assert errors == []
    assert "using the bundled loopback emulator" in printed
    assert "cosines stay low" in printed
    for question, answer in zip(QUESTIONS, ("eiffel", "photosynthesis", "vector-db"), strict=True):
        # Each question, then its best passage first, with its score.
        assert re.search(rf"{re.escape(question)}\n +-?\d\.\d+  \[{answer}\]", printed), printed
    assert len(pictures) == 1
    assert pictures[0].startswith(PNG_SIGNATURE)


@pytest.mark.live
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_on_the_real_api_with_a_key(
    name: str, live_api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIMLAPI_API_KEY", live_api_key)  # the kernel inherits the environment
    printed, _, pictures = execute(name)
    assert "Using the real AI/ML API" in printed
    assert "[eiffel]" in printed
    assert len(pictures) == 1
