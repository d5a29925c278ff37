"""Fixtures for the reliability and security tests: emulator-backed, pools closed. (The root
conftest keeps every test on loopback and provides `fast_backoff`.)

Every route below embeds through real loopback HTTP against `aimlapi_embeddings.testing.Emulator`:
the core client (sync and async) and both adapters. Vectors are cut to a few dimensions so that
tests wait on the client, not on the emulator's arithmetic.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from aimlapi_embeddings import EmbeddingResult, EmbeddingsClient
from aimlapi_embeddings.testing import Emulator, embedding_for
from langchain_aimlapi import AimlapiEmbeddings
from llama_index_aimlapi import AimlapiEmbedding

MODEL = "text-embedding-3-small"
# text-embedding-3-small accepts `dimensions`: narrow vectors keep the emulator's work small.
DIMS = 16
ROUTES = (
    "core-sync",
    "core-async",
    "langchain-sync",
    "langchain-async",
    "llama-sync",
    "llama-async",
)


def expected(text: str, *, dimensions: int = DIMS, model: str = MODEL) -> list[float]:
    """The fault-free answer for one text as the client sends it (blank texts go as one space)."""
    sent = text if text.strip() else " "
    return embedding_for(sent, model, dimensions=dimensions)


@pytest.fixture
def api() -> Iterator[Emulator]:
    """A fresh, fault-free emulator for this test alone (starting one costs about a millisecond)."""
    with Emulator(seed=0) as emulator:
        yield emulator


@dataclass
class Closer:
    """Everything a test built that holds a sync connection pool, closed when the test ends."""

    objects: list[Any] = field(default_factory=list)

    def __call__(self, obj: Any) -> Any:
        self.objects.append(obj)
        return obj


@pytest.fixture
def closing() -> Iterator[Closer]:
    closer = Closer()
    yield closer
    for obj in closer.objects:
        obj.close()


@dataclass
class Route:
    """One way into the package: `embed(texts)` returns the vectors, `target` is the object used."""

    name: str
    target: Any
    embed: Callable[[Any], list[list[float]]]


def build_target(kind: str, api: Emulator | None, closing: Closer, **options: Any) -> Any:
    """The core client or an adapter pointed at `api` (unless `options` say where), with
    `options` in the words of that class."""
    if api is not None:
        options.setdefault("api_key", api.api_key)
        options.setdefault("base_url", api.base_url)
    if kind == "core":
        return closing(EmbeddingsClient(**options))
    options.setdefault("dimensions", DIMS)
    if kind == "langchain":
        return closing(AimlapiEmbeddings(model=options.pop("model", MODEL), **options))
    if kind == "llama":
        return closing(AimlapiEmbedding(model=options.pop("model", MODEL), **options))
    raise AssertionError(kind)


def make_route(
    name: str,
    api: Emulator | None,
    closing: Closer,
    *,
    batch_size: int | None = None,
    **options: Any,
) -> Route:
    """Route `name` ("core-sync", "llama-async", ...); `batch_size` caps the texts per request
    (LangChain's `batch_size`, LlamaIndex's `embed_batch_size`, the core's per-call argument)."""
    kind, shell = name.split("-")
    if batch_size is not None and kind != "core":
        options["batch_size" if kind == "langchain" else "embed_batch_size"] = batch_size
    target = build_target(kind, api, closing, **options)
    if kind == "core":
        call = {"dimensions": DIMS, "batch_size": batch_size}
        if shell == "sync":
            return Route(name, target, lambda texts: target.embed(texts, **call).vectors)

        async def core_async(texts: Any) -> list[list[float]]:
            result: EmbeddingResult = await target.aembed(texts, **call)
            return result.vectors

        return Route(name, target, lambda texts: asyncio.run(core_async(texts)))
    if kind == "langchain":
        if shell == "sync":
            return Route(name, target, target.embed_documents)
        return Route(name, target, lambda texts: asyncio.run(target.aembed_documents(texts)))
    if shell == "sync":
        return Route(name, target, target.get_text_embedding_batch)
    return Route(name, target, lambda texts: asyncio.run(target.aget_text_embedding_batch(texts)))


@pytest.fixture(params=ROUTES)
def route(request: pytest.FixtureRequest, api: Emulator, closing: Closer) -> Route:
    """Each of the six ways in: core / LangChain / LlamaIndex, sync and async."""
    return make_route(request.param, api, closing)


# ---- a scriptable stdlib HTTP server, for what the emulator does not do (echo, redirect) ------


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, dict[str, str], bytes]


class LocalServer:
    """A tiny loopback HTTP server answering every POST with `answer(seen)`; records requests."""

    def __init__(self, answer: Callable[[Seen], Answer]) -> None:
        self.answer = answer
        self.seen: list[Seen] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                seen = Seen(self.path, dict(self.headers.items()), self.rfile.read(length))
                server.seen.append(seen)
                status, headers, body = server.answer(seen)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output (and captured logs) to what the client says

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A short poll keeps shutdown() quick: it waits for the serving loop's next poll.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
