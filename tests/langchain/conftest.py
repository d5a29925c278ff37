"""Fixtures for the LangChain adapter's tests: hermetic, loopback-only, one emulator per module."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aimlapi_embeddings import _transport
from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings

MakeEmbeddings = Callable[..., AimlapiEmbeddings]

_HERE = Path(__file__).parent
# Read at import, before any fixture clears the environment: only the live tests use it.
_LIVE_API_KEY = os.environ.get("AIMLAPI_API_KEY", "").strip()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`live` tests of this directory run only with a real key."""
    if _LIVE_API_KEY:
        return
    skip_live = pytest.mark.skip(reason="needs AIMLAPI_API_KEY")
    for item in items:
        if "live" in item.keywords and _HERE in item.path.parents:
            item.add_marker(skip_live)


@pytest.fixture
def live_api_key() -> str:
    """The real key the session started with (the environment is cleared for every test)."""
    return _LIVE_API_KEY


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, base URL or proxy from the machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith("AIMLAPI_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _loopback_only(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection off this machine: proves that nothing downloads (tokenizers, hubs)."""
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


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries keep their shape at a thousandth of the real delays."""
    monkeypatch.setattr(_transport, "INITIAL_RETRY_DELAY", 0.0005)
    monkeypatch.setattr(_transport, "MAX_RETRY_DELAY", 0.008)


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
