"""The flow of one request batch, written once, and the sync and async shells that drive it.

A batch flow is a generator: it yields `Send(request, ...)` or `Sleep(seconds)` and receives
the answer (or the error that took its place) back. Building, sending, parsing, retrying with
backoff and splitting on "too long" are decided inside the flow by the pure functions below; the
shells only perform the I/O: `httpx.Client` + `time` in threads, `httpx.AsyncClient` + `asyncio`
in tasks. Each attempt is bounded as a whole by the call's timeout and its answer by a size cap
(`_body`); a shell hands the flow an `Answer` or an `AimlapiError`, never an httpx object, whose
repr (reason phrase, headers) could show what a hostile server echoed.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import re
import threading
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

import httpx

from . import _network
from ._arguments import attempt_seconds
from ._assembly import LIST_ROWS, Row, Rows
from ._batching import LongText, estimate_tokens, sends_alone, split_text
from ._body import BodyReader
from ._errors import (
    AimlapiError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InputTooLongError,
    ResponseError,
)
from ._gate import Gate, Stopped, SyncCall
from ._response import WIDEST_VECTOR, Answer, CallWidth, Usage, make_status_error
from ._secret import Secret, redact
from .models import ModelSpec, model_status_note

logger = logging.getLogger("aimlapi_embeddings")

INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
# A server asking for a longer wait than this is not believed; backoff applies instead.
MAX_SERVER_RETRY_AFTER = 60.0
# After a 429, requests leave at most this far apart (see Throttle).
MAX_PACING_INTERVAL = 0.1
# A single text the server calls too long is halved at most this many times: past a 16x cut, our
# count and the server's disagree for a reason that splitting will not fix.
MAX_TEXT_SPLITS = 4
# The size cap of an answer, from the largest valid one: a number in JSON takes at most 24
# characters ("-2.2250738585072014e-308"), 48 with a separator and a pretty-printer's indent;
# each vector adds its object ("index", "object", "embedding"), and the envelope its usage. The
# largest valid answer, 2048 inputs of 3072 floats, is about 150 MB as JSON; its cap is 302 MB.
# One text's answer is capped at 0.2 MB (3072 wide) to 0.5 MB (width unknown).
BYTES_PER_NUMBER = 48
BYTES_PER_VECTOR = 200
ANSWER_ENVELOPE = 64 * 1024

_RETRY_STATUSES = frozenset({408, 409, 429})
_TOO_MANY_INPUTS = re.compile(
    r"too many inputs|batch size|inputs per request|number of inputs|array too long|"
    r"at most \d+ (inputs|texts|items)|"
    # The gateway's schema check, when a list has more items than the model's schema allows.
    r"must contain at most \d+ element",
    re.IGNORECASE,
)
_TOO_MANY_TOKENS = re.compile(
    r"context length|too long|too many tokens|maximum allowed tokens|max allowed tokens|"
    r"token count|input length|tokens per|exceeds? the (max|limit)|"
    # The gateway's schema check, when a string is over the model's character limit.
    r"must contain at most \d+ character",
    re.IGNORECASE,
)


# ---- pure decisions ----------------------------------------------------------------------------


def should_retry_status(status_code: int) -> bool:
    """408, 409, 429 and every 5xx are retried; 400, 401, 403, 404 and the rest are not."""
    return status_code in _RETRY_STATUSES or status_code >= 500


def server_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait (retry-after-ms, Retry-After seconds or HTTP date)."""
    if not headers:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return float(milliseconds) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.timestamp() - (time.time() if now is None else now)


