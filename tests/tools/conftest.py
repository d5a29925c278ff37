"""The tools group: each adapter in the tools users put embeddings into, against the emulator.

Its packages (tests/tools/requirements.txt) are not in the project's .venv, so `make test` leaves
this folder out (pyproject's addopts); `make tools-check` builds .venv-tools with them and runs
`pytest tests/tools` there, and CI runs that after the install check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tool_scenarios import MODEL

from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings
from llama_index_aimlapi import AimlapiEmbedding


@pytest.fixture(scope="module")
def _module_emulator() -> Iterator[Emulator]:
    with Emulator(seed=0) as api:
        yield api


@pytest.fixture
def api(_module_emulator: Emulator) -> Emulator:
    """The module's emulator, with no records left by an earlier test."""
    _module_emulator.reset()
    return _module_emulator


@pytest.fixture
def adapters(api: Emulator) -> Iterator[dict[str, Callable[[], Any]]]:
    """Framework -> a builder of our adapter for it, pointed at the emulator; the pools of all
    it built are closed after the test."""
    made: list[AimlapiEmbeddings | AimlapiEmbedding] = []

    def builder(adapter: type[AimlapiEmbeddings | AimlapiEmbedding]) -> Callable[[], Any]:
        def build() -> AimlapiEmbeddings | AimlapiEmbedding:
            made.append(adapter(model=MODEL, api_key=api.api_key, base_url=api.base_url))
            return made[-1]

        return build

    yield {"langchain": builder(AimlapiEmbeddings), "llama-index": builder(AimlapiEmbedding)}
    for adapter in made:
        adapter.close()
