"""Hermetic tests: no key, base URL or proxy leaks in from the machine; `live` needs a real key."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from aimlapi_embeddings import models

# Read before any test clears the environment: the live tests need the real key.
LIVE_API_KEY = os.environ.get("AIMLAPI_API_KEY", "")

_CLEARED = (
    "AIMLAPI_API_KEY",
    "AIMLAPI_BASE_URL",
    "AIMLAPI_API_BASE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if LIVE_API_KEY:
        return
    skip_live = pytest.mark.skip(reason="needs AIMLAPI_API_KEY")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip_live)


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _fresh_model_warnings() -> Iterator[None]:
    """Model warnings fire once per process; each test starts as a new process would."""
    models._warned.clear()
    yield
    models._warned.clear()


@pytest.fixture
def live_api_key() -> str:
    return LIVE_API_KEY
