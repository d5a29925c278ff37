"""The README cannot rot: every Python block runs as written, and so do its emulator commands.

Blocks run as a reader runs them (tests/readme_blocks.py): the emulator started by the README's
own command, AIMLAPI_BASE_URL / AIMLAPI_API_KEY set as the README says, each Python block saved
as a script in an empty folder. tests/install_check.py runs the same blocks again in fresh
environments with only the extra each block needs.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from readme_blocks import (
    Block,
    Served,
    all_blocks,
    blocks,
    readme_emulator,
    run_bash_block,
    run_python_block,
)

BIN = Path(sys.executable).parent
# Chroma's and Haystack's blocks run in the tools group's venv, which has chromadb and
# haystack-ai (tests/tools).
PYTHON_BLOCKS = [block for block in blocks("python") if not block.extras & {"chroma", "haystack"}]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with readme_emulator(BIN) as served:
        yield served


def test_the_readme_has_a_block_for_the_core_and_each_framework() -> None:
    # If the README's blocks could not be found, the test below would pass on nothing.
    found = {block.extras for block in PYTHON_BLOCKS}
    assert found >= {
        frozenset(),
        frozenset({"langchain"}),
        frozenset({"llama-index"}),
        frozenset({"ray"}),
    }


def test_a_block_not_run_says_why_and_is_valid_python() -> None:
    for block in all_blocks("python"):
        if block.not_run is not None:
            assert block.not_run.strip(), f"{block}: say why it is not run"
            ast.parse(block.code)  # at least it is Python


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=str)
def test_python_block_runs_as_written(block: Block, served: Served, tmp_path: Path) -> None:
    finished = run_python_block(block, Path(sys.executable), served, tmp_path)
    assert finished.returncode == 0, f"{block} failed:\n{finished.stderr}"
    # A reader sees what it prints, and nothing else: no warning, no stray log line (but Ray's
    # own log lines, which Ray writes to stderr whatever a program does).
    assert block.unexpected_stderr(finished.stderr) == ""
    assert finished.stdout.strip(), f"{block} prints nothing"


def test_curl_and_export_against_the_readme_emulator(served: Served, tmp_path: Path) -> None:
    (block,) = [block for block in blocks("bash") if block.code.startswith("curl ")]
    # Then, in the same shell, a program that reads its settings from the environment only.
    program = (
        "import aimlapi_embeddings as a; print(a.EmbeddingsClient().embed(['hi']).vectors[0][:2])"
    )
    then = f'\necho\npython -c "{program}"'
    session = Block(block.language, block.code + then, block.line)
    finished = run_bash_block(session, BIN, tmp_path, served=served)
    assert finished.returncode == 0, finished.stderr
    curl_output, client_output = finished.stdout.strip().splitlines()
    (item,) = json.loads(curl_output)["data"]
    assert len(item["embedding"]) == 8  # the "dimensions" the command asks for
    assert len(json.loads(client_output)) == 2  # the exported URL and key reached the emulator