def retry_delay(
    attempt: int,
    headers: Mapping[str, str] | None = None,
    *,
    jitter: Callable[[], float] = random.random,
    now: float | None = None,
) -> float:
    """Seconds to wait before retry `attempt + 1`: the server's word if sane, else backoff."""
    asked = server_retry_after(headers, now)
    if asked is not None and 0 <= asked <= MAX_SERVER_RETRY_AFTER:
        # At least what was asked, and a little more at random: clients told the same moment
        # would otherwise all come back at once and collide again.
        return asked * (1.0 + 0.25 * jitter())
    # The exponent is bounded: 2.0**1100 overflows, and 2**16 is past MAX_RETRY_DELAY already.
    backoff = min(INITIAL_RETRY_DELAY * 2.0 ** min(attempt, 16), MAX_RETRY_DELAY)
    return backoff * (1.0 - 0.25 * jitter())


def overflow_kind(error: APIStatusError) -> str | None:
    """ "inputs" or "tokens" when a 400/413 says the request or a text was too big, else None."""
    if error.status_code == 413:  # a proxy's "Request Entity Too Large" names no reason
        return "tokens"
    if error.status_code != 400:
        return None
    if _TOO_MANY_INPUTS.search(error.message):
        return "inputs"
    if _TOO_MANY_TOKENS.search(error.message):
        return "tokens"
    return None


def _address(url: httpx.URL) -> str:
    """host:port, without the path or query (which may carry tokens of their own)."""
    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{port}"


def connection_error(
    exc: httpx.TransportError, url: httpx.URL, secret: Secret | None
) -> APIConnectionError:
    """The error for a request that got no (whole) answer, naming the host it was sent to.

    The cause is a copy of httpx's exception without its traceback: the frames of httpx and
    httpcore hold the request's headers, and tracebacks that print locals would show them.
    """
    where = _address(url)
    detail = redact(str(exc), secret)[:300]
    error: APIConnectionError
    if isinstance(exc, httpx.TimeoutException):
        error = APITimeoutError(f"{where} did not answer in time ({type(exc).__name__}: {detail})")
    elif isinstance(exc, httpx.ConnectError):
        error = APIConnectionError(f"could not reach {where}: {type(exc).__name__}: {detail}")
    else:
        error = APIConnectionError(
            f"the connection to {where} failed: {type(exc).__name__}: {detail}"
        )
    error.__cause__ = type(exc)(detail)
    return error


E = TypeVar("E", bound=BaseException)


def detached(error: E) -> E:
    """`error` without the frames it was raised in and the exception it was raised during.

    Their local variables hold what the server sent (a body, a header), and tracebacks that
    print locals (pytest --showlocals, Sentry, rich) walk the whole chain. The error is raised
    again, afresh, where the flow decides to.
    """
    error.__traceback__ = None
    error.__context__ = None
    return error


def deadline_error(url: httpx.URL, seconds: float) -> APITimeoutError:
    return APITimeoutError(f"{_address(url)} did not answer in time: not within {seconds:g} s")


# ---- shared state of one client ----------------------------------------------------------------


class Throttle:
    """Client-wide pacing after a 429: it slows every request of the client, not only its own.

    A 429 asks for a pause, and every request of the client waits it out. After it, requests
    leave one per `interval` instead of all at the same instant, which would only meet the empty
    limit together again. The interval starts at the server's wait (at most 0.1 s: a long wait
    is a quota window, not a pace), grows by half with every further 429 and shrinks by a fifth
    with every success, so it settles near the server's rate. Measured on the emulator: 150
    single-text requests against a 25 per second cap took 5.1-5.4 s (the cap allows 5.0 s); one
    429 asking for 5 s cost a 40-request call about 7 s, and the next call ran at full speed.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next = 0.0
        self._paused_until = 0.0
        self._interval = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Seconds the caller must wait before sending; reserves its turn."""
        with self._lock:
            now = self._clock()
            turn = max(now, self._next)
            if self._interval:
                self._next = turn + self._interval
            return turn - now

    def held(self) -> float:
        """Seconds left of the last pause: a request that reserved its turn before a 429 and
        waited for a slot since (see FLOWS_PER_SLOT) waits this long before it is sent."""
        return max(0.0, self._paused_until - self._clock())

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self._next = max(self._next, self._paused_until)
            # The server's wait is the time to its next free slot, not its rate: a 429 while
            # already paced means the pace is still too fast, so it slows by half again. A long
            # wait (a quota window) is a pause for everyone, not a pace: the interval is capped.
            self._interval = min(max(1.5 * self._interval, seconds), MAX_PACING_INTERVAL)

    def relax(self) -> None:
        if self._interval:  # racy read on purpose: the common case takes no lock
            with self._lock:
                self._interval = 0.0 if self._interval < 0.001 else self._interval * 0.9


