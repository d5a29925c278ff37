"""How many requests a client may have in flight: `max_concurrency`, fewer after 429s.

One gate per client, for all its threads, tasks and event loops together: a thread waits on an
event, a task on a future of its own loop, and a freed slot is handed to the longest waiter
(woken with `call_soon_threadsafe` when it is a task), so no loop is ever blocked by another. A
sync call that blocks an event loop does not count that loop's slots (`seen_from_blocked_loop`).

Additive increase, multiplicative decrease, as TCP does: a 429 halves the allowance; a run of
successes as long as the allowance raises it by one, back up to `max_concurrency`. Requests over
the allowance wait for a slot instead of going out to meet another 429, so a rate-limited client
slows down as a whole and does not spend its retries on collisions with itself.
"""

from __future__ import annotations

import asyncio
import copy
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


Wake = Callable[[], bool]
"""Tells a waiter its slot is granted; False if the waiter is gone (its loop closed)."""
Loop = asyncio.AbstractEventLoop


class _Waiter:
    __slots__ = ("blocked", "loop", "wake")

    def __init__(self, wake: Wake, loop: Loop | None, blocked: Loop | None) -> None:
        self.wake = wake
        self.loop = loop  # the event loop of a task; None for a thread
        self.blocked = blocked  # the event loop a thread's call blocks, if any


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
        self._blocked: Loop | None = None

    def seen_from_blocked_loop(self, loop: Loop) -> Gate:
        """This gate (the same slots and waiters) for a sync call on the thread of `loop`.

        The call blocks `loop` (a notebook cell, a sync call in a coroutine): its tasks cannot
        free their slots until the call returns, so waiting for those slots would wait for ever.
        The call does not count them; every other slot of the client it does.
        """
        view = copy.copy(self)  # shares the lock, allowance, waiters and counts
        view._blocked = loop
        return view

    @contextmanager
    def slot(self, stop: threading.Event | None = None) -> Iterator[Slot]:
        """A slot for a thread; raises `Stopped` if `stop` is set while it waits."""
        granted = threading.Event()

        def wake() -> bool:
            granted.set()
            return True

        waiter = _Waiter(wake, None, self._blocked)
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
            self._leave(slot, None)

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
            self._leave(slot, loop)

    def _give_up_if_stuck(self, started: float) -> None:
        if self.patience is None:
            return
        waited = time.monotonic() - max(started, self.allowance.last_release)
        if waited > self.patience:
            msg = (
                f"no request of this client ended in {waited:.1f} s while this one waited to be "
                f"sent (max_concurrency={self.allowance.maximum}, timeout {self.patience:g} s): "
                "one in flight is stuck, as a task of a paused or blocked event loop would be"
            )
            raise APITimeoutError(msg)

    def _has_room(self, waiter: _Waiter) -> bool:
        held = self.allowance.in_flight
        if waiter.blocked is not None:
            held -= self._held.get(waiter.blocked, 0)
        return held < self.allowance.limit

    def _take(self, waiter: _Waiter) -> None:
        self.allowance.in_flight += 1
        if waiter.loop is not None:
            self._held[waiter.loop] = self._held.get(waiter.loop, 0) + 1

    def _enter_or_wait(self, waiter: _Waiter) -> bool:
        """Take a slot now (True) or queue for one (False)."""
        with self._lock:
            # Others waiting have no room; one that counts fewer slots may still have some.
            if (not self._waiting or waiter.blocked is not None) and self._has_room(waiter):
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
        self._leave(None, waiter.loop)

    def _leave(self, slot: Slot | None, loop: Loop | None) -> None:
        with self._lock:
            if slot is None:
                self.allowance.in_flight -= 1  # handed back unused: nothing ended
            else:
                self.allowance.settle(slot)
            if loop is not None:
                self._held[loop] -= 1
                if not self._held[loop]:
                    del self._held[loop]
            # In order, every waiter with room: behind one without, a thread that does not
            # count its blocked loop's slots may have room, and must not wait for that loop.
            woken: list[_Waiter] = []
            for waiter in list(self._waiting):
                if self._has_room(waiter):
                    self._waiting.remove(waiter)
                    self._take(waiter)
                    woken.append(waiter)
        for waiter in woken:
            if not waiter.wake():
                self._leave(None, waiter.loop)
