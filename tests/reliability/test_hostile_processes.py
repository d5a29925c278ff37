"""Processes and lifecycles: forks, Ctrl-C, close() during a call, throwaway event loops.

Against hostile loopback servers (tests/hostile.py) that hold requests open and count who
connects on which socket.
"""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import select
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fakes import vector_for
from hostile import (
    Connection,
    Handler,
    HostileServer,
    Request,
    answer_embeddings,
    embeddings,
)
from llama_index.core.async_utils import asyncio_run

from aimlapi_embeddings import APITimeoutError, EmbeddingsClient
from llama_index_aimlapi import AimlapiEmbedding

KEY = "aiml-sk-processes-5Gq8Rt2Yw"
MODEL = "text-embedding-3-small"
DIMS = 8

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def client_for(server: HostileServer, **options: Any) -> EmbeddingsClient:
    return EmbeddingsClient(api_key=KEY, base_url=server.base_url, **options)


def embed(client: EmbeddingsClient, texts: list[str], **options: Any) -> list[list[float]]:
    return client.embed(texts, model=MODEL, dimensions=DIMS, **options).vectors


def right(texts: list[str]) -> list[list[float]]:
    return [vector_for(text, DIMS) for text in texts]


def holding(texts: list[str], release: threading.Event) -> Handler:
    """A server that holds the request for `texts` until `release` and answers the rest."""

    def answer(request: Request, connection: Connection) -> None:
        if request.texts == texts:
            connection.hold(release)
        answer_embeddings(request, connection)

    return answer


def in_a_forked_child(work: Callable[[], object], timeout: float = 10.0) -> tuple[str, object]:
    """Run `work` in a forked child: ("ok", result), ("error", text) or ("hung", None)."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "fork() with threads" (3.12+)
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            os.close(read_end)
            try:
                payload: tuple[str, object] = ("ok", work())
            except BaseException as exc:
                payload = ("error", f"{type(exc).__name__}: {exc}")
            data = pickle.dumps(payload)
            while data:
                data = data[os.write(write_end, data) :]
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([read_end], [], [], 0.05)
            if ready:
                chunk = os.read(read_end, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        else:
            os.kill(pid, signal.SIGKILL)
            return ("hung", None)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    return pickle.loads(b"".join(chunks)) if chunks else ("error", "the child said nothing")


def test_a_forked_child_opens_its_own_connections_and_gets_its_own_vectors() -> None:
    """Parent and child must never share a pooled socket: their answers would cross."""
    with HostileServer() as server:
        client = client_for(server)
        assert embed(client, ["parent, before the fork"]) == right(["parent, before the fork"])
        parents_connections = {request.connection for request in server.requests}
        outcome = in_a_forked_child(lambda: embed(client, ["child"]))
        child_request = server.requests[-1]
        assert outcome == ("ok", right(["child"])), f"the child got {outcome}"
        assert child_request.texts == ["child"]
        assert child_request.connection not in parents_connections, (
            "the child sent its request on a socket of the parent's pool"
        )
        assert embed(client, ["parent, after"]) == right(["parent, after"])
        client.close()


def test_a_child_forked_while_a_request_is_in_flight_does_not_hang() -> None:
    """The parent's slot in flight must not exist in the child (max_concurrency=1)."""
    release = threading.Event()
    with HostileServer(holding(["held"], release)) as server:
        client = client_for(server, max_concurrency=1)
        results: list[Any] = []
        parent = threading.Thread(target=lambda: results.append(embed(client, ["held"])))
        parent.start()
        try:
            assert server.wait_for(lambda: len(server.requests) == 1), "no request in flight"
            outcome = in_a_forked_child(lambda: embed(client, ["child"]), timeout=10)
        finally:
            release.set()
            parent.join(timeout=10)
        assert outcome == ("ok", right(["child"])), f"the child: {outcome}"
        assert results == [right(["held"])], "the parent's call broke"
        client.close()


@contextmanager
def sigint_raises_keyboard_interrupt() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("aimlapi-embed")]


def test_ctrl_c_in_a_sync_call_ends_its_requests_and_threads_at_once() -> None:
    release = threading.Event()

    def never_answer(request: Request, connection: Connection) -> None:
        connection.hold(release)

    with HostileServer(never_answer) as server, sigint_raises_keyboard_interrupt():
        client = client_for(server, max_concurrency=4, timeout=20, max_retries=0)
        main = threading.main_thread().ident
        assert main is not None

        def interrupt_when_all_are_in_flight() -> None:
            if server.wait_for(lambda: len(server.requests) == 4):
                signal.pthread_kill(main, signal.SIGINT)

        interrupter = threading.Thread(target=interrupt_when_all_are_in_flight)
        interrupter.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                embed(client, [f"text {i}" for i in range(4)], batch_size=1)
            ended = server.wait_for(lambda: not worker_threads(), timeout=3)
            closed = server.wait_for(lambda: server.open_connections == 0, timeout=3)
        finally:
            release.set()
            interrupter.join(timeout=10)
            client.close()
    assert ended, f"threads still waiting on the server after Ctrl-C: {worker_threads()}"
    assert closed, "the interrupted requests' connections are still open"


