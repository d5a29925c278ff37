"""`Emulator`: a loopback AI/ML API embeddings server on its own thread and event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hmac
import itertools
import json
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aimlapi_embeddings.testing._catalogue import Catalogue, PublishedModel
from aimlapi_embeddings.testing._faults import Faults, FaultState, ScriptedFault, Verdict
from aimlapi_embeddings.testing._http import HttpError, HttpRequest, read_request, render_head
from aimlapi_embeddings.testing._protocol import (
    ParsedRequest,
    answer_body,
    answer_format,
    error_body,
    parse_request,
)
from aimlapi_embeddings.testing._records import RequestRecord
from aimlapi_embeddings.testing._vectors import Encoding, VectorBank

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from aimlapi_embeddings.testing._faults import FaultOptions

__all__ = ["Emulator"]

logger = logging.getLogger("aimlapi_embeddings.testing")

_ROUTES = frozenset({"/v1/embeddings", "/embeddings"})
_CATALOGUE_ROUTES = frozenset({"/v1/models", "/models", "/api/v1/models"})
_DOCS_ROUTE = "/docs-json"
# The emulator's own counters, for an app tested from another process: outside the API's paths.
_STATS_ROUTE = "/emulator/stats"
_STATS_RESET_ROUTE = "/emulator/stats/reset"
_UNAUTHORIZED = "Unauthorized: missing or invalid API key (send `Authorization: Bearer <key>`)"
_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"
)
_NOT_RUNNING = "the emulator is not running: call start() or use it as a context manager"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
_BACKLOG = 1024
_COALESCE_BYTES = 64 << 10


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: bytes
    headers: list[tuple[str, str]]
    content_type: str = "application/json"
    cut: bool = False


class Emulator:
    """A real HTTP server on loopback that answers like AI/ML API's `POST /v1/embeddings`.

    For tests, examples and benchmarks without a key or a network::

        with Emulator(latency=0.05) as api:
            client = EmbeddingsClient(api_key=api.api_key, base_url=api.base_url)

    Every registry model is served with its real width and limits (inputs and tokens per request,
    context per input, counted by `count_tokens`), its `dimensions`, `input_type`/`task_type` and
    usage rules, and AI/ML API's error body. The vectors are deterministic hashed bags of words:
    texts that share words are close, but they are NOT the real model's vectors.

    Faults (see `Faults`) are set as keyword arguments, changed with `configure()`, scripted
    with `fail_next()`, and reproducible from `seed`. Every request is kept in `requests`, up to
    the last `max_records` (so that a long-running CLI or benchmark does not grow without end).
    Encoded answers are cached per text, up to `cache_bytes`; see `warm()`.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        max_records: int | None = 100_000,
        cache_bytes: int = 256 << 20,
        **faults: Unpack[FaultOptions],
    ) -> None:
        self._api_key = api_key if api_key is not None else f"emu-{secrets.token_hex(16)}"
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._state = FaultState(Faults(**faults), seed)
        self._bank = VectorBank(max_bytes=cache_bytes)
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self._records_lock = threading.Lock()
        self._catalogue = Catalogue()
        self._schema_violations = 0
        self._in_flight = 0
        self._peak_in_flight = 0
        self._request_ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(4)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving on a background thread; returns once the port is bound."""
        if self._thread is not None:
            return self
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="aimlapi-emulator", daemon=True
        )
        self._thread.start()
        try:
            self._port = ready.result(timeout=_START_TIMEOUT)
        except BaseException:
            self._thread.join(_STOP_TIMEOUT)
            self._thread = None
            raise
        return self

    def stop(self) -> None:
        """Stop serving: close every connection, answer nothing more. Safe to call twice."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_TIMEOUT)
        self._thread = self._loop = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "stopped"
        return f"<Emulator {where}>"

    # -- what tests read ---------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The key the emulator accepts (`Authorization: Bearer <api_key>`)."""
        return self._api_key

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(_NOT_RUNNING)
        return self._port

    @property
    def base_url(self) -> str:
        """The API base, as clients want it: `http://127.0.0.1:PORT/v1`."""
        # A wildcard bind is reachable on loopback, and loopback keeps the key off the network.
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self._host, self._host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"

    @property
    def url(self) -> str:
        """The embeddings endpoint itself: `http://127.0.0.1:PORT/v1/embeddings`."""
        return f"{self.base_url}/embeddings"

    @property
    def faults(self) -> Faults:
        """The fault settings in force now."""
        return self._state.faults

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request received since start (or the last `clear()`)."""
        with self._records_lock:
            return list(self._records)

    @property
    def schema_violations(self) -> int:
        """Embedding requests refused because their body broke the model's published schema."""
        return self._schema_violations

    @property
    def in_flight(self) -> int:
        """Embedding requests being served right now."""
        return self._in_flight

    @property
    def peak_concurrency(self) -> int:
        """The most embedding requests served at once since start (or the last `clear()`)."""
        return self._peak_in_flight

    def stats(self) -> dict[str, Any]:
        """Counters of the embedding requests since start (or the last `clear()`), as served
        at `GET /emulator/stats`: `requests`, `inputs`, `tokens` (of the requests answered 200,
        as the API bills), `by_status` (status -> requests), `schema_violations`,
        `peak_concurrency`, `in_flight`."""
        embedding = [record for record in self.requests if record.path.rstrip("/") in _ROUTES]
        answered = [record for record in embedding if record.status == 200]
        by_status: dict[str, int] = {}
        for record in embedding:
            by_status[str(record.status)] = by_status.get(str(record.status), 0) + 1
        return {
            "requests": len(embedding),
            "inputs": sum(len(record.inputs) for record in answered),
            "tokens": sum(record.total_tokens for record in answered),
            "by_status": dict(sorted(by_status.items())),
            "schema_violations": self.schema_violations,
            "peak_concurrency": self.peak_concurrency,
            "in_flight": self.in_flight,
        }

    # -- what tests change -------------------------------------------------------------------

    def configure(self, **changes: Unpack[FaultOptions]) -> None:
        """Change fault settings from now on, for example `configure(error_rate=0.2)`."""
        self._state.configure(dataclasses.replace(self._state.faults, **changes))

    def fail_next(
        self,
        status: int | ScriptedFault = 500,
        *,
        count: int = 1,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next `count` valid requests with `status` before any other fault.

        `status` is an HTTP status (an error body carries `message`; with `retry_after` the
        answer carries `Retry-After` and `retry-after-ms`, without it none), or "drop" (cut the
        answer off midway), "html" (200 with an HTML page) or "hang" (answer after
        `hang_seconds`). Scripted answers come before every other fault, caps included.
        """
        self._state.script(status, count=count, retry_after=retry_after, message=message)

    def warm(
        self,
        texts: Iterable[str],
        model: str,
        *,
        dimensions: int | None = None,
        encoding_format: Encoding | None = None,
    ) -> None:
        """Encode the answers for `texts` ahead of time, for benchmarks.

        A text's first answer costs the emulator a fraction of a millisecond, its later ones a
        dict lookup; warming makes a benchmark's first pass as cheap as the rest, so that it
        measures the client. `encoding_format` defaults to the one the client uses for `model`.
        """
        width, encoding = answer_format(
            model, dimensions=dimensions, encoding_format=encoding_format
        )
        texts = list(texts)
        loop = self._loop
        if loop is None:
            raise RuntimeError(_NOT_RUNNING)

        async def encode() -> None:
            # On the server's own loop: the bank belongs to it.
            for text in texts:
                self._bank.fragment(text, width, encoding)

        asyncio.run_coroutine_threadsafe(encode(), loop).result()

    def publish_model(
        self,
        model_id: str,
        schema: dict[str, Any],
        *,
        context_length: int | None = None,
        aliases: Iterable[str] = (),
    ) -> None:
        """List `model_id` in the catalogue (`GET /v1/models`) with `schema` as its `docsJson`.

        Replaces the entry of a model already listed, so a test can also publish a changed
        schema for a known model. Only the catalogue changes: embedding requests are still
        answered by the registry's rules.
        """
        self._catalogue.publish(
            PublishedModel(model_id, schema, context_length=context_length, aliases=tuple(aliases))
        )

    def withdraw_model(self, model_id: str) -> None:
        """Take `model_id` out of the catalogue, as the API does when it stops serving one."""
        self._catalogue.withdraw(model_id)

    def clear(self) -> None:
        """Forget recorded requests, schema violations and the peak concurrency."""
        with self._records_lock:
            self._records.clear()
        self._schema_violations = 0
        self._peak_in_flight = self._in_flight

    def reset(self) -> None:
        """Back to the construction settings: faults, no scripted answers, seed sequence from
        the start, no records."""
        self._state.reset()
        self.clear()

    # -- the server thread -------------------------------------------------------------------

    def _run(self, ready: concurrent.futures.Future[int]) -> None:
        loop = asyncio.new_event_loop()
        try:
            server = loop.run_until_complete(
                asyncio.start_server(
                    self._serve_connection,
                    self._host,
                    self._requested_port,
                    # Clients open many connections at once; an overflowing backlog drops SYNs,
                    # which costs the client a one-second retransmit.
                    backlog=_BACKLOG,
                )
            )
        except BaseException as exc:
            loop.close()
            ready.set_exception(exc)
            return
        self._loop = loop
        ready.set_result(server.sockets[0].getsockname()[1])
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shut_down(server))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shut_down(self, server: asyncio.Server) -> None:
        server.close()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                try:
                    request = await read_request(reader, writer)
                except HttpError as exc:
                    body = error_body(exc.status, exc.message, request_id="", path="")
                    self._send(writer, _Reply(exc.status, body, []), keep_alive=False)
                    await writer.drain()
                    return
                if request is None:
                    return
                reply = await self._answer(request)
                self._send(writer, reply, keep_alive=request.keep_alive)
                if reply.cut or not request.keep_alive:
                    return
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        except asyncio.CancelledError:
            # stop() cancels every connection. End the task normally: before Python 3.12 the
            # streams machinery logs an error for a connection task that ends cancelled.
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    @staticmethod
    def _send(writer: asyncio.StreamWriter, reply: _Reply, *, keep_alive: bool) -> None:
        head = render_head(
            reply.status,
            len(reply.body),
            content_type=reply.content_type,
            headers=reply.headers,
            keep_alive=keep_alive,
        )
        # A dropped connection announces the whole body, sends half, and closes.
        body = reply.body[: len(reply.body) // 2] if reply.cut else reply.body
        if len(body) < _COALESCE_BYTES:
            writer.write(head + body)  # one send: a syscall costs more than this copy
        else:
            writer.write(head)
            writer.write(body)

    async def _answer(self, request: HttpRequest) -> _Reply:
        request_id = f"emu-{self._id_prefix}-{next(self._request_ids):06d}"
        arrived = time.monotonic()
        path = request.path.rstrip("/")
        if request.method == "GET" and (path in _CATALOGUE_ROUTES or path == _DOCS_ROUTE):
            return self._published(request, request_id, arrived)
        if (request.method, path) in {("GET", _STATS_ROUTE), ("POST", _STATS_RESET_ROUTE)}:
            # Not recorded: reading the counters must not change them.
            if path == _STATS_RESET_ROUTE:
                self.clear()
            body = json.dumps(self.stats()).encode()
            return _Reply(200, body, [("x-request-id", request_id)])
        if path not in _ROUTES or request.method != "POST":
            message = f"Cannot {request.method} {request.path}"
            self._record(RequestRecord(request_id, arrived, request.path, 404, message=message))
            return self._error(request, request_id, Verdict(404, message=message))
        self._in_flight += 1
        self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            return await self._embeddings(request, request_id, arrived)
        finally:
            self._in_flight -= 1

    async def _embeddings(self, request: HttpRequest, request_id: str, arrived: float) -> _Reply:
        parsed = parse_request(request.body, token_factor=self._state.faults.token_factor)
        if not self._authorized(request.headers.get("authorization", "")):
            verdict = Verdict(401, message=_UNAUTHORIZED)
        elif parsed.call is None:
            verdict = Verdict(parsed.status, message=parsed.message)
        else:
            verdict = self._state.decide(
                inputs=len(parsed.inputs),
                tokens=sum(parsed.tokens),
                in_flight=self._in_flight,
                now=time.monotonic(),
            )
        if parsed.violations:
            self._schema_violations += 1  # on the server's one thread: no lock needed
        self._record(self._describe(request, request_id, arrived, parsed, verdict))
        if verdict.delay:
            await asyncio.sleep(verdict.delay)
        if verdict.status != 200:
            return self._error(request, request_id, verdict)
        headers = self._headers(request_id, verdict)
        if verdict.body == "html":
            return _Reply(200, _HTML_PAGE, headers, content_type="text/html")
        assert parsed.call is not None
        body = answer_body(parsed.call, self._bank, verdict.order(len(parsed.inputs)))
        return _Reply(200, body, headers, cut=verdict.body == "drop")

    def _published(self, request: HttpRequest, request_id: str, arrived: float) -> _Reply:
        """The catalogue or one model's docsJson: no key needed, as on the real API."""
        if request.path.rstrip("/") == _DOCS_ROUTE:
            body = self._catalogue.docs_json(request.query)
        else:
            origin = self.base_url.removesuffix("/v1")
            body = self._catalogue.listing(origin, request.query)
        if body is None:
            message = f"no model matches {request.query!r}"
            self._record(RequestRecord(request_id, arrived, request.path, 404, message=message))
            return self._error(request, request_id, Verdict(404, message=message))
        self._record(RequestRecord(request_id, arrived, request.path, 200))
        return _Reply(200, body, [("x-request-id", request_id)])

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._api_key.encode()
        )

    def _error(self, request: HttpRequest, request_id: str, verdict: Verdict) -> _Reply:
        message = verdict.message or "error"
        body = error_body(verdict.status, message, request_id=request_id, path=request.path)
        return _Reply(verdict.status, body, self._headers(request_id, verdict))

    @staticmethod
    def _headers(request_id: str, verdict: Verdict) -> list[tuple[str, str]]:
        headers = [("x-request-id", request_id)]
        if verdict.retry_after is not None:
            # Like OpenAI: whole seconds in the standard header, the exact wait in milliseconds.
            headers.append(("retry-after", str(math.ceil(verdict.retry_after))))
            headers.append(("retry-after-ms", str(round(verdict.retry_after * 1000))))
        return headers

    @staticmethod
    def _describe(
        request: HttpRequest,
        request_id: str,
        arrived: float,
        parsed: ParsedRequest,
        verdict: Verdict,
    ) -> RequestRecord:
        return RequestRecord(
            request_id=request_id,
            time=arrived,
            path=request.path,
            status=verdict.status,
            model=parsed.model,
            inputs=parsed.inputs,
            input_is_string=parsed.input_is_string,
            tokens=parsed.tokens,
            parameters=parsed.parameters,
            fault=verdict.fault,
            message=verdict.message,
        )

    def _record(self, record: RequestRecord) -> None:
        with self._records_lock:
            self._records.append(record)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s %s %s: %d inputs, %d tokens -> %d%s",
                record.request_id,
                record.path,
                record.model or "-",
                len(record.inputs),
                record.total_tokens,
                record.status,
                f" ({record.fault})" if record.fault else "",
            )
