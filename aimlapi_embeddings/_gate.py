"""How many requests a client may have in flight: `max_concurrency`, fewer after 429s.

One gate per client, for all its threads, tasks and event loops together: a thread waits on an
event, a task on a future of its own loop, and a freed slot is handed to the longest waiter
(woken with `call_soon_threadsafe` when it is a task), so no loop is ever blocked by another.

Additive increase, multiplicative decrease, as TCP does: a 429 halves the allowance; a run of
successes as long as the allowance raises it by one, back up to `max_concurrency`. Requests over
the allowance wait for a slot instead of going out to meet another 429, so a rate-limited client
slows down as a whole and does not spend its retries on collisions with itself.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

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

    def has_room(self) -> bool:
        return self.in_flight < self.limit

    def settle(self, slot: Slot) -> None:
        self.in_flight -= 1
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


Wake = Callable[[], bool]
"""Tells a waiter its slot is granted; False if the waiter is gone (its loop closed)."""


class Gate:
    def __init__(self, maximum: int) -> None:
        self.allowance = Allowance(maximum)
        self._lock = threading.Lock()
        self._waiting: deque[Wake] = deque()

    @contextmanager
    def slot(self, stop: threading.Event | None = None) -> Iterator[Slot]:
        """A slot for a thread; raises `Stopped` if `stop` is set while it waits."""
        granted = threading.Event()

        def wake() -> bool:
            granted.set()
            return True

        if not self._enter_or_wait(wake):
            try:
                while not granted.wait(STOP_CHECK_INTERVAL if stop is not None else None):
                    if stop is not None and stop.is_set():
                        raise Stopped
            except BaseException:
                self._withdraw(wake)
                raise
        slot = Slot()
        try:
            yield slot
        finally:
            self._leave(slot)

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

        if not self._enter_or_wait(wake):
            try:
                await granted
            except BaseException:
                self._withdraw(wake)
                raise
        slot = Slot()
        try:
            yield slot
        finally:
            self._leave(slot)

    def _enter_or_wait(self, wake: Wake) -> bool:
        """Take a slot now (True) or queue for one (False)."""
        with self._lock:
            if not self._waiting and self.allowance.has_room():
                self.allowance.in_flight += 1
                return True
            self._waiting.append(wake)
            return False

    def _withdraw(self, wake: Wake) -> None:
        """A waiter gives up; a slot handed to it meanwhile goes back to the others."""
        with self._lock:
            try:
                self._waiting.remove(wake)
            except ValueError:
                pass  # already granted
            else:
                return
        self._leave(None)

    def _leave(self, slot: Slot | None) -> None:
        with self._lock:
            if slot is None:
                self.allowance.in_flight -= 1
            else:
                self.allowance.settle(slot)
            woken: list[Wake] = []
            while self._waiting and self.allowance.has_room():
                self.allowance.in_flight += 1
                woken.append(self._waiting.popleft())
        for wake in woken:
            if not wake():
                self._leave(None)
