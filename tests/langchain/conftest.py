"""Fixtures for the LangChain adapter's tests: one emulator per module, pools closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings

MakeEmbeddings = Callable[..., AimlapiEmbeddings]


@pytest.fixture(scope="module")
def _module_emulator() -> Iterator[Emulator]:
    with Emulator(seed=0) as api:
        yield api


@pytest.fixture
def emulator(_module_emulator: Emulator) -> Emulator:
    """The module's emulator, with no faults and no records left by an earlier test."""
    _module_emulator.reset()
    return _module_emulator


@pytest.fixture
def closing() -> Iterator[Callable[[AimlapiEmbeddings], AimlapiEmbeddings]]:
    """Register embeddings whose sync connection pool must close when the test ends.

    A pool left to the garbage collector warns about open sockets during some later test (an
    error under filterwarnings=error), so every test closes what it opened.
    """
    made: list[AimlapiEmbeddings] = []

    def register(embeddings: AimlapiEmbeddings) -> AimlapiEmbeddings:
        made.append(embeddings)
        return embeddings

    yield register
    for embeddings in made:
        embeddings.close()


@pytest.fixture
def make_embeddings(
    emulator: Emulator, closing: Callable[[AimlapiEmbeddings], AimlapiEmbeddings]
) -> MakeEmbeddings:
    """Build `AimlapiEmbeddings` pointed at the emulator."""

    def make(**options: Any) -> AimlapiEmbeddings:
        options.setdefault("api_key", emulator.api_key)
        options.setdefault("base_url", emulator.base_url)
        return closing(AimlapiEmbeddings(**options))

    return make
