"""`EmbeddingsClient`: embed any number of texts with any AI/ML API model, sync or async."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypedDict, TypeVar, overload

import httpx

from . import _arguments, _network
from ._assembly import Output, rows_for
from ._batching import (
    DEFAULT_OVER_ITEM_LIMIT,
    MIN_AUTO_BATCH,
    STREAM_TEXTS_PER_SLOT,
    LongText,
    OverItemLimit,
    plan_requests,
)
from ._body import ACCEPT_ENCODING
from ._call import Call, check_body_fields
from ._errors import AimlapiError
from ._gate import Gate
from ._pools import Pools
from ._response import CallWidth, Usage
from ._secret import BearerAuth, Secret
from ._stream import WINDOWS_AHEAD, EmbeddingChunk, Stream, StreamProgress
from ._stream import ProgressCallback as ProgressCallback  # the adapters' type for on_progress
from ._transport import CallSettings, Throttle, run_async, run_sync
from ._version import __version__
from .models import InputRole, ModelSpec, get_model_spec, warn_about_model

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._numpy import FloatArray

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "EmbeddingChunk",
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


V = TypeVar("V")
Vectors = list[list[float]]


@dataclass(frozen=True, slots=True, repr=False)
class EmbeddingResult(Generic[V]):
    """The answer to one `embed()` call."""

    vectors: V
    """One vector per input text, in input order, always: lists of floats, or with
    `output="numpy"` the rows of a float32 array of shape (texts, width)."""
    usage: Usage
    """Tokens (and credits, where the API says) summed over every request of the call."""
    model: str

    def __repr__(self) -> str:
        # A summary: the full repr of a large call is megabytes, and asyncio.run() in CPython
        # 3.11 builds the repr of its main task's result on the way out.
        vectors: Any = self.vectors
        width = len(vectors[0]) if len(vectors) else 0
        return (
            f"EmbeddingResult(model={self.model!r}, vectors=<{len(vectors)} x {width}>, "
            f"usage={self.usage!r})"
        )


class EmbedOptions(TypedDict, total=False):
    """The keyword arguments every embed method takes besides `output` and `on_progress`."""

    model: str | ModelSpec
    dimensions: int | None
    input_type: InputRole
    long_text: LongText
    over_item_limit: OverItemLimit
    batch_size: int | None
    extra_body: Mapping[str, Any] | None


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


def _new_sync_client(
    transport: httpx.BaseTransport | None, options: dict[str, Any]
) -> httpx.Client:
    return _network.guard(httpx.Client(transport=transport, **options))


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
        # The pools' factories hold what a pool is built from, not the client: a client that
        # nothing else references is then freed at once.
        options = self._client_options()
        self._pools = Pools(
            functools.partial(_new_sync_client, self._transport, options),
            functools.partial(httpx.AsyncClient, transport=self._async_transport, **options),
        )
        # The sync pool closes with the client, so its sockets are not left to the collector,
        # which would warn of them, unclosed. A finalizer, not __del__: it holds the pools, so
        # when the client dies in a reference cycle they are not part of the garbage, and the
        # collector calls it before it finalizes anything in the cycle (a __del__ ran in any
        # order with the sockets'). Async pools close with their event loop (see _pools).
        previous = self.__dict__.get("_closer")
        if previous is not None:
            previous.detach()  # a forked child's inherited pools are never touched
        self._closer = weakref.finalize(self, Pools.close, self._pools)
        self._closer.atexit = False
        _clients.add(self)

    # -- pickling and copying: configuration travels, pools and locks are rebuilt ----------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_gate", "_throttle", "_pools", "_closer"):
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

    def __enter__(self) -> EmbeddingsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> EmbeddingsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- embedding -------------------------------------------------------------------------------

    @overload
    def embed(
        self,
        texts: Iterable[str],
        *,
        output: Literal["list"] = ...,
        on_progress: ProgressCallback | None = ...,
        **options: Unpack[EmbedOptions],
    ) -> EmbeddingResult[Vectors]: ...

    @overload
    def embed(
        self,
        texts: Iterable[str],
        *,
        output: Literal["numpy"],
        on_progress: ProgressCallback | None = ...,
        **options: Unpack[EmbedOptions],
    ) -> EmbeddingResult[FloatArray]: ...

    def embed(
        self,
        texts: Iterable[str],
        *,
        output: Output = "list",
        on_progress: ProgressCallback | None = None,
        **options: Unpack[EmbedOptions],
    ) -> EmbeddingResult[Any]:
        """Embed `texts`: one vector per text, in input order, or an `AimlapiError`.

        `output="numpy"` gives a float32 array of shape (texts, width), made from the answers'
        bytes without a Python float per number (needs the [numpy] extra).
        Identical texts are sent once; `usage` counts what was sent.
        Safe to call from inside a running event loop (Jupyter): it uses threads, not the loop.
        """
        call = self._prepare(output, **options)
        stream = call.whole(texts, on_progress)
        with self._pools.client() as client:
            chunks = list(run_sync(stream, client, self._gate, self.max_concurrency))
        chunk = call.only(chunks)
        return EmbeddingResult(chunk.vectors, chunk.usage, call.settings.model)

    @overload
    async def aembed(
        self,
        texts: Iterable[str],
        *,
        output: Literal["list"] = ...,
        on_progress: ProgressCallback | None = ...,
        **options: Unpack[EmbedOptions],
    ) -> EmbeddingResult[Vectors]: ...

    @overload
    async def aembed(
        self,
        texts: Iterable[str],
        *,
        output: Literal["numpy"],
        on_progress: ProgressCallback | None = ...,
        **options: Unpack[EmbedOptions],
    ) -> EmbeddingResult[FloatArray]: ...

    async def aembed(
        self,
        texts: Iterable[str],
        *,
        output: Output = "list",
        on_progress: ProgressCallback | None = None,
        **options: Unpack[EmbedOptions],
    ) -> EmbeddingResult[Any]:
        """The async twin of `embed()`, on a pooled AsyncClient of the running event loop."""
        call = self._prepare(output, **options)
        stream = call.whole(texts, on_progress)
        async with self._pools.async_client() as client:
            run = run_async(stream, client, self._gate, self.max_concurrency)
            chunks = [chunk async for chunk in run]
        chunk = call.only(chunks)
        return EmbeddingResult(chunk.vectors, chunk.usage, call.settings.model)

    @overload
    def embed_stream(
        self,
        texts: Iterable[str],
        *,
        output: Literal["list"] = ...,
        chunk_size: int | None = ...,
        on_progress: StreamProgress | None = ...,
        **options: Unpack[EmbedOptions],
    ) -> Iterator[EmbeddingChunk[Vectors]]: ...

    @overload
    def embed_stream(
        self,
        texts: Iterable[str],
        *,
        output: Literal["numpy"],
        chunk_size: int | None = ...,
        on_progress: StreamProgress | None = ...,
        **options: Unpack[EmbedOptions],
    ) -> Iterator[EmbeddingChunk[FloatArray]]: ...

    def embed_stream(
        self,
        texts: Iterable[str],
        *,
        output: Output = "list",
        chunk_size: int | None = None,
        on_progress: StreamProgress | None = None,
        **options: Unpack[EmbedOptions],
    ) -> Iterator[EmbeddingChunk[Any]]:
        """Embed any iterable of texts (a generator over a file of millions of lines) in
        consecutive chunks, in input order, each as soon as it and those before it are done.

        Texts are read as requests need them: at most three chunks of texts and vectors are
        held at once (`chunk_size` texts each; default `max_concurrency` x 512), or, for small
        chunks, up to `3 x max_concurrency x 32` texts, so that every `max_concurrency` request
        is kept busy. Identical texts within a chunk are sent once.
        An error stops the stream; its `resume_from` is the index of the first text not
        delivered. `on_progress(done, total)` gets `total=None` when `texts` has no length.
        """
        call = self._prepare(output, **options)
        stream = call.stream(texts, self._chunk_size(chunk_size), on_progress, self._most_held())
        return self._pump(stream)

    def _pump(self, stream: Stream) -> Iterator[EmbeddingChunk[Any]]:
        try:
            with self._pools.client() as client:
                yield from run_sync(stream, client, self._gate, self.max_concurrency)
        except AimlapiError as error:
            stream.stopped(error)
            raise

    @overload
    def aembed_stream(
        self,
        texts: Iterable[str],
        *,
        output: Literal["list"] = ...,
        chunk_size: int | None = ...,
        on_progress: StreamProgress | None = ...,
        **options: Unpack[EmbedOptions],
    ) -> AsyncIterator[EmbeddingChunk[Vectors]]: ...

    @overload
    def aembed_stream(
        self,
        texts: Iterable[str],
        *,
        output: Literal["numpy"],
        chunk_size: int | None = ...,
        on_progress: StreamProgress | None = ...,
        **options: Unpack[EmbedOptions],
    ) -> AsyncIterator[EmbeddingChunk[FloatArray]]: ...

    def aembed_stream(
        self,
        texts: Iterable[str],
        *,
        output: Output = "list",
        chunk_size: int | None = None,
        on_progress: StreamProgress | None = None,
        **options: Unpack[EmbedOptions],
    ) -> AsyncIterator[EmbeddingChunk[Any]]:
        """The async twin of `embed_stream()`: `async for chunk in client.aembed_stream(...)`.

        `texts` is a plain iterable, read on the event loop. To leave the loop early, close the
        iterator (`contextlib.aclosing`): its requests then stop at once, not when it is
        collected.
        """
        call = self._prepare(output, **options)
        stream = call.stream(texts, self._chunk_size(chunk_size), on_progress, self._most_held())
        return self._apump(stream)

    async def _apump(self, stream: Stream) -> AsyncIterator[EmbeddingChunk[Any]]:
        try:
            async with self._pools.async_client() as client:
                run = run_async(stream, client, self._gate, self.max_concurrency)
                async with contextlib.aclosing(run) as chunks:
                    async for chunk in chunks:
                        yield chunk
        except AimlapiError as error:
            stream.stopped(error)
            raise

    def _most_held(self) -> int:
        # Windows of small chunks make a request or two each: a stream may open more of them
        # to keep every slot busy, up to three rounds of the smallest automatic requests.
        return WINDOWS_AHEAD * self.max_concurrency * MIN_AUTO_BATCH

    def _chunk_size(self, chunk_size: int | None) -> int:
        # By default a stream's window fills every concurrent request with a batch of the
        # largest automatic size.
        return _arguments.chunk_size(chunk_size) or self.max_concurrency * STREAM_TEXTS_PER_SLOT

    def _prepare(
        self,
        output: Output,
        *,
        model: str | ModelSpec = DEFAULT_MODEL,
        dimensions: int | None = None,
        input_type: InputRole = "document",
        long_text: LongText = "chunk",
        over_item_limit: OverItemLimit = DEFAULT_OVER_ITEM_LIMIT,
        batch_size: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Call:
        """Everything decided before the first request: arguments, rules, request settings.

        The defaults of every embed method's options, and the one place they are read.
        """
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
        rows = rows_for(output)
        planner = partial(
            plan_requests,
            spec=spec,
            long_text=long_text,
            over_item_limit=over_item_limit,
            max_concurrency=self.max_concurrency,
            batch_size=batch_size,
            width=dimensions,
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
            rows=rows,
        )
        return Call(settings, planner)
