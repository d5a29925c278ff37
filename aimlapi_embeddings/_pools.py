"""The connection pools of one client: an `httpx.Client` for sync calls, an `AsyncClient` per
event loop, each leased by the calls that use it.

A call holds its pool for as long as it runs, so `close()` and `aclose()` never pull a pool from
under a call in another thread or task (httpx would raise a bare `RuntimeError` there): the pool
is retired at once and closed when its last call ends.

An AsyncClient belongs to its event loop and can only be closed on it. `asyncio.run()` announces
the end of its loop by shutting down async generators, which closes the pool
(`_close_at_loop_shutdown`). A loop outside the main thread often lives for a single call and is
closed without that (LlamaIndex's `asyncio_run`, asgiref's `async_to_sync`), leaving sockets no
one can close; so there a pool closes as soon as the loop's last call ends.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Generic, TypeVar

import httpx

C = TypeVar("C", httpx.Client, httpx.AsyncClient)


class _Lease(Generic[C]):
    """A pool and the calls using it; `retired` pools close when the last of them ends."""

    def __init__(self, client: C) -> None:
        self.client: C = client
        self.users = 0
        self.retired = False
        self.closed = False

    def release(self) -> bool:
        """One call ends; True if the pool must be closed now (by the caller, once)."""
        self.users -= 1
        return self.retire() if self.retired else False

    def retire(self) -> bool:
        """No new calls; True if the pool must be closed now (by the caller, once)."""
        self.retired = True
        if self.users or self.closed:
            return False
        self.closed = True
        return True


class _LoopLease(_Lease[httpx.AsyncClient]):
    def __init__(self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> None:
        super().__init__(client)
        self.loop = weakref.ref(loop)
        self.closer: AsyncIterator[None] | None = None

    def alive(self) -> bool:
        loop = self.loop()
        return loop is not None and not loop.is_closed()


class Pools:
    def __init__(
        self,
        new_client: Callable[[], httpx.Client],
        new_async_client: Callable[[], httpx.AsyncClient],
    ) -> None:
        self._new_client = new_client
        self._new_async_client = new_async_client
        self._lock = threading.Lock()
        self._sync: _Lease[httpx.Client] | None = None
        self._loops: dict[int, _LoopLease] = {}

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """The sync pool, for the duration of one call."""
        with self._lock:
            if self._sync is None:
                self._sync = _Lease(self._new_client())
            lease = self._sync
            lease.users += 1
        try:
            yield lease.client
        finally:
            with self._lock:
                close = lease.release()
            if close:
                lease.client.close()

    def close(self) -> None:
        """Retire the sync pool; it closes now, or when the calls using it end."""
        with self._lock:
            lease, self._sync = self._sync, None
            close = lease is not None and lease.retire()
        if close:
            assert lease is not None
            lease.client.close()

    @asynccontextmanager
    async def async_client(self) -> AsyncIterator[httpx.AsyncClient]:
        """The running loop's pool, for the duration of one call."""
        loop = asyncio.get_running_loop()
        with self._lock:
            for key in [key for key, lease in self._loops.items() if not lease.alive()]:
                # Closed without asyncio.run's shutdown (see `aclose`): nothing can close it now.
                del self._loops[key]
            lease = self._loops.get(id(loop))
            if lease is None or lease.loop() is not loop:
                lease = _LoopLease(loop, self._new_async_client())
                lease.retired = threading.current_thread() is not threading.main_thread()
                self._loops[id(loop)] = lease
            lease.users += 1
        if lease.closer is None and not lease.retired:
            lease.closer = _close_at_loop_shutdown(self, lease)
            await anext(lease.closer)
        try:
            yield lease.client
        finally:
            with self._lock:
                close = lease.release()
                if close and self._loops.get(id(loop)) is lease:
                    del self._loops[id(loop)]
            if close:
                await lease.client.aclose()

    async def aclose(self) -> None:
        """Retire the running loop's pool; it closes now, or when the calls using it end."""
        await self._retire_loop(asyncio.get_running_loop())

    async def _retire_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            lease = self._loops.get(id(loop))
            if lease is None or lease.loop() is not loop:
                return
            del self._loops[id(loop)]
            close = lease.retire()
        if close:
            await lease.client.aclose()


async def _close_at_loop_shutdown(pools: Pools, lease: _LoopLease) -> AsyncIterator[None]:
    # asyncio.run() calls loop.shutdown_asyncgens() before closing the loop, which runs this
    # finally: the pooled connections close while their loop can still close them.
    try:
        yield
    finally:
        loop = lease.loop()
        if loop is not None:
            await pools._retire_loop(loop)
