"""How many requests a client may have in flight: `max_concurrency`, fewer after 429s.

Additive increase, multiplicative decrease, as TCP does: a 429 halves the allowance; a run of
successes as long as the allowance raises it by one, back up to `max_concurrency`. Requests over
the allowance wait for a slot instead of going out to meet another 429, so a rate-limited client
slows down as a whole and does not spend its retries on collisions with itself.

One allowance per client for sync calls (threads), one per event loop for async calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager


class Slot:
    """One request's place in flight; the shell marks it when the answer was a 429."""

    __slots__ = ("rate_limited",)

    def __init__(self) -> None:
        self.rate_limited = False


class Allowance:
    """The bookkeeping, shared by both gates; callers hold the gate's lock."""

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


class SyncGate:
    def __init__(self, maximum: int) -> None:
        self.allowance = Allowance(maximum)
        self._changed = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        with self._changed:
            self._changed.wait_for(self.allowance.has_room)
            self.allowance.in_flight += 1
        slot = Slot()
        try:
            yield slot
        finally:
            with self._changed:
                self.allowance.settle(slot)
                self._changed.notify_all()


class AsyncGate:
    def __init__(self, maximum: int) -> None:
        self.allowance = Allowance(maximum)
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        async with self._changed:
            await self._changed.wait_for(self.allowance.has_room)
            self.allowance.in_flight += 1
        slot = Slot()
        try:
            yield slot
        finally:
            # Shielded: a cancelled request must still give its slot back.
            await asyncio.shield(self._release(slot))

    async def _release(self, slot: Slot) -> None:
        async with self._changed:
            self.allowance.settle(slot)
            self._changed.notify_all()
