"""The socket layer under the sync client: each request is bounded as a whole, and gives up as
soon as its call stops.

httpx's `timeout` bounds each socket operation, so a server that sends a byte every half second
holds a request for as long as it likes. The async shell bounds a whole attempt with
`asyncio.wait_for`; a thread cannot be cancelled, so the sync shell marks the attempt it runs
(`attempt(...)`), and `guard(client)` puts a layer under httpx's connection pools that clamps
every connect, read and write to that attempt's deadline. While a call has other requests in
flight, reads wait in short slices and give up once the call is stopped (a failure elsewhere,
Ctrl-C), so its threads end at once instead of when the server answers.

httpx offers no public way to reach its pools' network backend: `guard` sets httpcore's
`_network_backend` of each pool it finds, and leaves a pool it does not recognise as it is.
"""

from __future__ import annotations

import ssl
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

# How often a read of a call with requests in flight elsewhere looks whether the call stopped.
STOP_CHECK_INTERVAL = 0.1


@dataclass(frozen=True, slots=True)
class _Attempt:
    deadline: float | None
    """`time.monotonic()` by which the request must be over; None: no bound."""
    stop: threading.Event | None

    def wait(self, timeout: float | None, error: type[Exception], *, slices: bool) -> float | None:
        """`timeout` cut to what is left of the attempt; raises once it is over or stopped."""
        if self.stop is not None and self.stop.is_set():
            raise httpcore.ReadError("the call was stopped")
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise error("the request took longer than its timeout")
            timeout = left if timeout is None else min(timeout, left)
        if slices and self.stop is not None:
            timeout = STOP_CHECK_INTERVAL if timeout is None else min(timeout, STOP_CHECK_INTERVAL)
        return timeout


_current: ContextVar[_Attempt | None] = ContextVar("aimlapi_embeddings_attempt", default=None)


@contextmanager
def attempt(seconds: float | None, stop: threading.Event | None) -> Iterator[None]:
    """Bound the socket operations of this thread's request to `seconds` from now and `stop`."""
    deadline = None if seconds is None else time.monotonic() + seconds
    token = _current.set(_Attempt(deadline, stop))
    try:
        yield
    finally:
        _current.reset(token)


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    current = _current.get()
    return timeout if current is None else current.wait(timeout, error, slices=False)


class _GuardedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        _streams.add(self)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        current = _current.get()
        if current is None:
            return self._stream.read(max_bytes, timeout)
        # The socket's own timeout still holds for each read, counted across the slices.
        give_up = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if give_up is None else give_up - time.monotonic()
            if left is not None and left <= 0:
                raise httpcore.ReadTimeout("no data within the read timeout")
            wait = current.wait(left, httpcore.ReadTimeout, slices=True)
            try:
                return self._stream.read(max_bytes, wait)
            except httpcore.ReadTimeout:
                continue  # a slice ended: look at the stop, the deadline and the read timeout

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        return _GuardedStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _GuardedStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        return _GuardedStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def guard(client: httpx.Client) -> httpx.Client:
    """Put the guarded socket layer under every connection pool of `client`."""
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(
            backend, _GuardedBackend
        ):
            pool._network_backend = _GuardedBackend(backend)  # type: ignore[union-attr]
    return client


# Every socket the guarded layer opened and has not yet dropped.
_streams: weakref.WeakSet[_GuardedStream] = weakref.WeakSet()


def close_inherited_sockets() -> None:
    """In a forked child: close this process's copies of the parent's pooled sockets.

    Closing a copy sends nothing: the parent's connections carry on, and end when the parent
    closes them. The pools that held them are dropped unused, since a thread of the parent that
    does not exist here may hold their locks.
    """
    for stream in list(_streams):
        sock = stream.get_extra_info("socket")
        if sock is not None:
            sock.close()
    _streams.clear()
