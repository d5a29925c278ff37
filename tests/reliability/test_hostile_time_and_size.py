"""Time and size: `timeout` bounds a request as a whole and an answer's size is capped, whatever
the server does: drip bytes, send a gzip bomb or a body without end.

The time bounds asserted here are generous (ten times the timeout and more): they tell a
bounded request from one held for the minutes a dripping server asks, not a fast machine from a
slow one.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import tracemalloc
import zlib
from collections.abc import Callable
from functools import cache

import pytest
from fakes import vector_for
from hostile import Connection, HostileServer, Request, embeddings, head

from aimlapi_embeddings import (
    AimlapiError,
    APITimeoutError,
    EmbeddingsClient,
    InternalServerError,
    ResponseError,
)

KEY = "aiml-sk-time-and-size-0b9c"
MB = 1 << 20


def run(shell: str, client: EmbeddingsClient, **options: object) -> list[list[float]]:
    options.setdefault("dimensions", 8)
    if shell == "sync":
        return client.embed(["a text"], **options).vectors  # type: ignore[arg-type]
    return asyncio.run(client.aembed(["a text"], **options)).vectors  # type: ignore[arg-type]


# ---- time --------------------------------------------------------------------------------------


def drip_the_body(request: Request, connection: Connection) -> None:
    connection.send(head(200, "OK", {"content-length": "200"}))
    connection.drip(b" " * 200, 0.1)  # 20 s in all


def drip_the_headers(request: Request, connection: Connection) -> None:
    connection.send(b"HTTP/1.1 200 OK\r\n")
    connection.drip(b"x-slow: " + b"a" * 192, 0.1)  # 20 s in all


@pytest.mark.parametrize("shell", ["sync", "async"])
@pytest.mark.parametrize("drip", [drip_the_body, drip_the_headers])
def test_a_dripping_server_cannot_hold_a_request_past_its_timeout(
    shell: str, drip: Callable[[Request, Connection], None]
) -> None:
    with HostileServer(drip) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, timeout=0.5, max_retries=0)
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="did not answer in time"):
            run(shell, client)
        elapsed = time.monotonic() - started
        client.close()
    assert elapsed < 5, f"{shell}: a request with timeout=0.5 took {elapsed:.1f} s"


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_a_slow_but_steady_answer_within_the_timeout_arrives(shell: str) -> None:
    """The bound is per request, not per read: an answer that takes 0.3 s of a 2 s timeout."""

    def slow_start(request: Request, connection: Connection) -> None:
        body = json.dumps(embeddings(request)).encode()
        connection.send(head(200, "OK", {"content-length": str(len(body))}))
        connection.drip(body[:3], 0.1)
        connection.send(body[3:])

    with HostileServer(slow_start) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, timeout=2, max_retries=0)
        assert run(shell, client) == [vector_for("a text", 8)]
        client.close()


# ---- size --------------------------------------------------------------------------------------


@cache
def bomb() -> bytes:
    """64 MiB of blanks in 64 KiB of gzip."""
    return gzip.compress(b" " * (64 * MB), compresslevel=9)


def peak_memory_of(call: Callable[[], object]) -> tuple[int, BaseException | None]:
    tracemalloc.start()
    try:
        call()
    except AimlapiError as exc:
        error: BaseException | None = exc
    else:
        error = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, error


@pytest.mark.parametrize("shell", ["sync", "async"])
@pytest.mark.parametrize("status", [200, 503])
def test_a_gzip_bomb_is_refused_without_being_inflated(
    shell: str, status: int, fast_backoff: None
) -> None:
    def answer(request: Request, connection: Connection) -> None:
        connection.answer(status, bomb(), headers={"content-encoding": "gzip"})

    bomb()  # made before memory is counted
    with HostileServer(answer) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, max_retries=1)
        peak, error = peak_memory_of(lambda: run(shell, client))
        client.close()
    expected_error = ResponseError if status == 200 else InternalServerError
    assert isinstance(error, expected_error), f"{shell} {status}: {error!r}"
    assert len(server.requests) == 2, "a bomb is a malformed answer: retried, then refused"
    assert peak < 16 * MB, f"{shell} {status}: {peak / MB:.0f} MiB for one 64 KiB answer"


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_an_endless_body_is_refused_after_the_size_cap_not_read_whole(shell: str) -> None:
    sent: list[int] = []

    def endless(request: Request, connection: Connection) -> None:
        connection.send(head(200, "OK", {"content-length": str(128 * MB)}))
        chunk = b"0" * 65536
        try:
            for _ in range(128 * MB // len(chunk)):
                connection.send(chunk)
        finally:
            sent.append(connection.sent)

    with HostileServer(endless) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, max_retries=0)
        peak, error = peak_memory_of(lambda: run(shell, client))
        client.close()
    assert isinstance(error, ResponseError), f"{shell}: {error!r}"
    assert "more than" in str(error)
    assert len(sent) == 1
    assert sent[0] < 32 * MB, f"{shell}: the client read {sent[0] / MB:.0f} MiB"
    assert peak < 16 * MB, f"{shell}: {peak / MB:.0f} MiB for a body capped well under 1 MiB"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
@pytest.mark.parametrize("shell", ["sync", "async"])
def test_an_honest_answer_arrives_in_any_encoding_the_client_accepts(
    shell: str, encoding: str
) -> None:
    compress = {"gzip": gzip.compress, "deflate": zlib.compress, "identity": bytes}[encoding]

    def answer(request: Request, connection: Connection) -> None:
        assert request.headers["accept-encoding"] == "gzip, deflate"
        body = json.dumps(embeddings(request)).encode()
        connection.answer(200, compress(body), headers={"content-encoding": encoding})

    with HostileServer(answer) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, max_retries=0)
        assert run(shell, client) == [vector_for("a text", 8)]
        client.close()


def test_the_size_cap_leaves_room_for_the_longest_valid_answer() -> None:
    """3072 floats per text at full precision, pretty-printed: about 34 bytes a number."""

    def answer(request: Request, connection: Connection) -> None:
        data = [
            {"object": "embedding", "index": index, "embedding": [-2.2250738585072014e-08] * 3072}
            for index in range(len(request.texts))
        ]
        body = json.dumps({"data": data, "usage": {"prompt_tokens": 4}}, indent=2).encode()
        connection.answer(200, body)

    with HostileServer(answer) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, max_retries=0)
        texts = [f"text {i}" for i in range(4)]
        result = client.embed(texts, model="text-embedding-3-large")
        client.close()
    assert [len(vector) for vector in result.vectors] == [3072] * 4
