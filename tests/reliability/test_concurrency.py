"""One instance shared by threads, event loops and tasks; cancellation; a server that hangs.

Every route (core, LangChain, LlamaIndex; sync and async) must give, under concurrent use, the
same vectors as sequential calls; a cancelled async call must leave no task and no connection
behind; a call to a server that stops answering must end within its timeout and retries.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from aimlapi_embeddings import APITimeoutError, EmbeddingResult, EmbeddingsClient, _transport
from aimlapi_embeddings.testing import Emulator

from .conftest import DIMS, MODEL, ROUTES, Closer, expected, make_route

THREADS = 8


def texts_for(worker: int, count: int = 24) -> list[str]:
    return [f"worker {worker} text {i} about topic {i % 5}" for i in range(count)]


@pytest.mark.parametrize("route_name", ROUTES)
def test_one_instance_from_8_threads_at_once_matches_sequential_calls(
    route_name: str, closing: Closer
) -> None:
    """Async routes run `asyncio.run` in each thread: eight event loops share one instance."""
    with Emulator(latency=0.02) as api:
        route = make_route(route_name, api, closing, batch_size=6, max_concurrency=4)
        sequential = {worker: route.embed(texts_for(worker)) for worker in range(THREADS)}
        api.clear()
        start = threading.Barrier(THREADS)

        def work(worker: int) -> list[list[list[float]]]:
            start.wait(timeout=10)
            return [route.embed(texts_for(worker)) for _ in range(3)]

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(work, range(THREADS)))
        peak = api.peak_concurrency
    for worker, rounds in enumerate(results):
        for number, vectors in enumerate(rounds):
            assert vectors == sequential[worker], (
                f"{route_name}: thread {worker}, call {number}: vectors differ from the "
                "sequential call's (mixed up between threads?)"
            )
    assert sequential[0] == [expected(text) for text in texts_for(0)], f"{route_name}: wrong"
    assert peak >= 2, f"{route_name}: no two requests ever overlapped; the threads never raced"


ASYNC_ROUTES = [name for name in ROUTES if name.endswith("async")]


@pytest.mark.parametrize("route_name", ASYNC_ROUTES)
def test_many_concurrent_tasks_on_one_instance_match_sequential_calls(
    route_name: str, closing: Closer
) -> None:
    tasks = 40
    with Emulator(latency=0.01) as api:
        route = make_route(route_name, api, closing, batch_size=5, max_concurrency=3)
        embed = async_embed(route_name, route.target, batch_size=5)

        async def scenario() -> tuple[list[list[list[float]]], list[list[list[float]]]]:
            sequential = [await embed(texts_for(task, 12)) for task in range(tasks)]
            concurrent = await asyncio.gather(
                *(embed(texts_for(task, 12)) for task in range(tasks))
            )
            return sequential, list(concurrent)

        sequential, concurrent = asyncio.run(scenario())
        peak = api.peak_concurrency
    for task in range(tasks):
        assert concurrent[task] == sequential[task], (
            f"{route_name}: task {task}'s vectors differ from its sequential call's"
        )
        assert sequential[task] == [expected(text) for text in texts_for(task, 12)]
    assert peak >= 2, f"{route_name}: no two requests ever overlapped; the tasks never raced"


def async_embed(
    route_name: str, target: Any, *, batch_size: int
) -> Callable[[list[str]], Awaitable[Any]]:
    """The bare coroutine function of an async route, to use inside one running loop; the
    adapters were built with the same `batch_size`."""
    kind = route_name.split("-")[0]
    if kind == "core":

        async def core(texts: list[str]) -> list[list[float]]:
            result: EmbeddingResult = await target.aembed(
                texts, dimensions=DIMS, batch_size=batch_size
            )
            return result.vectors

        return core
    if kind == "langchain":
        return target.aembed_documents  # type: ignore[no-any-return]
    return target.aget_text_embedding_batch  # type: ignore[no-any-return]


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll `condition` on the running loop (the emulator runs on its own thread)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.01)


def core_of(route_name: str, target: Any) -> EmbeddingsClient:
    client = target if route_name.startswith("core") else target._client
    assert isinstance(client, EmbeddingsClient), f"{route_name}: no core client inside"
    return client


def client_sockets_to(port: int) -> int | None:
    """Open sockets of this process connected to `port` on loopback; None off Linux."""
    if not os.path.exists("/proc/net/tcp"):
        return None
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if remote_port == port and fields[9] in inodes:
                    count += 1
    return count


@pytest.mark.parametrize("route_name", ASYNC_ROUTES)
def test_cancelling_an_async_call_leaves_no_task_or_connection_and_the_instance_works(
    route_name: str, closing: Closer
) -> None:
    with Emulator(latency=0.6) as api:
        route = make_route(route_name, api, closing, batch_size=1, max_concurrency=4)
        embed = async_embed(route_name, route.target, batch_size=1)
        client = core_of(route_name, route.target)
        texts = texts_for(0, 8)

        async def scenario() -> dict[str, Any]:
            call = asyncio.ensure_future(embed(texts))
            await until(lambda: api.in_flight >= 4)
            in_flight = api.in_flight
            sockets_before = client_sockets_to(api.port)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            # Children cancelled along with the call may take a loop turn or two to finish.
            await asyncio.sleep(0.05)
            left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            transport = client._pools._loops[id(asyncio.get_running_loop())].client._transport
            assert isinstance(transport, httpx.AsyncHTTPTransport), "not httpx's own transport"
            pool = transport._pool
            busy = [conn for conn in pool.connections if not conn.is_idle()]
            idle = len(pool.connections) - len(busy)
            sockets = client_sockets_to(api.port)
            after = await embed(["after the cancel"])
            return {
                "in_flight": in_flight,
                "sockets_before": sockets_before,
                "left": left,
                "busy": busy,
                "idle": idle,
                "sockets": sockets,
                "after": after,
            }

        started = time.monotonic()
        seen = asyncio.run(scenario())
        elapsed = time.monotonic() - started
    assert seen["in_flight"] >= 1, f"{route_name}: the call was never in flight when cancelled"
    assert not seen["left"], f"{route_name}: tasks left pending after the cancel: {seen['left']}"
    assert not seen["busy"], f"{route_name}: connections still mid-request: {seen['busy']}"
    if seen["sockets"] is not None:
        assert seen["sockets_before"] >= seen["in_flight"], (
            f"{route_name}: the socket count saw {seen['sockets_before']} sockets for "
            f"{seen['in_flight']} requests in flight; it cannot tell a leak"
        )
        assert seen["sockets"] <= seen["idle"], (
            f"{route_name}: {seen['sockets']} sockets still open to the server for "
            f"{seen['idle']} idle pooled connection(s): the cancelled requests' connections leaked"
        )
    assert seen["after"] == [expected("after the cancel")], f"{route_name}: broken after cancel"
    assert elapsed < 0.6 * 2 + 2, (
        f"{route_name}: the cancel did not stop the call ({elapsed:.1f} s)"
    )


def test_a_cancelled_core_call_ends_its_tasks_at_once_and_the_server_sees_it() -> None:
    """No request task outlives the cancelled call, and the emulator sees every request end."""
    with Emulator(latency=0.4) as api:
        client = EmbeddingsClient(api_key=api.api_key, base_url=api.base_url, max_concurrency=4)

        async def scenario() -> None:
            call = asyncio.ensure_future(client.aembed(texts_for(1, 8), batch_size=1))
            await until(lambda: api.in_flight >= 4)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            # The core waits for every request task it started before the cancel propagates.
            left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            assert not left, f"the core's request tasks outlived the cancelled call: {left}"

        asyncio.run(scenario())
        deadline = time.monotonic() + 5
        while api.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        assert api.in_flight == 0, f"{api.in_flight} requests still being served 5 s later"
        sockets = client_sockets_to(api.port)
        assert sockets in (0, None), f"{sockets} client sockets still open after asyncio.run"


# ---- a server that stops answering --------------------------------------------------------------


def hang_bound(timeout: float, retries: int) -> tuple[float, float]:
    """(least, most) seconds a call may take when every attempt times out."""
    backoff = sum(
        min(_transport.INITIAL_RETRY_DELAY * 2.0**attempt, _transport.MAX_RETRY_DELAY)
        for attempt in range(retries)
    )
    attempts = retries + 1
    # Slack: thread and loop scheduling on a busy machine, the emulator's accept.
    return attempts * timeout * 0.9, attempts * timeout + backoff + 1.0


@pytest.mark.parametrize("route_name", ROUTES)
def test_a_server_that_stops_answering_ends_the_call_within_timeout_and_retries(
    route_name: str, closing: Closer
) -> None:
    timeout, retries = 0.3, 1
    least, most = hang_bound(timeout, retries)
    with Emulator(hang_rate=1.0, hang_seconds=30.0) as api:
        route = make_route(
            route_name, api, closing, batch_size=1, max_retries=retries, timeout=timeout
        )
        texts = ["first", "second", "third"] if route_name.startswith("core") else ["only"]
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            route.embed(texts)
        elapsed = time.monotonic() - started
        attempts = len(api.requests)
    assert least <= elapsed <= most, (
        f"{route_name}: a hung server ended the call after {elapsed:.2f} s; with timeout "
        f"{timeout} s and {retries} retry the bound is {least:.2f}..{most:.2f} s"
    )
    assert attempts == (retries + 1) * len(texts), (
        f"{route_name}: {attempts} attempts for {len(texts)} request(s) x {retries + 1}"
    )
    assert "did not answer in time" in str(info.value), f"unclear message: {info.value}"


def test_a_hung_server_with_the_default_timeout_is_still_bounded_by_the_settings() -> None:
    """The bound is the client's own: a timeout given as httpx.Timeout(read=...) is obeyed."""
    with Emulator(hang_rate=1.0, hang_seconds=30.0) as api:
        client = EmbeddingsClient(
            api_key=api.api_key,
            base_url=api.base_url,
            max_retries=0,
            timeout=httpx.Timeout(10.0, read=0.4),
        )
        started = time.monotonic()
        with client, pytest.raises(APITimeoutError):
            client.embed(["one"], model=MODEL)
        elapsed = time.monotonic() - started
    assert 0.35 <= elapsed <= 1.5, f"read timeout 0.4 s, the call took {elapsed:.2f} s"
