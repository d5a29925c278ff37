"""`EmbeddingsClient`: embed any number of texts with any AI/ML API model, sync or async."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx

from ._batching import (
    DEFAULT_OVER_ITEM_LIMIT,
    LongText,
    OverItemLimit,
    Plan,
    assemble,
    plan_requests,
    validate_texts,
)
from ._gate import AsyncGate, SyncGate
from ._response import Usage
from ._schema import field_violations, load_schema
from ._transport import (
    BatchResult,
    CallSettings,
    Flow,
    Throttle,
    batch_flow,
    run_async,
    run_sync,
)
from ._version import __version__
from .models import InputRole, ModelSpec, get_model_spec, warn_about_model

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "EmbeddingResult",
    "EmbeddingsClient",
    "Usage",
    "resolve_api_key",
    "resolve_base_url",
]

DEFAULT_BASE_URL = "https://api.aimlapi.com/v1"
DEFAULT_MODEL = "text-embedding-3-small"
DEFAULT_MAX_RETRIES = 4
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
API_KEY_ENV = "AIMLAPI_API_KEY"
BASE_URL_ENVS = ("AIMLAPI_BASE_URL", "AIMLAPI_API_BASE")

ProgressCallback = Callable[[int, int], None]
"""Called as `(texts_done, texts_total)` each time a request completes.

When long texts are sent in pieces, `texts_done` is the share of pieces sent, in texts."""


@dataclass(frozen=True, slots=True, repr=False)
class EmbeddingResult:
    """The answer to one `embed()` call."""

    vectors: list[list[float]]
    """One vector per input text, in input order, always."""
    usage: Usage
    """Tokens (and credits, where the API says) summed over every request of the call."""
    model: str

    def __repr__(self) -> str:
        # A summary: the full repr of a large call is megabytes, and asyncio.run() in CPython
        # 3.11 builds the repr of its main task's result on the way out.
        width = len(self.vectors[0]) if self.vectors else 0
        return (
            f"EmbeddingResult(model={self.model!r}, vectors=<{len(self.vectors)} x {width}>, "
            f"usage={self.usage!r})"
        )


def resolve_api_key(api_key: str | None) -> str:
    """The key given, else `AIMLAPI_API_KEY`; a clear error when there is none."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    key = (key or "").strip()
    if not key:
        msg = (
            f"no AI/ML API key: pass api_key=... or set the {API_KEY_ENV} environment variable "
            "(keys: https://aimlapi.com/app/keys)"
        )
        raise ValueError(msg)
    return key


def resolve_base_url(base_url: str | None) -> str:
    """The URL given, else `AIMLAPI_BASE_URL` / `AIMLAPI_API_BASE`, else the public API."""
    if base_url is None:
        base_url = next((os.environ[name] for name in BASE_URL_ENVS if os.environ.get(name)), None)
    return (base_url or DEFAULT_BASE_URL).rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str, *, allow_insecure_http: bool) -> None:
    """Refuse to send the key in clear text anywhere but this machine, unless told to."""
    url = httpx.URL(base_url)
    if url.scheme == "https":
        return
    if url.scheme != "http":
        msg = f"base_url must start with https:// (or http:// for a local server), not {base_url!r}"
        raise ValueError(msg)
    if not (allow_insecure_http or _is_loopback(url.host)):
        msg = (
            f"refusing to send the API key over plain http to {url.host!r}: use https, or pass "
            "allow_insecure_http=True if this network is trusted"
        )
        raise ValueError(msg)


class _Secret:
    """Holds the key so that repr(), vars() and debuggers show stars, never the key."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "'**********'"


class _LoopClient:
    """The AsyncClient of one event loop, closed by the loop's own shutdown (asyncio.run)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient, max_concurrency: int
    ) -> None:
        self.loop = weakref.ref(loop)
        self.client = client
        self.gate = AsyncGate(max_concurrency)
        self.closer: AsyncIterator[None] | None = None

    def alive(self) -> bool:
        loop = self.loop()
        return loop is not None and not loop.is_closed()


async def _close_at_loop_shutdown(client: httpx.AsyncClient) -> AsyncIterator[None]:
    # asyncio.run() calls loop.shutdown_asyncgens() before closing the loop, which runs this
    # finally: the pooled connections close while their loop can still close them.
    try:
        yield
    finally:
        await client.aclose()