# ---- the flow of one batch ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """One attempt at a request."""

    request: httpx.Request
    max_bytes: int
    """The largest valid answer; a larger one is refused before it is read whole."""
    seconds: float | None
    """How long the attempt may take as a whole; None: no bound."""
    secret: Secret
    throttle: Throttle
    """Asked again once the request has its slot (`Throttle.held`)."""


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Step = Send | Sleep
Outcome = Answer | AimlapiError | None
BatchResult = tuple[list[Row], Usage]
Flow = Generator[Step, Outcome, BatchResult]


@dataclass(frozen=True, slots=True)
class CallSettings:
    """Everything a batch flow needs; fixed for one embed() call."""

    url: str
    headers: Mapping[str, str] = field(repr=False)
    """Without Authorization: `BearerAuth` adds it as the request is sent. Not in the repr:
    `default_headers` may hold credentials of their own (a proxy's token)."""
    secret: Secret
    body: Mapping[str, Any]
    """Every field but `input`."""
    spec: ModelSpec
    width: CallWidth
    long_text: LongText
    max_retries: int
    throttle: Throttle
    timeout: httpx.Timeout
    model: str = ""
    copies: Mapping[int, Sequence[int]] = field(default_factory=dict)
    """Input positions: for a text whose pieces later texts share (blank texts share one
    stand-in, repeated texts are sent once), those texts."""
    rows: Rows = LIST_ROWS
    """The output format: how answers are decoded and pieces averaged."""

    def texts_of(self, owners: Sequence[int]) -> list[int]:
        """The input positions a request carried: its pieces' owners, and the texts that share
        their pieces."""
        named = set(owners)
        for owner in owners:
            named.update(self.copies.get(owner, ()))
        return sorted(named)

    def send(self, pieces: Sequence[str]) -> Send:
        """The step that sends `pieces` in one request."""
        width = self.width.expected or WIDEST_VECTOR
        limit = ANSWER_ENVELOPE + len(pieces) * (BYTES_PER_VECTOR + width * BYTES_PER_NUMBER)
        return Send(
            self.request(pieces), limit, attempt_seconds(self.timeout), self.secret, self.throttle
        )

    def request(self, pieces: Sequence[str]) -> httpx.Request:
        body = dict(self.body)
        alone = len(pieces) == 1 and sends_alone(pieces[0], self.spec)
        body["input"] = pieces[0] if alone else list(pieces)
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        # Set the timeout on the request itself: httpx < 0.28 applies the client's timeout only
        # to requests it builds, and a request without one would wait forever.
        extensions = {"timeout": self.timeout.as_dict()}
        return httpx.Request(
            "POST", self.url, headers=self.headers, content=content, extensions=extensions
        )


