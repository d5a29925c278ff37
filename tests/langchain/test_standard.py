"""LangChain's standard embeddings suites: unit (construction) and integration (the emulator)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings


class TestAimlapiEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[AimlapiEmbeddings]:
        return AimlapiEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "text-embedding-3-small", "api_key": "sk-unit-test"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"AIMLAPI_API_KEY": "sk-from-env", "AIMLAPI_BASE_URL": "https://example.test/v1"},
            {"model": "text-embedding-3-large"},
            {"aimlapi_api_key": "sk-from-env", "base_url": "https://example.test/v1"},
        )


class TestAimlapiEmbeddingsIntegration(EmbeddingsIntegrationTests):
    """The whole integration suite over real loopback HTTP, against the emulator."""

    emulator: Emulator

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _emulator(cls) -> Iterator[None]:
        with Emulator() as api:
            cls.emulator = api
            yield

    @pytest.fixture
    def model(  # the suite's own fixture, plus closing the pool when the test ends
        self, closing: Callable[[AimlapiEmbeddings], AimlapiEmbeddings]
    ) -> AimlapiEmbeddings:
        return closing(AimlapiEmbeddings(**self.embedding_model_params))

    @property
    def embeddings_class(self) -> type[AimlapiEmbeddings]:
        return AimlapiEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {
            "model": "text-embedding-3-small",
            "api_key": self.emulator.api_key,
            "base_url": self.emulator.base_url,
        }