def test_close_from_another_thread_lets_a_sync_call_in_flight_finish() -> None:
    release = threading.Event()
    with HostileServer(holding(["first"], release)) as server:
        client = client_for(server, max_concurrency=1)
        results: list[Any] = []

        def call() -> None:
            try:
                results.append(embed(client, ["first", "second"], batch_size=1))
            except BaseException as exc:
                results.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        assert server.wait_for(lambda: len(server.requests) == 1)
        client.close()
        release.set()
        caller.join(timeout=10)
        assert results == [right(["first", "second"])], f"the call in flight got {results}"
        assert embed(client, ["after close"]) == right(["after close"]), "no pool after close()"
        client.close()
        assert server.wait_for(lambda: server.open_connections == 0), "close() closed nothing"


def test_aclose_from_another_task_lets_an_async_call_in_flight_finish() -> None:
    release = threading.Event()
    with HostileServer(holding(["first"], release)) as server:
        client = client_for(server, max_concurrency=1)

        async def scenario() -> list[list[float]]:
            call = asyncio.ensure_future(
                client.aembed(["first", "second"], model=MODEL, dimensions=DIMS, batch_size=1)
            )
            assert await asyncio.to_thread(server.wait_for, lambda: bool(server.requests))
            await client.aclose()
            release.set()
            result = await asyncio.wait_for(call, 10)
            return result.vectors

        assert asyncio.run(scenario()) == right(["first", "second"])


def test_llama_index_asyncio_run_in_a_running_loop_leaves_no_connection_open() -> None:
    """LlamaIndex runs coroutines on a throwaway loop in a thread and closes it without
    shutting down async generators; the pool of such a loop must not outlive its call."""
    with HostileServer() as server:
        embedding = AimlapiEmbedding(
            api_key=KEY, base_url=server.base_url, model=MODEL, dimensions=DIMS
        )

        async def in_a_notebook() -> list[list[float]]:
            # A running loop, as in Jupyter: asyncio_run takes its thread path.
            return [
                asyncio_run(embedding.aget_text_embedding_batch([f"text {i}"]))[0] for i in range(6)
            ]

        gc.disable()  # the collector must not be what closes them
        try:
            vectors = asyncio.run(in_a_notebook())
            closed = server.wait_for(lambda: server.open_connections == 0, timeout=3)
            still_open = server.open_connections
        finally:
            gc.enable()
        assert vectors == right([f"text {i}" for i in range(6)])
        assert server.connections_opened >= 1
        assert closed, f"{still_open} connection(s) left open by {len(vectors)} throwaway loops"


def test_a_sync_stream_read_on_in_a_forked_child_raises_at_once() -> None:
    """A stream started in the parent and read on after a fork: its requests run in threads of
    the parent, which do not exist in the child. The child gets an AimlapiError at once (it
    waited for ever), and the parent's stream goes on."""
    release = threading.Event()

    def first_answered_then_held(request: Request, connection: Connection) -> None:
        if request.texts != ["text 0", "text 1"]:
            connection.hold(release)
        answer_embeddings(request, connection)

    texts = [f"text {i}" for i in range(8)]
    with HostileServer(first_answered_then_held) as server:
        client = client_for(server, max_concurrency=2, max_retries=0)
        stream = client.embed_stream(iter(texts), chunk_size=2, model=MODEL, dimensions=DIMS)
        first = next(stream)
        outcome = in_a_forked_child(lambda: next(stream).start)
        release.set()
        rest = list(stream)
        client.close()
    assert outcome[0] == "error", outcome
    assert "APIConnectionError: this stream was started in process" in str(outcome[1])
    assert [chunk.start for chunk in [first, *rest]] == [0, 2, 4, 6]
    assert [v for chunk in [first, *rest] for v in chunk.vectors] == right(texts)


