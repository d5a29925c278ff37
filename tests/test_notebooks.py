"""The example notebooks run top to bottom on the emulator with the README's command, which keeps
their outputs, and are stored without outputs so that a diff shows only what a person wrote."""

from __future__ import annotations

import base64
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from readme_blocks import notebook_command, run_shell

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
            # After the README's command: `git checkout examples/` puts the stored one back.
            assert cell.outputs == [], cell.id
            assert cell.execution_count is None, cell.id


@pytest.mark.parametrize(
    ("name", "extra"),
    [("langchain_vector_store.ipynb", "langchain"), ("llama_index_pipeline.ipynb", "llama-index")],
)
def test_notebook_names_the_extras_and_the_readmes_commands(name: str, extra: str) -> None:
    introduction = nbformat.read(EXAMPLES / name, as_version=4).cells[0].source
    assert f'pip install ".[{extra},notebooks]"' in introduction
    assert f"`jupyter lab examples/{name}`" in introduction
    assert f"`{notebook_command(name)}`" in introduction
    assert "--inplace" in notebook_command(name)  # a headless run keeps what it shows


@pytest.fixture(scope="module", autouse=True)
def _matplotlib_font_cache() -> None:
    # Built once per machine, with a notice on stderr: build it here, so that the notebooks'
    # output holds only what they print.
    import matplotlib.font_manager  # noqa: F401


def execute(name: str, folder: Path, key: str | None = None) -> tuple[str, list[str], list[bytes]]:
    """Run the README's command for a notebook, as written, in `folder`, which holds a copy of the
    clone's examples/ (the command saves the outputs into the notebook: the clone's stays as
    stored). From the notebook it saved: what it printed on stdout and stderr, and its pictures."""
    copy = folder / "examples"
    copy.mkdir()
    shutil.copy(EXAMPLES / name, copy)
    shutil.copy(EXAMPLES / "_shared.py", copy)  # the notebooks import it, from their folder
    command = notebook_command(name)
    # No key from the machine: only the one given, if any.
    environment = {"AIMLAPI_API_KEY": key} if key is not None else None
    finished = run_shell(command, Path(sys.executable).parent, folder, environment=environment)
    assert finished.returncode == 0, f"{command} failed:\n{finished.stderr}"
    notebook = nbformat.read(copy / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    outputs = [output for cell in code for output in cell.outputs]
    streams = [output for output in outputs if output.output_type == "stream"]
    pictures = [
        base64.b64decode(output.data["image/png"])
        for output in outputs
        if "image/png" in output.get("data", {})
    ]
    printed = "".join(output.text for output in streams if output.name == "stdout")
    return printed, [output.text for output in streams if output.name == "stderr"], pictures


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_readme_command_runs_the_notebook_on_the_emulator_and_keeps_its_outputs(
    name: str, tmp_path: Path
) -> None:
    printed, errors, pictures = execute(name, tmp_path)
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
    name: str, live_api_key: str, tmp_path: Path
) -> None:
    printed, _, pictures = execute(name, tmp_path, key=live_api_key)
    assert "Using the real AI/ML API" in printed
    assert "[eiffel]" in printed
    assert len(pictures) == 1
