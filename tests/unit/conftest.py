from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from aimlapi_embeddings import EmbeddingResult, EmbeddingsClient, _transport

Embed = Callable[..., EmbeddingResult]


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff keeps its shape (exponential, jittered) at a thousandth of the real delays."""
    monkeypatch.setattr(_transport, "INITIAL_RETRY_DELAY", 0.0005)
    monkeypatch.setattr(_transport, "MAX_RETRY_DELAY", 0.008)


@pytest.fixture(params=["sync", "async"])
def embed(request: pytest.FixtureRequest) -> Embed:
    """Run a call through the sync shell or the async one: every transport test runs both."""

    def run(client: EmbeddingsClient, texts: Any, **options: Any) -> EmbeddingResult:
        if request.param == "sync":
            return client.embed(texts, **options)
        return asyncio.run(client.aembed(texts, **options))

    return run
