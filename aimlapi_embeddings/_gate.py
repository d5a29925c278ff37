"""How many requests a client may have in flight: `max_concurrency`, fewer after 429s.

One gate per client, for all its threads, tasks and event loops together: a thread waits on an
event, a task on a future of its own loop, and a freed slot is handed to the longest waiter
(woken with `call_soon_threadsafe` when it is a task), so no loop is ever blocked by another.

The one request over `max_concurrency`: a sync call made on an event loop's thread (a notebook
cell, a sync stream read in a coroutine) blocks that loop while it waits, and the loop's tasks
cannot free their slots until it returns. When every slot in flight is held by such a stuck
task and the call has no request of its own in flight, waiting would wait for ever: the call
sends one request beyond the limit. Only while its caller is actually waiting for it
(`blocking`), never between a stream's chunks, when the loop runs and its tasks end.

Additive increase, multiplicative decrease, as TCP does: a 429 halves the allowance; a run of
successes as long as the allowance raises it by one, back up to `max_concurrency`. Requests over
the allowance wait for a slot instead of going out to meet another 429, so a rate-limited client
slows down as a whole and does not spend its retries on collisions with itself.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from ._errors import APITimeoutError

# How often a thread waiting for a slot looks whether its call was stopped.
STOP_CHECK_INTERVAL = 0.05


class Slot:
    """One request's place in flight; the shell marks it when the answer was a 429."""

    __slots__ = ("rate_limited",)

    def __init__(self) -> None:
        self.rate_limited = False


