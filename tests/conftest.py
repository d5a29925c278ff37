"""Shared by every test: hermetic environment, loopback only, `live` only with a real key."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from aimlapi_embeddings import _transport, models

# Read before any test clears the environment: the live tests need the real key.
LIVE_API_KEY = os.environ.get("AIMLAPI_API_KEY", "").strip()


# The slowest files (Ray clusters in subprocesses, every model's 2,000-document contract):
# collected first, so that with pytest-xdist (--dist loadfile) they start first and do not run
# alone at the end while the other workers sit idle.
SLOWEST_FIRST = ("tests/ray_data/", "tests/contract/test_every_active_model.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def slow_rank(item: pytest.Item) -> int:
        path = item.nodeid
        return next(
            (rank for rank, start in enumerate(SLOWEST_FIRST) if path.startswith(start)),
            len(SLOWEST_FIRST),
        )

    items.sort(key=slow_rank)  # stable: the order within each group is kept
    if LIVE_API_KEY:
        return
    skip_live = pytest.mark.skip(reason="needs AIMLAPI_API_KEY")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip_live)


@pytest.fixture
def live_api_key() -> str:
    """The real key the session started with (the environment is cleared for every test)."""
    return LIVE_API_KEY


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
    """Fail any connection off this machine: proves nothing downloads (tokenizers, hubs)."""
    if request.node.get_closest_marker("live"):
        return
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not _is_loopback(host):
            msg = f"test tried to connect to {address!r}: tests may use loopback only"
            raise AssertionError(msg)
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(autouse=True)
def _fresh_model_warnings() -> Iterator[None]:
    """Model warnings fire once per process; each test starts as a new process would."""
    models._warned.clear()
    yield
    models._warned.clear()


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff keeps its shape (exponential, jittered) at a thousandth of the real delays."""
    monkeypatch.setattr(_transport, "INITIAL_RETRY_DELAY", 0.0005)
    monkeypatch.setattr(_transport, "MAX_RETRY_DELAY", 0.008)
