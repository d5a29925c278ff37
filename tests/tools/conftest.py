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
def make_langchain(api: Emulator) -> Iterator[Callable[[], AimlapiEmbeddings]]:
    """Builds our LangChain adapter for the emulator; closes each one's pools after the test."""
    made: list[AimlapiEmbeddings] = []

    def make(**options: Any) -> AimlapiEmbeddings:
        made.append(
            AimlapiEmbeddings(model=MODEL, api_key=api.api_key, base_url=api.base_url, **options)
        )
        return made[-1]

    yield make
    for embeddings in made:
        embeddings.close()


@pytest.fixture
def make_llama_index(api: Emulator) -> Iterator[Callable[[], AimlapiEmbedding]]:
    """Builds our LlamaIndex adapter for the emulator; closes each one's pools after the test."""
    made: list[AimlapiEmbedding] = []

    def make(**options: Any) -> AimlapiEmbedding:
        made.append(
            AimlapiEmbedding(model=MODEL, api_key=api.api_key, base_url=api.base_url, **options)
        )
        return made[-1]

    yield make
    for embedding in made:
        embedding.close()