def batch_flow(
    call: CallSettings, pieces: Sequence[str], owners: Sequence[int], splits: int = 0
) -> Flow:
    """Embed `pieces` in one request, retrying and splitting as needed.

    `owners` names the input text of each piece, for error messages; `splits` counts how often
    the text being sent was already halved because the server called it too long.
    """
    if len(pieces) > 1 and any(sends_alone(piece, call.spec) for piece in pieces):
        # The planner never batches such pieces; halves of a text the server called too long
        # can be, and go one request each.
        return (yield from _one_by_one(call, pieces, owners, splits))
    step = call.send(pieces)
    attempt = 0
    while True:
        pause = call.throttle.reserve()
        if pause > 0:
            yield Sleep(pause)
        logger.debug(
            "POST %s model=%s inputs=%d attempt=%d", call.url, call.model, len(pieces), attempt + 1
        )
        # No local variable here holds what the server sent but `outcome`, whose repr is safe.
        outcome = yield step
        error: AimlapiError
        if isinstance(outcome, Answer):
            if outcome.status == 200:
                try:
                    vectors, usage = call.rows.parse(
                        outcome.body, len(pieces), call.width.expected, secret=call.secret
                    )
                    call.width.agree(len(vectors[0]))
                except ResponseError as exc:
                    error = detached(exc)
                else:
                    call.throttle.relax()
                    return vectors, usage
            else:
                status_error = make_status_error(
                    outcome.status,
                    outcome.reason,
                    outcome.body,
                    outcome.headers,
                    call.secret,
                    call.texts_of(owners),
                    model_status_note(call.spec),
                )
                kind = overflow_kind(status_error)
                if kind is not None:
                    return (
                        yield from _split_flow(call, pieces, owners, status_error, kind, splits)
                    )
                if not should_retry_status(outcome.status):
                    raise status_error
                error = status_error
        else:
            assert outcome is not None
            error = outcome
        if attempt >= call.max_retries:
            raise error
        delay = retry_delay(attempt, outcome.headers if isinstance(outcome, Answer) else None)
        attempt += 1
        logger.info("retrying in %.2fs (attempt %d) after: %s", delay, attempt + 1, error)
        if isinstance(error, APIStatusError) and error.status_code == 429:
            # The wait is the client's: the throttle holds this request back with all others,
            # in the order they asked, at the top of the loop.
            call.throttle.pause(delay)
        else:
            yield Sleep(delay)


def _one_by_one(
    call: CallSettings, pieces: Sequence[str], owners: Sequence[int], splits: int
) -> Flow:
    """Pieces that must go alone: each in its own request, in turn."""
    vectors: list[Row] = []
    usage = Usage()
    for piece, owner in zip(pieces, owners, strict=True):
        piece_vectors, piece_usage = yield from batch_flow(call, [piece], [owner], splits)
        vectors += piece_vectors
        usage += piece_usage
    return vectors, usage