class Allowance:
    """The bookkeeping; callers hold the gate's lock."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self._successes = 0
        self.last_release = time.monotonic()

    def has_room(self) -> bool:
        return self.in_flight < self.limit

    def settle(self, slot: Slot) -> None:
        self.in_flight -= 1
        self.last_release = time.monotonic()
        if slot.rate_limited:
            self.limit = max(1, self.limit // 2)
            self._successes = 0
        elif self.limit < self.maximum:
            self._successes += 1
            if self._successes >= self.limit:
                self.limit += 1
                self._successes = 0


class Stopped(Exception):
    """The call a thread was waiting for a slot for has stopped."""


Loop = asyncio.AbstractEventLoop


class SyncCall:
    """One sync call's share of the gate: its requests in flight, and the event loop its caller
    blocks while it waits for them (None while the caller is away, or on a thread with no loop)."""

    __slots__ = ("blocks", "in_flight")

    def __init__(self) -> None:
        self.in_flight = 0
        self.blocks: Loop | None = None


Wake = Callable[[], bool]
"""Tells a waiter its slot is granted; False if the waiter is gone (its loop closed)."""


class _Waiter:
    __slots__ = ("call", "loop", "wake")

    def __init__(self, wake: Wake, loop: Loop | None, call: SyncCall | None) -> None:
        self.wake = wake
        self.loop = loop  # the event loop of a task; None for a thread
        self.call = call  # the sync call a thread's request belongs to, if any


class Gate:
    """`patience`: how long a waiter waits while no slot is freed at all before it gives up.

    Every request frees its slot within the timeout, so a gate where none was freed for that
    long has a holder that is stuck (a task of an event loop that is paused or blocked), and
    waiting on would wait for ever. None: wait as long as it takes.
    """

    def __init__(self, maximum: int, patience: float | None = None) -> None:
        self.patience = patience
        self.allowance = Allowance(maximum)
        self._lock = threading.Lock()
        self._waiting: deque[_Waiter] = deque()
        # The slots held by the tasks of each event loop.
        self._held: dict[Loop, int] = {}
        # The event loops blocked right now by a sync call waiting for its requests.
        self._blocked: dict[Loop, int] = {}

    @contextmanager
    def blocking(self, call: SyncCall) -> Iterator[None]:
        """The caller of `call` waits for its requests on this thread, blocking its event loop
        if it runs one: that loop's tasks cannot free their slots meanwhile."""
        try:
            loop: Loop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            yield
            return
        with self._lock:
            call.blocks = loop
            self._blocked[loop] = self._blocked.get(loop, 0) + 1
            woken = self._grant_waiters_with_room()
        self._wake(woken)
        try:
            yield
        finally:
            with self._lock:
                call.blocks = None
                self._blocked[loop] -= 1
                if not self._blocked[loop]:
                    del self._blocked[loop]

    @contextmanager
    def slot(
        self, stop: threading.Event | None = None, call: SyncCall | None = None
    ) -> Iterator[Slot]:
        """A slot for a thread of `call`; raises `Stopped` if `stop` is set while it waits."""
        granted = threading.Event()

        def wake() -> bool:
            granted.set()
            return True

        waiter = _Waiter(wake, None, call)
        if not self._enter_or_wait(waiter):
            started = time.monotonic()
            check = None if stop is None and self.patience is None else STOP_CHECK_INTERVAL
            try:
                while not granted.wait(check):
                    if stop is not None and stop.is_set():
                        raise Stopped
                    self._give_up_if_stuck(started)
            except BaseException:
                self._withdraw(waiter)
                raise
        slot = Slot()
        try:
            yield slot
        finally:
            self._leave(slot, waiter)

    @asynccontextmanager
    async def aslot(self) -> AsyncIterator[Slot]:
        """A slot for a task; waiting blocks only the task, never its event loop."""
        loop = asyncio.get_running_loop()
        granted = loop.create_future()

        def grant() -> None:
            if not granted.done():
                granted.set_result(None)

        def wake() -> bool:
            try:
                loop.call_soon_threadsafe(grant)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return False
            return True

        waiter = _Waiter(wake, loop, None)
        if not self._enter_or_wait(waiter):
            started = time.monotonic()
            try:
                while not granted.done():
                    await asyncio.wait({granted}, timeout=self.patience)
                    if not granted.done():
                        self._give_up_if_stuck(started)
            except BaseException:
                self._withdraw(waiter)
                raise
        slot = Slot()
        try:
            yield slot
        finally:
            self._leave(slot, waiter)

    def holding_through(self, seconds: float) -> None:
        """A slot's holder sleeps out a known pause (the throttle's, after a 429) before it
        sends: no slot is freed meanwhile, and that is no stuck holder. The patience of those
        waiting counts from the pause's end."""
        with self._lock:
            end = time.monotonic() + seconds
            self.allowance.last_release = max(self.allowance.last_release, end)

    def _give_up_if_stuck(self, started: float) -> None:
        if self.patience is None:
            return
        waited = time.monotonic() - max(started, self.allowance.last_release)
        if waited > self.patience:
            msg = (
                f"no request of this client ended in {waited:.1f} s while this one waited to be "
                f"sent (max_concurrency={self.allowance.maximum}; twice the timeout is "
                f"{self.patience:g} s): one in flight is stuck, as a task of a paused or blocked "
                "event loop would be"
            )
            raise APITimeoutError(msg)

    def _has_room(self, waiter: _Waiter) -> bool:
        allowance = self.allowance
        if allowance.in_flight < allowance.limit:
            return True
        # The one request over the limit (see the module's docstring): every slot in flight is
        # held by a task of a loop that a waiting sync call blocks, so none will be freed.
        call = waiter.call
        return (
            call is not None
            and call.blocks is not None
            and call.in_flight == 0
            and allowance.in_flight == sum(self._held.get(loop, 0) for loop in self._blocked)
        )

    def _take(self, waiter: _Waiter) -> None:
        self.allowance.in_flight += 1
        if waiter.loop is not None:
            self._held[waiter.loop] = self._held.get(waiter.loop, 0) + 1
        if waiter.call is not None:
            waiter.call.in_flight += 1

    def _enter_or_wait(self, waiter: _Waiter) -> bool:
        """Take a slot now (True) or queue for one (False)."""
        with self._lock:
            # Others waiting have no room; a blocked call's first request may still have some.
            if (not self._waiting or waiter.call is not None) and self._has_room(waiter):
                self._take(waiter)
                return True
            self._waiting.append(waiter)
            return False

    def _withdraw(self, waiter: _Waiter) -> None:
        """A waiter gives up; a slot handed to it meanwhile goes back to the others."""
        with self._lock:
            try:
                self._waiting.remove(waiter)
            except ValueError:
                pass  # already granted
            else:
                return
        self._leave(None, waiter)

    def _leave(self, slot: Slot | None, waiter: _Waiter) -> None:
        with self._lock:
            if slot is None:
                self.allowance.in_flight -= 1  # handed back unused: nothing ended
            else:
                self.allowance.settle(slot)
            if waiter.loop is not None:
                self._held[waiter.loop] -= 1
                if not self._held[waiter.loop]:
                    del self._held[waiter.loop]
            if waiter.call is not None:
                waiter.call.in_flight -= 1
            woken = self._grant_waiters_with_room()
        self._wake(woken)

    def _grant_waiters_with_room(self) -> list[_Waiter]:
        """In order, every waiter with room; the caller holds the lock and wakes them after.

        Behind one without room, a blocked call's first request may have some, and must not
        wait for a loop that cannot run."""
        woken: list[_Waiter] = []
        for waiter in list(self._waiting):
            if self._has_room(waiter):
                self._waiting.remove(waiter)
                self._take(waiter)
                woken.append(waiter)
        return woken

    def _wake(self, woken: list[_Waiter]) -> None:
        for waiter in woken:
            if not waiter.wake():
                self._leave(None, waiter)
