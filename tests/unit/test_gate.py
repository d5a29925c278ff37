"""The client-wide allowance of requests in flight: halves on a 429, grows back by one; one gate
for every thread, task and event loop of a client."""

from __future__ import annotations

import asyncio
import threading
import time

from aimlapi_embeddings import APITimeoutError
from aimlapi_embeddings._gate import Allowance, Gate, Slot, Stopped, SyncCall


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


def _a_thread_holds_a_slot(gate: Gate, release: threading.Event) -> threading.Thread:
    holding = threading.Event()

    def hold() -> None:
        with gate.slot():
            holding.set()
            release.wait(timeout=10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(timeout=5)
    return thread


def _sends_now(gate: Gate, call: SyncCall) -> bool:
    """Whether a request of `call` gets a slot at once (one that waits gives up, `Stopped`)."""
    stop = threading.Event()
    stop.set()
    try:
        with gate.slot(stop, call):
            return True
    except Stopped:
        return False


async def _a_task_holds_slots(gate: Gate, count: int) -> list[asyncio.Task[None]]:
    entered = asyncio.Semaphore(0)

    async def hold() -> None:
        async with gate.aslot():
            entered.release()
            await asyncio.sleep(10)

    tasks = [asyncio.ensure_future(hold()) for _ in range(count)]
    for _ in range(count):
        await entered.acquire()
    return tasks


def test_a_call_blocking_its_loop_still_waits_for_slots_that_other_holders_free() -> None:
    """max 2: a plain thread holds one slot, a task of the loop the call blocks the other. The
    thread's slot will be freed, so the call waits for it: nothing goes over the limit."""
    gate = Gate(2)
    release = threading.Event()
    other = _a_thread_holds_a_slot(gate, release)
    outcome: list[bool] = []

    async def cell() -> None:
        tasks = await _a_task_holds_slots(gate, 1)
        call = SyncCall()
        with gate.blocking(call):
            outcome.append(_sends_now(gate, call))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(cell())
    release.set()
    other.join(timeout=5)
    assert outcome == [False]
    assert gate.allowance.in_flight == 0


def test_a_call_blocking_the_loop_that_holds_every_slot_sends_one_request_beyond() -> None:
    """max 2, both slots held by tasks of the loop the call blocks: they cannot end until the
    call returns, so its first request goes out (3 in flight); its second waits for the first,
    as a call does that is not blocking (its caller away between a stream's chunks)."""
    gate = Gate(2)
    outcome: list[object] = []

    async def cell() -> None:
        tasks = await _a_task_holds_slots(gate, 2)
        call = SyncCall()
        outcome.append(_sends_now(gate, call))  # not blocking yet: the loop runs
        with gate.blocking(call), gate.slot(None, call):
            outcome.append(gate.allowance.in_flight)
            outcome.append(_sends_now(gate, call))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(cell())
    assert outcome == [False, 3, False]
    assert gate.allowance.in_flight == 0


def test_a_request_waiting_when_its_caller_starts_blocking_the_loop_is_sent() -> None:
    """A stream's request waits while its reader is away (the loop runs, its task holds the
    only slot); when the reader comes back and blocks the loop, the request goes out."""
    gate = Gate(1)
    call = SyncCall()
    sent = threading.Event()

    def request() -> None:
        with gate.slot(None, call):
            sent.set()

    async def cell() -> None:
        tasks = await _a_task_holds_slots(gate, 1)
        flow = threading.Thread(target=request)
        flow.start()
        await asyncio.sleep(0.05)
        assert not sent.is_set()  # the reader is away: the loop's task can still end
        with gate.blocking(call):
            assert sent.wait(timeout=5)
        flow.join(timeout=5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(cell())
    assert gate.allowance.in_flight == 0


def test_a_waiter_gives_up_when_no_slot_is_freed_for_longer_than_its_patience() -> None:
    """A holder that never frees its slot (a task of a paused loop): waiting threads and tasks
    end with APITimeoutError instead of waiting for ever, and leave no slot taken."""
    gate = Gate(1, patience=0.2)
    outcome: list[str] = []

    def wait_in_a_thread() -> None:
        try:
            with gate.slot():
                outcome.append("entered")
        except APITimeoutError:
            outcome.append("thread gave up")

    async def wait_in_a_task() -> None:
        try:
            async with gate.aslot():
                outcome.append("entered")
        except APITimeoutError:
            outcome.append("task gave up")

    with gate.slot():  # held throughout
        thread = threading.Thread(target=wait_in_a_thread)
        thread.start()
        asyncio.run(asyncio.wait_for(wait_in_a_task(), timeout=10))
        thread.join(timeout=10)
        assert gate.allowance.in_flight == 1
    assert sorted(outcome) == ["task gave up", "thread gave up"]
    assert gate.allowance.in_flight == 0


def test_a_waiter_behind_requests_that_keep_ending_waits_past_its_patience() -> None:
    """Slots freed one after the other, each well within the patience: the last waiter waits
    longer than the patience in all, and still gets its slot."""
    gate = Gate(1, patience=1.0)
    entered: list[int] = []
    errors: list[BaseException] = []

    def request(number: int) -> None:
        try:
            with gate.slot():
                time.sleep(0.05)
                entered.append(number)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=request, args=(number,)) for number in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(entered) == 30


def test_a_holder_sleeping_out_a_known_pause_is_not_taken_for_stuck() -> None:
    """After a 429 the throttle pauses the whole client, and a request that holds its slot
    sleeps the pause out before it sends: longer than the waiters' patience, with nothing
    stuck. Waiters count their patience from the pause's end (every concurrent call failed
    with "one in flight is stuck" when a Retry-After outlasted twice the timeout)."""
    gate = Gate(1, patience=0.2)
    outcome: list[str] = []
    holding = threading.Event()

    def hold_through_a_pause() -> None:
        with gate.slot():
            gate.holding_through(0.6)
            holding.set()
            time.sleep(0.6)

    def wait_for_the_slot() -> None:
        try:
            with gate.slot():
                outcome.append("entered")
        except APITimeoutError:
            outcome.append("gave up")

    holder = threading.Thread(target=hold_through_a_pause)
    holder.start()
    assert holding.wait(timeout=5)
    waiter = threading.Thread(target=wait_for_the_slot)
    waiter.start()
    holder.join(timeout=10)
    waiter.join(timeout=10)
    assert outcome == ["entered"]
    assert gate.allowance.in_flight == 0
