from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from aimlapi_embeddings import EmbeddingResult, EmbeddingsClient

Embed = Callable[..., EmbeddingResult]


@pytest.fixture(params=["sync", "async"])
def embed(request: pytest.FixtureRequest) -> Embed:
    """Run a call through the sync shell or the async one: every transport test runs both."""

    def run(client: EmbeddingsClient, texts: Any, **options: Any) -> EmbeddingResult:
        if request.param == "sync":
            return client.embed(texts, **options)
        return asyncio.run(client.aembed(texts, **options))

    return run