class EmbeddingsClient:
    """Embeds texts with any AI/ML API embedding model, batching, retrying and in parallel.

    Thread-safe; one instance serves many threads and event loops. Picklable and deep-copyable:
    the connection pools are rebuilt lazily in the copy. Constructors do no network I/O.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        default_headers: Mapping[str, str] | None = None,
        allow_insecure_http: bool = False,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if max_retries < 0:
            msg = f"max_retries must be >= 0, not {max_retries}"
            raise ValueError(msg)
        if max_concurrency < 1:
            msg = f"max_concurrency must be >= 1, not {max_concurrency}"
            raise ValueError(msg)
        self.base_url = resolve_base_url(base_url)
        check_base_url(self.base_url, allow_insecure_http=allow_insecure_http)
        self._secret = _Secret(resolve_api_key(api_key))
        self.max_retries = max_retries
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_concurrency = max_concurrency
        self.default_headers = dict(default_headers or {})
        self.allow_insecure_http = allow_insecure_http
        if async_transport is None and isinstance(transport, httpx.AsyncBaseTransport):
            async_transport = transport  # httpx.MockTransport serves both
        self._transport = transport
        self._async_transport = async_transport
        self._setup()

    def _setup(self) -> None:
        self._lock = threading.Lock()
        # max_concurrency bounds the requests in flight of the whole client, not of each call:
        # LlamaIndex, for one, runs many embed calls at once on one instance.
        self._gate = SyncGate(self.max_concurrency)
        self._throttle = Throttle()
        self._sync_client: httpx.Client | None = None
        self._loop_clients: dict[int, _LoopClient] = {}

    # -- pickling and copying: configuration travels, pools and locks are rebuilt ----------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_lock", "_gate", "_throttle", "_sync_client", "_loop_clients"):
            del state[name]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    def __repr__(self) -> str:
        return (
            f"EmbeddingsClient(base_url={self.base_url!r}, api_key='**********', "
            f"max_concurrency={self.max_concurrency}, max_retries={self.max_retries})"
        )

    # -- connection pools ------------------------------------------------------------------------

    def _client_options(self) -> dict[str, Any]:
        return {
            "timeout": self.timeout,
            # Each call bounds its own parallelism; the pool does not cap connections, so that
            # many threads sharing one client never wait on each other for a connection.
            "limits": httpx.Limits(
                max_connections=None, max_keepalive_connections=2 * self.max_concurrency
            ),
            "follow_redirects": False,
        }

    def _sync(self) -> httpx.Client:
        with self._lock:
            if self._sync_client is None:
                self._sync_client = httpx.Client(
                    transport=self._transport, **self._client_options()
                )
            return self._sync_client

    async def _async(self) -> _LoopClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            for key in [key for key, entry in self._loop_clients.items() if not entry.alive()]:
                del self._loop_clients[key]
            entry = self._loop_clients.get(id(loop))
            if entry is None:
                client = httpx.AsyncClient(
                    transport=self._async_transport, **self._client_options()
                )
                entry = _LoopClient(loop, client, self.max_concurrency)
                self._loop_clients[id(loop)] = entry
        if entry.closer is None:
            entry.closer = _close_at_loop_shutdown(entry.client)
            await anext(entry.closer)
        return entry

    def close(self) -> None:
        """Close the sync connection pool (it reopens on the next call)."""
        with self._lock:
            client, self._sync_client = self._sync_client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close this event loop's connection pool (it reopens on the next call).

        `asyncio.run()` does this by itself when its loop ends; a loop you create and close
        yourself (`new_event_loop()` ... `close()`) should `await client.aclose()` first.
        """
        with self._lock:
            entry = self._loop_clients.pop(id(asyncio.get_running_loop()), None)
        if entry is not None:
            await entry.client.aclose()

    def __del__(self) -> None:
        # Close the sync pool with the client, so its sockets are not left to the collector.
        # Async pools close with their event loop (see _close_at_loop_shutdown).
        client = self.__dict__.get("_sync_client")
        if client is not None:
            client.close()

    def __enter__(self) -> EmbeddingsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> EmbeddingsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- embedding -------------------------------------------------------------------------------

    def embed(
        self,
        texts: Sequence[str],
        *,
        model: str | ModelSpec = DEFAULT_MODEL,
        dimensions: int | None = None,
        input_type: InputRole = "document",
        long_text: LongText = "chunk",
        over_item_limit: OverItemLimit = DEFAULT_OVER_ITEM_LIMIT,
        batch_size: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> EmbeddingResult:
        """Embed `texts`: one vector per text, in input order, or an `AimlapiError`.

        Safe to call from inside a running event loop (Jupyter): it uses threads, not the loop.
        """
        call = self._prepare(
            texts, model, dimensions, input_type, long_text, over_item_limit, batch_size, extra_body
        )
        if not call.flows:
            return call.finish([])
        progress = call.progress(on_progress)
        results = run_sync(call.flows, self._sync(), self._gate, self.max_concurrency, progress)
        return call.finish(results)

    async def aembed(
        self,
        texts: Sequence[str],
        *,
        model: str | ModelSpec = DEFAULT_MODEL,
        dimensions: int | None = None,
        input_type: InputRole = "document",
        long_text: LongText = "chunk",
        over_item_limit: OverItemLimit = DEFAULT_OVER_ITEM_LIMIT,
        batch_size: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> EmbeddingResult:
        """The async twin of `embed()`, on a pooled AsyncClient of the running event loop."""
        call = self._prepare(
            texts, model, dimensions, input_type, long_text, over_item_limit, batch_size, extra_body
        )
        if not call.flows:
            return call.finish([])
        pool = await self._async()
        progress = call.progress(on_progress)
        results = await run_async(
            call.flows, pool.client, pool.gate, self.max_concurrency, progress
        )
        return call.finish(results)

    def _prepare(
        self,
        texts: Sequence[str],
        model: str | ModelSpec,
        dimensions: int | None,
        input_type: InputRole,
        long_text: LongText,
        over_item_limit: OverItemLimit,
        batch_size: int | None,
        extra_body: Mapping[str, Any] | None,
    ) -> _Call:
        """Everything decided before the first request: validation, rules, plan, request body."""
        spec = model if isinstance(model, ModelSpec) else get_model_spec(model)
        warn_about_model(spec)
        spec.check_dimensions(dimensions)
        if input_type not in ("document", "query"):
            msg = f'input_type must be "document" or "query", not {input_type!r}'
            raise ValueError(msg)
        if batch_size is not None and batch_size < 1:
            msg = f"batch_size must be >= 1, not {batch_size}"
            raise ValueError(msg)
        checked = validate_texts(texts)
        plan = plan_requests(
            checked,
            spec,
            long_text=long_text,
            over_item_limit=over_item_limit,
            max_concurrency=self.max_concurrency,
            batch_size=batch_size,
        )
        # The registry's canonical id: the one the model's published schema names
        # (an alias such as "openai/text-embedding-3-small" is not in its `model` enum).
        name = spec.name
        body = {**spec.request_fields(input_type, dimensions), **(extra_body or {})}
        check_body_fields(spec, body)
        settings = CallSettings(
            url=f"{self.base_url}/embeddings",
            headers={
                "Authorization": f"Bearer {self._secret.value}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": f"aimlapi-embeddings/{__version__}",
                **self.default_headers,
            },
            secret=self._secret.value,
            body=body,
            spec=spec,
            width=spec.output_width(dimensions),
            long_text=long_text,
            max_retries=self.max_retries,
            throttle=self._throttle,
            timeout=self.timeout,
            model=name,
            blank_texts=tuple(plan.blanks),
        )
        return _Call(name, plan, settings)


def check_body_fields(spec: ModelSpec, body: Mapping[str, Any]) -> None:
    """Refuse, before any request, a body the model's published schema rejects whatever `input`.

    Catches `extra_body` fields the schema does not list (OpenAI's schema allows no others) or
    gives another type; `input` itself is the planner's job, proved by the contract tests.
    """
    if spec.schema is None:
        return
    problems = field_violations(load_schema(spec.schema), body)
    if problems:
        msg = (
            f"this request would break model {spec.name!r}'s published request schema "
            f"(AI/ML API answers 400 Body validation error!): {'; '.join(problems)}. "
            "Check extra_body."
        )
        raise ValueError(msg)


class _Call:
    """One embed() call: its plan, the flow of each batch, and the assembly of the answer."""

    def __init__(self, model: str, plan: Plan, settings: CallSettings) -> None:
        self.model = model
        self.plan = plan
        self.flows: list[Callable[[], Flow]] = [
            partial(
                batch_flow,
                settings,
                [plan.pieces[piece] for piece in batch],
                [plan.piece_owner[piece] for piece in batch],
            )
            for batch in plan.batches
        ]

    def progress(self, on_progress: ProgressCallback | None) -> Callable[[int], None]:
        if on_progress is None:
            return lambda index: None
        pieces_done = 0
        pieces = len(self.plan.pieces)
        texts = len(self.plan.spans)

        def report(index: int) -> None:
            nonlocal pieces_done
            pieces_done += len(self.plan.batches[index])
            on_progress(pieces_done * texts // pieces, texts)

        return report

    def finish(self, results: Sequence[BatchResult]) -> EmbeddingResult:
        piece_vectors: list[list[float]] = [[]] * len(self.plan.pieces)
        usage = Usage()
        for batch, (vectors, batch_usage) in zip(self.plan.batches, results, strict=True):
            for piece, vector in zip(batch, vectors, strict=True):
                piece_vectors[piece] = vector
            usage += batch_usage
        return EmbeddingResult(assemble(self.plan, piece_vectors), usage, self.model)