def _split_flow(
    call: CallSettings,
    pieces: Sequence[str],
    owners: Sequence[int],
    error: APIStatusError,
    kind: str,
    splits: int,
) -> Flow:
    """The server said the request or a text is too big: halve the batch, or else the text."""
    if len(pieces) > 1:
        middle = len(pieces) // 2
        left, left_usage = yield from batch_flow(call, pieces[:middle], owners[:middle], splits)
        right, right_usage = yield from batch_flow(call, pieces[middle:], owners[middle:], splits)
        return left + right, left_usage + right_usage
    piece, owner = pieces[0], owners[0]
    if kind != "tokens" or splits >= MAX_TEXT_SPLITS:
        raise error
    if call.long_text == "error":
        msg = f"texts[{owner}] is over the model's context by the server's count: {error.message}"
        raise InputTooLongError(msg, index=owner) from error
    halves = split_text(piece, max(2, estimate_tokens(piece) // 2))
    if len(halves) < 2:
        raise error
    if call.long_text == "truncate":
        halves = halves[:1]
    logger.info("texts[%d] is too long for the server; sending it in %d pieces", owner, len(halves))
    vectors, usage = yield from batch_flow(call, halves, [owner] * len(halves), splits + 1)
    return [call.rows.combine(vectors, [len(half) for half in halves])], usage


# ---- shells ------------------------------------------------------------------------------------

T = TypeVar("T")


class _Stopped(Exception):
    """Another batch of the same call failed; this one gives up instead of sleeping on."""


def _rate_limited(outcome: Outcome) -> bool:
    return isinstance(outcome, Answer) and outcome.status == 429


def reader_for(response: httpx.Response, max_bytes: int, status: int | None = None) -> BodyReader:
    """A reader for `response`'s body, as an answer of `status` (default: its own) under
    `max_bytes`; fed already if the body is in memory."""
    status = response.status_code if status is None else status
    if response.is_stream_consumed:
        # An answer built in memory (httpx.MockTransport): httpx has read and decoded it.
        reader = BodyReader(status, None, max_bytes)
        reader.feed(response.content)
        return reader
    encoding = response.headers.get("content-encoding")
    return BodyReader(status, encoding, max_bytes, response.headers.get("content-length"))


def read_body(response: httpx.Response, max_bytes: int, status: int | None = None) -> BodyReader:
    """`reader_for`, fed with the rest of a streamed response's raw chunks, with blocking I/O."""
    reader = reader_for(response, max_bytes, status)
    for chunk in [] if response.is_stream_consumed else response.iter_raw():
        if not reader.feed(chunk):
            break
    return reader


def _answer(response: httpx.Response, reader: BodyReader) -> Answer:
    return Answer(response.status_code, response.reason_phrase, response.headers, reader.body())


def exchange_sync(client: httpx.Client, step: Send, stop: threading.Event | None) -> Outcome:
    """One attempt: send, read the answer under its cap, all within the attempt's time."""
    try:
        with _network.attempt(step.seconds, stop):
            response = client.send(step.request, stream=True)
            try:
                return _answer(response, read_body(response, step.max_bytes))
            finally:
                response.close()
    except httpx.TransportError as exc:
        return connection_error(exc, step.request.url, step.secret)
    except ResponseError as exc:  # the answer was too large or not in its encoding
        return detached(exc)


async def _read_async(client: httpx.AsyncClient, step: Send) -> Answer:
    response = await client.send(step.request, stream=True)
    try:
        reader = reader_for(response, step.max_bytes)
        if not response.is_stream_consumed:
            async for chunk in response.aiter_raw():
                if not reader.feed(chunk):
                    break
        return _answer(response, reader)
    finally:
        await response.aclose()


async def exchange_async(client: httpx.AsyncClient, step: Send) -> Outcome:
    """The async twin of `exchange_sync`; the attempt's time is bounded by `wait_for`."""
    try:
        return await asyncio.wait_for(_read_async(client, step), step.seconds)
    except asyncio.TimeoutError:
        assert step.seconds is not None
        return deadline_error(step.request.url, step.seconds)
    except httpx.TransportError as exc:
        return connection_error(exc, step.request.url, step.secret)
    except ResponseError as exc:
        return detached(exc)


class _Driven(Generic[T]):
    """A flow being driven: the step it asks for, or once it has returned, its result."""

    def __init__(self, flow: Generator[Step, Outcome, T]) -> None:
        self.flow = flow
        self.step: Step | None = None
        self.result: T | None = None
        self.send(None)

    def send(self, outcome: Outcome) -> None:
        try:
            self.step = self.flow.send(outcome)
        except StopIteration as done:
            self.step, self.result = None, done.value

    def decide(self, outcome: Outcome, stop: threading.Event) -> Answer | None:
        """Called while the request's slot is held. A 200 is returned, to be parsed once the slot
        is free (a flow waiting for it sends meanwhile, see FLOWS_PER_SLOT); anything else goes
        to the flow now, so that a fatal error stops the waiting flows before they send."""
        if isinstance(outcome, Answer) and outcome.status == 200:
            return outcome
        try:
            self.send(outcome)
        except BaseException:
            stop.set()
            raise
        return None


def _pause_in_slot(step: Send, gate: Gate) -> float:
    """Seconds the throttle still holds this request back, which waits them out in its slot;
    the gate is told, so that those waiting do not take the holder for a stuck one."""
    held = step.throttle.held()
    if held > 0:
        gate.holding_through(held)
    return held


def drive_sync(
    flow: Generator[Step, Outcome, T],
    client: httpx.Client,
    gate: Gate,
    stop: threading.Event,
    call: SyncCall,
) -> T:
    """Perform a flow's steps with blocking I/O, for `call`; `gate` bounds the client's
    requests in flight.

    `stop` is set when the call has failed elsewhere: the flow then ends at its next step, and a
    request it has in flight ends at once (`_network`).
    """
    driven = _Driven(flow)
    while (step := driven.step) is not None:
        if isinstance(step, Sleep):
            if stop.wait(step.seconds):
                flow.close()
                raise _Stopped
            driven.send(None)
            continue
        try:
            with gate.slot(stop, call) as slot:
                held = _pause_in_slot(step, gate)
                if stop.wait(held) if held > 0 else stop.is_set():
                    raise _Stopped
                outcome = exchange_sync(client, step, stop)
                if stop.is_set() and not isinstance(outcome, Answer):
                    # Cut short because the call failed elsewhere: that failure is the one to
                    # raise, not this connection error, which may be collected first.
                    raise _Stopped
                slot.rate_limited = _rate_limited(outcome)
                answer = driven.decide(outcome, stop)
        except (Stopped, _Stopped):
            flow.close()
            raise _Stopped from None
        if answer is not None:
            driven.send(answer)
    return driven.result  # type: ignore[return-value]  # set when the flow returned


async def drive_async(
    flow: Generator[Step, Outcome, T], client: httpx.AsyncClient, gate: Gate, stop: threading.Event
) -> T:
    """Perform a flow's steps on the running event loop; `gate` and `stop` as in `drive_sync`."""
    driven = _Driven(flow)
    while (step := driven.step) is not None:
        if isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
            driven.send(None)
            continue
        async with gate.aslot() as slot:
            held = _pause_in_slot(step, gate)
            if held > 0:
                await asyncio.sleep(held)
            if stop.is_set():
                flow.close()
                raise _Stopped
            outcome = await exchange_async(client, step)
            slot.rate_limited = _rate_limited(outcome)
            answer = driven.decide(outcome, stop)
        if answer is not None:
            await asyncio.sleep(0)  # the flow waiting for the slot just freed sends first
            driven.send(answer)
    return driven.result  # type: ignore[return-value]  # set when the flow returned


# ---- schedulers: many flows at once under max_concurrency -------------------------------------

K = TypeVar("K")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

# Flows run at once per request allowed in flight. The extra flows wait at the gate with their
# request ready: one goes out the moment an answer is in, while that answer is parsed, instead of
# after it (20,000 texts in 40 requests, numpy output, emulator at 50 ms + 0.5 ms per text:
# 2.1-2.3 s with one flow per slot, 1.8-1.9 s with two; a raw httpx client that parses nothing
# takes 1.7 s). The gate keeps requests in flight within max_concurrency.
FLOWS_PER_SLOT = 2


class Work(Protocol[K, T, R_co]):
    """What a scheduler runs: flows handed out by `take`, their results handed back to `add`.

    `take` is asked again after every `add`, so what a result decides (a stream's next window)
    starts at once. `add` returns what the scheduler yields to its caller (a finished chunk).
    """

    def take(self, most: int) -> Sequence[tuple[K, Callable[[], Generator[Step, Outcome, T]]]]:
        """Up to `most` more flows to start, each with a key that `add` gets back."""

    def add(self, key: K, result: T) -> Iterable[R_co]: ...


def _add_finished(
    work: Work[K, T, R], done: Iterable[Future[T] | asyncio.Task[T]], running: dict[Any, K]
) -> tuple[list[R], BaseException | None]:
    """Hand finished flows' results to `work`: what it made of them, and the first failure.

    A flow that gave up because another one failed (`_Stopped`) is left out: the other one's
    error is the one to raise, and it comes, in this batch or the next.
    """
    made: list[R] = []
    failure: BaseException | None = None
    for flow in done:
        key = running.pop(flow)
        error = flow.exception()
        if error is None:
            made += work.add(key, flow.result())
        elif failure is None and not isinstance(error, _Stopped):
            failure = error
    return made, failure


# The stop signals of the sync runs under way. A stream left suspended (an exception in the body
# of its for loop with the stream still referenced, a thread that took a chunk and ended) is
# never closed; at exit its flows are all stopped, so that none starts another request.
_runs: weakref.WeakSet[threading.Event] = weakref.WeakSet()


def _stop_every_run() -> None:
    for stop in list(_runs):
        stop.set()


threading._register_atexit(_stop_every_run)  # type: ignore[attr-defined]


def _in_daemon_thread(function: Callable[[], T]) -> Future[T]:
    """Run `function` in a daemon thread of its own; its result or error in the future.

    Not a ThreadPoolExecutor, whose threads the interpreter joins at exit: a request stuck in
    its connect or TLS handshake (an overloaded server, one that never speaks TLS) sees the stop
    signal only when its connect timeout ends, and held the process that long after Ctrl-C. A
    flow is a request with its retries: a thread each costs little beside it.
    """
    future: Future[T] = Future()
    future.set_running_or_notify_cancel()

    def run() -> None:
        try:
            result = function()
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=run, name="aimlapi-embed", daemon=True).start()
    return future


def run_sync(
    work: Work[K, T, R], client: httpx.Client, gate: Gate, max_concurrency: int
) -> Iterator[R]:
    """Run `work`'s flows in threads, `max_concurrency` requests in flight at most; yield what
    `add` makes of their results, as they complete."""
    stop = threading.Event()
    _runs.add(stop)
    call = SyncCall()
    owner = os.getpid()
    flows = FLOWS_PER_SLOT * max_concurrency
    running: dict[Future[T], K] = {}

    def start() -> None:
        for key, make_flow in work.take(flows - len(running)):
            flow = partial(drive_sync, make_flow(), client, gate, stop, call)
            running[_in_daemon_thread(flow)] = key

    try:
        start()
        while running:
            if os.getpid() != owner:
                raise _forked(owner)
            # Only while it waits here does the caller block its event loop, if it runs one:
            # between a stream's chunks that loop runs, and its tasks end their requests.
            with gate.blocking(call):
                done, _ = wait(running, return_when=FIRST_COMPLETED)
            made, failure = _add_finished(work, done, running)
            # What is made is handed out before a failure is raised (a stream's caller then has
            # every chunk up to the error's `resume_from`), and before more work is taken: a
            # stream reads on only once the chunks before have been taken. The flows already
            # started keep requests in flight meanwhile.
            yield from made
            if failure is not None:
                raise failure
            if not stop.is_set():
                start()
    except BaseException:
        # Raise now, not after the requests still in flight: `stop` ends them and their threads
        # at once (Ctrl-C included). The same when the caller stops reading (GeneratorExit).
        stop.set()
        raise


def _forked(owner: int) -> APIConnectionError:
    # A sync stream read on in a forked child: its requests run in threads of the parent, which
    # do not exist here, so waiting for them would wait for ever.
    return APIConnectionError(
        f"this stream was started in process {owner} and read on after a fork: its requests run "
        "in that process; start the stream again in this one (resume_from says where)"
    )


async def run_async(
    work: Work[K, T, R], client: httpx.AsyncClient, gate: Gate, max_concurrency: int
) -> AsyncGenerator[R, None]:
    """The async twin of `run_sync`: flows as tasks of the running event loop."""
    stop = threading.Event()
    flows = FLOWS_PER_SLOT * max_concurrency
    running: dict[asyncio.Task[T], K] = {}

    def start() -> None:
        for key, make_flow in work.take(flows - len(running)):
            running[asyncio.ensure_future(drive_async(make_flow(), client, gate, stop))] = key

    try:
        start()
        while running:
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            made, failure = _add_finished(work, done, running)
            for item in made:  # as in run_sync
                yield item
            if failure is not None:
                raise failure
            if not stop.is_set():
                start()
    finally:
        # One failed, the caller cancelled or stopped reading: stop the rest, leave no task.
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
