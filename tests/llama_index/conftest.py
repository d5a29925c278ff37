"""Fixtures for the LlamaIndex adapter's tests: Settings restored, a fake API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_index.core import Settings
from llama_index_fakes import FakeAPI


@pytest.fixture
def restore_settings() -> Iterator[None]:
    """LlamaIndex's Settings is process-wide: put back what the test changed."""
    saved = (Settings._embed_model, Settings._llm, Settings._transformations)
    yield
    Settings._embed_model, Settings._llm, Settings._transformations = saved


@pytest.fixture
def fake_api() -> FakeAPI:
    return FakeAPI()
