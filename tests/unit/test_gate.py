"""The client-wide allowance of requests in flight: halves on a 429, grows back by one."""

from __future__ import annotations

import asyncio
import threading
import time

from aimlapi_embeddings._gate import Allowance, AsyncGate, Slot, SyncGate


def settle(allowance: Allowance, *, rate_limited: bool) -> None:
    slot = Slot()
    slot.rate_limited = rate_limited
    allowance.in_flight += 1
    allowance.settle(slot)


def test_a_429_halves_the_allowance_and_successes_win_it_back() -> None:
    allowance = Allowance(8)
    settle(allowance, rate_limited=True)
    assert allowance.limit == 4
    settle(allowance, rate_limited=True)
    settle(allowance, rate_limited=True)
    settle(allowance, rate_limited=True)
    assert allowance.limit == 1, "never below one"
    limits = []
    for _ in range(1 + 2 + 3 + 4 + 5 + 6 + 7):
        settle(allowance, rate_limited=False)
        limits.append(allowance.limit)
    assert limits[0] == 2, "one success at limit 1 raises it to 2"
    assert limits[-1] == 8, "back to the maximum after a run of successes per step"
    settle(allowance, rate_limited=False)
    assert allowance.limit == 8, "never above the maximum"


def test_the_sync_gate_holds_requests_over_the_allowance() -> None:
    gate = SyncGate(2)
    peak = 0
    lock = threading.Lock()

    def request() -> None:
        nonlocal peak
        with gate.slot():
            with lock:
                peak = max(peak, gate.allowance.in_flight)
            time.sleep(0.01)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert peak == 2
    assert gate.allowance.in_flight == 0


def test_a_cancelled_async_request_gives_its_slot_back() -> None:
    async def scenario() -> int:
        gate = AsyncGate(1)

        async def hold() -> None:
            async with gate.slot():
                await asyncio.sleep(10)

        task = asyncio.ensure_future(hold())
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with gate.slot():
            return gate.allowance.in_flight

    assert asyncio.run(scenario()) == 1
