"""Fixtures for the LlamaIndex adapter's tests: hermetic, loopback-only, Settings restored."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Settings
from llama_index_fakes import FakeAPI

_HERE = Path(__file__).parent
# Read at import, before any fixture clears the environment: only the live tests use it.
_LIVE_API_KEY = os.environ.get("AIMLAPI_API_KEY", "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`live` tests of this directory run only with a real key."""
    if _LIVE_API_KEY:
        return
    skip_live = pytest.mark.skip(reason="needs AIMLAPI_API_KEY")
    for item in items:
        if "live" in item.keywords and _HERE in item.path.parents:
            item.add_marker(skip_live)


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, base URL or proxy from the machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith("AIMLAPI_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _loopback_only(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection off this machine: proves nothing downloads (tokenizers, hubs)."""
    if request.node.get_closest_marker("live"):
        return
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not _is_loopback(host):
            msg = f"test tried to connect to {address!r}: tests may use 127.0.0.1 only"
            raise AssertionError(msg)
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture
def live_api_key() -> str:
    return _LIVE_API_KEY


@pytest.fixture
def restore_settings() -> Iterator[None]:
    """LlamaIndex's Settings is process-wide: put back what the test changed."""
    saved = (Settings._embed_model, Settings._llm, Settings._transformations)
    yield
    Settings._embed_model, Settings._llm, Settings._transformations = saved


@pytest.fixture
def fake_api() -> FakeAPI:
    return FakeAPI()
