"""`EmbeddingsClient`: embed any number of texts with any AI/ML API model, sync or async."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import httpx

from . import _arguments, _network
from ._batching import (
    DEFAULT_OVER_ITEM_LIMIT,
    LongText,
    OverItemLimit,
    Plan,
    assemble,
    plan_requests,
    validate_texts,
)
from ._body import ACCEPT_ENCODING
from ._gate import Gate
from ._pools import Pools
from ._response import CallWidth, Usage
from ._schema import field_violations, load_schema
from ._secret import BearerAuth, Secret
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
    "api_key_secret",
    "resolve_api_key",
    "resolve_base_url",
]

DEFAULT_BASE_URL = "https://api.aimlapi.com/v1"
DEFAULT_MODEL = "text-embedding-3-small"
DEFAULT_MAX_RETRIES = 4
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_TIMEOUT = _arguments.DEFAULT_TIMEOUT
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


class SecretLike(Protocol):
    """pydantic's and LangChain's `SecretStr`: a key handed over without showing it."""

    def get_secret_value(self) -> str: ...


def resolve_api_key(api_key: str | SecretLike | None) -> str:
    """The key given, else `AIMLAPI_API_KEY`; a clear error when there is none."""
    return api_key_secret(api_key).reveal()


def api_key_secret(api_key: str | SecretLike | None) -> Secret:
    """The key given (or `AIMLAPI_API_KEY`), checked, held so that it shows as stars.

    No local variable of a frame that can raise holds the key in the clear: a traceback that
    prints locals shows the `Secret`, which is stars.
    """
    if api_key is not None and not isinstance(api_key, str):
        if not hasattr(api_key, "get_secret_value"):
            msg = f"api_key must be a str or a SecretStr, not {type(api_key).__name__}"
            raise TypeError(msg)
        secret = Secret(str(api_key.get_secret_value()).strip())
    else:
        secret = Secret(
            (api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")).strip()
        )
    del api_key
    if not secret.reveal():
        msg = (
            f"no AI/ML API key: pass api_key=... or set the {API_KEY_ENV} environment variable "
            "(keys: https://aimlapi.com/app/keys)"
        )
        raise ValueError(msg)
    problem = secret.problem()
    if problem is not None:
        raise ValueError(problem)
    return secret


def resolve_base_url(base_url: str | None) -> str:
    """The URL given, else `AIMLAPI_BASE_URL` / `AIMLAPI_API_BASE`, else the public API."""
    if base_url is None:
        base_url = next((os.environ[name] for name in BASE_URL_ENVS if os.environ.get(name)), None)
    if base_url is not None and not isinstance(base_url, str):
        msg = f"base_url must be a str, not {type(base_url).__name__}"
        raise TypeError(msg)
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
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        msg = f"base_url is not a URL: {exc}"
        raise ValueError(msg) from None
    if url.scheme in ("https", "http") and not url.host:
        msg = f"base_url names no host: {base_url!r}"
        raise ValueError(msg)
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


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop this thread is running, if any (a sync call made from a coroutine)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# Every client alive in this process, so that a forked child can give each fresh pools.
_clients: weakref.WeakSet[EmbeddingsClient] = weakref.WeakSet()
# What a forked child took over from its parent and must never touch (see _after_fork_in_child).
_inherited: list[object] = []


def _after_fork_in_child() -> None:
    """Fresh pools, gate and throttle in a forked child (multiprocessing, Gunicorn, Celery).

    The parent's pooled sockets are shared with it: used from both sides, answers would be read
    by the wrong process. Its gate counts the parent's requests in flight, which never end here.
    Its pools' locks may be held by threads that do not exist here. So the child closes its
    copies of the sockets and drops the rest unused (kept referenced, so nothing finalizes them).
    """
    _network.close_inherited_sockets()
    for client in list(_clients):
        _inherited.append(client.__dict__.get("_pools"))
        client._setup()


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


class EmbeddingsClient:
    """Embeds texts with any AI/ML API embedding model, batching, retrying and in parallel.

    Thread-safe; one instance serves many threads and event loops, and `max_concurrency` bounds
    the requests in flight of all of them together (a sync call made inside a running event
    loop, which blocks that loop, is bounded on its own). Picklable, deep-copyable and
    fork-safe: the connection pools are rebuilt lazily in the copy or the child. Constructors do
    no network I/O.
    """

    def __init__(
        self,
        *,
        api_key: str | SecretLike | None = None,
        base_url: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        default_headers: Mapping[str, str] | None = None,
        allow_insecure_http: bool = False,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        try:
            self._secret = api_key_secret(api_key)
        finally:
            del api_key  # from here on, a traceback's locals show the Secret: stars
        self.max_retries = _arguments.max_retries(max_retries)
        self.max_concurrency = _arguments.max_concurrency(max_concurrency)
        self.timeout = _arguments.timeout(timeout)
        self.default_headers = _arguments.default_headers(default_headers)
        self.base_url = resolve_base_url(base_url)
        self.allow_insecure_http = _arguments.allow_insecure_http(allow_insecure_http)
        check_base_url(self.base_url, allow_insecure_http=self.allow_insecure_http)
        if async_transport is None and isinstance(transport, httpx.AsyncBaseTransport):
            async_transport = transport  # httpx.MockTransport serves both
        self._transport = transport
        self._async_transport = async_transport
        self._setup()

    def _setup(self) -> None:
        # max_concurrency bounds the requests in flight of the whole client, not of each call:
        # LlamaIndex, for one, runs many embed calls at once on one instance.
        # A request frees its slot within the timeout (and a moment to close): a wait of twice
        # that with no slot freed is a stuck holder, and gives up (`Gate`).
        attempt = _arguments.attempt_seconds(self.timeout)
        patience = None if attempt is None else 2 * attempt
        self._gate = Gate(self.max_concurrency, patience)
        self._throttle = Throttle()
        self._pools = Pools(self._new_client, self._new_async_client)
        _clients.add(self)

    # -- pickling and copying: configuration travels, pools and locks are rebuilt ----------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_gate", "_throttle", "_pools"):
            del state[name]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    def __repr__(self) -> str:
        # From __dict__: a traceback that prints locals shows a half-built client too.
        settings = self.__dict__
        return (
            f"EmbeddingsClient(base_url={settings.get('base_url')!r}, api_key='**********', "
            f"max_concurrency={settings.get('max_concurrency')}, "
            f"max_retries={settings.get('max_retries')})"
        )

    # -- connection pools ------------------------------------------------------------------------

    def _client_options(self) -> dict[str, Any]:
        return {
            "auth": BearerAuth(self._secret),
            "timeout": self.timeout,
            # Each call bounds its own parallelism; the pool does not cap connections, so that
            # many threads sharing one client never wait on each other for a connection.
            "limits": httpx.Limits(
                max_connections=None, max_keepalive_connections=2 * self.max_concurrency
            ),
            "follow_redirects": False,
            # Proxies and certificates from the environment, for https only: through a proxy,
            # https is a tunnel the proxy cannot read, while plain http would hand it the key.
            "trust_env": httpx.URL(self.base_url).scheme == "https",
        }

    def _new_client(self) -> httpx.Client:
        client = httpx.Client(transport=self._transport, **self._client_options())
        return _network.guard(client)

    def _new_async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._async_transport, **self._client_options())

    def close(self) -> None:
        """Close the sync connection pool (it reopens on the next call).

        Calls in flight in other threads finish first, on the pool they started with.
        """
        self._pools.close()

    async def aclose(self) -> None:
        """Close this event loop's connection pool (it reopens on the next call).

        `asyncio.run()` does this by itself when its loop ends; a loop you create and close
        yourself (`new_event_loop()` ... `close()`) should `await client.aclose()` first. Calls
        in flight in other tasks finish first, on the pool they started with.
        """
        await self._pools.aclose()

    def __del__(self) -> None:
        # Close the sync pool with the client, so its sockets are not left to the collector.
        # Async pools close with their event loop (see _pools).
        pools = self.__dict__.get("_pools")
        if pools is not None:
            pools.close()

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
        # On a thread that runs an event loop (Jupyter), this call blocks the loop, and the
        # loop's own requests cannot end until it returns: it does not count their slots.
        loop = _running_loop()
        gate = self._gate if loop is None else self._gate.seen_from_blocked_loop(loop)
        with self._pools.client() as client:
            results = run_sync(call.flows, client, gate, self.max_concurrency, progress)
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
        progress = call.progress(on_progress)
        async with self._pools.async_client() as client:
            results = await run_async(
                call.flows, client, self._gate, self.max_concurrency, progress
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
        model = _arguments.model(model)
        dimensions = _arguments.dimensions(dimensions)
        batch_size = _arguments.batch_size(batch_size)
        extra_body = _arguments.extra_body(extra_body)
        spec = model if isinstance(model, ModelSpec) else get_model_spec(model)
        warn_about_model(spec)
        spec.check_dimensions(dimensions)
        if input_type not in ("document", "query"):
            msg = f'input_type must be "document" or "query", not {input_type!r}'
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
        body = {**spec.request_fields(input_type, dimensions), **extra_body}
        check_body_fields(spec, body)
        headers = httpx.Headers(
            {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
                "User-Agent": f"aimlapi-embeddings/{__version__}",
            }
        )
        headers.update(self.default_headers)  # names ignore case: one header each
        settings = CallSettings(
            url=f"{self.base_url}/embeddings",
            headers=headers,
            secret=self._secret,
            body=body,
            spec=spec,
            width=CallWidth(spec.output_width(dimensions)),
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
