"""The client-wide allowance of requests in flight: halves on a 429, grows back by one; one gate
for every thread, task and event loop of a client."""

from __future__ import annotations

import asyncio
import threading
import time

from aimlapi_embeddings._gate import Allowance, Gate, Slot, Stopped


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
    gate = Gate(2)
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
        gate = Gate(1)

        async def hold() -> None:
            async with gate.aslot():
                await asyncio.sleep(10)

        task = asyncio.ensure_future(hold())
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with gate.aslot():
            return gate.allowance.in_flight

    assert asyncio.run(scenario()) == 1


def test_a_task_cancelled_while_waiting_leaves_no_slot_taken() -> None:
    async def scenario() -> int:
        gate = Gate(1)
        async with gate.aslot():
            waiter = asyncio.ensure_future(gate.aslot().__aenter__())
            await asyncio.sleep(0.01)
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
        return gate.allowance.in_flight

    assert asyncio.run(scenario()) == 0


def test_one_gate_bounds_threads_and_event_loops_together() -> None:
    """Four event loops in four threads and four plain threads share one allowance of 2."""
    gate = Gate(2)
    peak = 0
    lock = threading.Lock()
    start = threading.Barrier(8)

    def note() -> None:
        nonlocal peak
        with lock:
            peak = max(peak, gate.allowance.in_flight)

    async def task_requests() -> None:
        for _ in range(3):
            async with gate.aslot():
                note()
                await asyncio.sleep(0.005)

    def in_a_loop() -> None:
        start.wait(timeout=5)
        asyncio.run(task_requests())

    def in_a_thread() -> None:
        start.wait(timeout=5)
        for _ in range(3):
            with gate.slot():
                note()
                time.sleep(0.005)

    threads = [threading.Thread(target=in_a_loop) for _ in range(4)]
    threads += [threading.Thread(target=in_a_thread) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert peak == 2, f"{peak} requests in flight at once with an allowance of 2"
    assert gate.allowance.in_flight == 0


def test_a_thread_waiting_for_a_slot_gives_up_when_its_call_stops() -> None:
    gate = Gate(1)
    stop = threading.Event()
    outcome: list[str] = []

    def wait_for_a_slot() -> None:
        try:
            with gate.slot(stop):
                outcome.append("entered")
        except Stopped:
            outcome.append("stopped")

    with gate.slot():
        thread = threading.Thread(target=wait_for_a_slot)
        thread.start()
        time.sleep(0.02)
        stop.set()
        thread.join(timeout=5)
        assert outcome == ["stopped"]
    assert gate.allowance.in_flight == 0