def test_max_concurrency_bounds_the_whole_client_across_event_loops_and_threads() -> None:
    """max_concurrency=2: four event loops in four threads, two sync threads and two sync calls
    that block the event loop they are made on (as in a notebook cell), together."""

    def slow(request: Request, connection: Connection) -> None:
        time.sleep(0.05)
        connection.answer(200, embeddings(request))

    with HostileServer(slow) as server:
        client = client_for(server, max_concurrency=2)
        start = threading.Barrier(8)
        texts = [f"text {i}" for i in range(4)]
        results: list[Any] = []

        def in_a_loop() -> None:
            start.wait(timeout=10)
            call = client.aembed(texts, model=MODEL, dimensions=DIMS, batch_size=1)
            results.append(asyncio.run(call).vectors)

        def in_a_thread() -> None:
            start.wait(timeout=10)
            results.append(embed(client, texts, batch_size=1))

        async def blocking_its_loop() -> None:
            in_a_thread()

        threads = [threading.Thread(target=in_a_loop) for _ in range(4)]
        threads += [threading.Thread(target=in_a_thread) for _ in range(2)]
        threads += [threading.Thread(target=asyncio.run, args=(blocking_its_loop(),))]
        threads += [threading.Thread(target=asyncio.run, args=(blocking_its_loop(),))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        client.close()
    assert results == [right(texts)] * 8
    assert len(server.requests) == 32
    assert server.peak_in_flight == 2, (
        f"{server.peak_in_flight} requests in flight at once with max_concurrency=2"
    )


def test_a_sync_call_inside_a_running_loop_does_not_wait_for_that_loops_own_requests() -> None:
    """Jupyter: a background task holds every slot (max_concurrency=1) when a cell makes a sync
    call on the loop's thread. The task cannot move while the call blocks the loop, so the call
    must not wait for its slot."""

    def slow(request: Request, connection: Connection) -> None:
        time.sleep(0.1)
        connection.answer(200, embeddings(request))

    with HostileServer(slow) as server:
        client = client_for(server, max_concurrency=1)
        outcome: list[Any] = []

        async def notebook() -> None:
            background = asyncio.ensure_future(
                client.aembed(["background"], model=MODEL, dimensions=DIMS)
            )
            await asyncio.to_thread(server.wait_for, lambda: len(server.requests) == 1)
            outcome.append(embed(client, ["in the cell"]))  # blocks the loop, as a cell does
            outcome.append((await background).vectors)

        runner = threading.Thread(target=lambda: asyncio.run(notebook()), daemon=True)
        runner.start()
        runner.join(timeout=10)
        assert not runner.is_alive(), "the sync call waits for a slot its own loop holds"
        client.close()
    assert outcome == [right(["in the cell"]), right(["background"])]


def test_a_sync_stream_read_in_a_coroutine_beside_async_calls_keeps_max_concurrency() -> None:
    """A sync stream read in a coroutine that awaits between chunks, beside aembed tasks on the
    same loop (max_concurrency=3). Between chunks the loop runs and its tasks end their
    requests, so the stream counts their slots; only while the stream's reader blocks the loop,
    with no request of its own in flight and every slot held by the loop's tasks, does it send
    one request over the limit (it would wait for ever otherwise). It once sent up to 3 over."""

    def slow(request: Request, connection: Connection) -> None:
        time.sleep(0.03)
        connection.answer(200, embeddings(request))

    streamed = [f"streamed {i}" for i in range(36)]
    beside = [[f"beside {task} {i}" for i in range(6)] for task in range(4)]
    with HostileServer(slow) as server:
        client = client_for(server, max_concurrency=3)

        async def app() -> tuple[list[list[float]], list[list[list[float]]]]:
            async def embed_beside(texts: list[str]) -> list[list[float]]:
                call = client.aembed(texts, model=MODEL, dimensions=DIMS, batch_size=1)
                return (await call).vectors

            tasks = [asyncio.ensure_future(embed_beside(texts)) for texts in beside]
            await asyncio.sleep(0.005)  # the tasks take every slot
            vectors: list[list[float]] = []
            options: Any = {"model": MODEL, "dimensions": DIMS, "batch_size": 1}
            for chunk in client.embed_stream(streamed, chunk_size=2, **options):
                vectors += chunk.vectors
                await asyncio.sleep(0.01)  # the loop runs: the tasks send and end requests
            return vectors, list(await asyncio.gather(*tasks))

        vectors, others = asyncio.run(app())
        client.close()
    assert vectors == right(streamed)
    assert others == [right(texts) for texts in beside]
    assert server.peak_in_flight <= 3 + 1, (
        f"{server.peak_in_flight} requests in flight at once with max_concurrency=3"
    )


def test_a_call_waiting_for_a_slot_held_by_a_paused_loop_ends_with_a_timeout() -> None:
    """A task of an event loop that stopped running holds the only slot: a sync call in another
    thread ends with APITimeoutError (about twice the timeout) instead of waiting for ever."""

    def slow(request: Request, connection: Connection) -> None:
        time.sleep(1.0)
        connection.answer(200, embeddings(request))

    with HostileServer(slow) as server:
        client = client_for(server, max_concurrency=1, max_retries=0, timeout=0.5)
        loop = asyncio.new_event_loop()
        holder = loop.create_task(client.aembed(["held"], model=MODEL, dimensions=DIMS))
        loop.run_until_complete(asyncio.sleep(0.2))  # the task takes the slot; the loop pauses
        outcome: list[BaseException] = []

        def waiter() -> None:
            try:
                embed(client, ["waiting"])
            except BaseException as error:  # checked below
                outcome.append(error)

        thread = threading.Thread(target=waiter, daemon=True)
        thread.start()
        thread.join(timeout=20)
        assert not thread.is_alive(), "the call still waits for a slot no one will free"
        holder.cancel()
        loop.run_until_complete(asyncio.gather(holder, return_exceptions=True))
        loop.close()
        client.close()
    assert [type(error) for error in outcome] == [APITimeoutError]
