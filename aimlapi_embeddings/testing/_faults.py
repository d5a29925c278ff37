"""Fault injection: what goes wrong with which request, decided reproducibly from a seed.

Random faults are drawn from a hash of `(seed, n)` where `n` counts the valid embedding requests
the emulator has received, so the n-th request meets the same fault in every run with the same
seed, whatever the timing. Only the request-rate cap depends on the clock.
"""

from __future__ import annotations

import hashlib
import random
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, TypedDict

__all__ = ["FaultKind", "FaultOptions", "FaultState", "Faults", "ScriptedFault", "Verdict"]

FaultKind = Literal[
    "scripted", "concurrency", "rate_limit", "error", "hang", "drop", "html", "shuffle"
]
ScriptedFault = Literal["drop", "html", "hang"]

_SERVER_ERRORS = (500, 502, 503)
_SERVER_ERROR_MESSAGES = {
    500: "Internal server error",
    502: "Bad gateway: the upstream model provider did not answer",
    503: "Service unavailable: the model is overloaded, try again later",
}
_MIN_RETRY_AFTER = 0.05


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class Faults:
    """What an emulator does wrong, and how slowly it does it right. All off by default.

    Rates are shares of requests in [0, 1]. Faults hit only valid requests (a 400 stays a 400).
    429s answer at once; every other answer to a valid request waits
    `latency + latency_per_input * len(inputs) + latency_per_token * tokens` seconds first
    (tokens as the emulator counts them for `usage`).
    """

    latency: float = field(default=0.0, metadata=_help("seconds added to every answer"))
    latency_per_input: float = field(
        default=0.0, metadata=_help("seconds added per input text of a request")
    )
    latency_per_token: float = field(
        default=0.0,
        metadata=_help(
            "seconds added per token of a request (a server whose time grows with text)"
        ),
    )
    error_rate: float = field(
        default=0.0, metadata=_help("share of requests answered 500, 502 or 503")
    )
    rate_limit_rps: float | None = field(
        default=None, metadata=_help("requests per second allowed (burst: one second's worth)")
    )
    max_concurrent: int | None = field(
        default=None, metadata=_help("requests allowed in flight at once; more get 429")
    )
    retry_after: float | None = field(
        default=None,
        metadata=_help("seconds a 429 asks the client to wait (default: computed from the caps)"),
    )
    drop_rate: float = field(
        default=0.0, metadata=_help("share of answers cut off mid-body (connection closed)")
    )
    html_rate: float = field(
        default=0.0, metadata=_help("share of requests answered 200 with an HTML page")
    )
    shuffle: bool = field(default=False, metadata=_help("return `data` in shuffled order"))
    hang_rate: float = field(
        default=0.0, metadata=_help("share of requests answered only after hang_seconds")
    )
    hang_seconds: float = field(
        default=30.0, metadata=_help("how long a hanging request takes (beyond client timeouts)")
    )
    token_factor: float = field(
        default=1.0,
        metadata=_help("multiply the emulator's token counts (>1 is stricter than the client)"),
    )

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate", "html_rate", "hang_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                msg = f"{name} must be between 0 and 1, not {getattr(self, name)!r}"
                raise ValueError(msg)
        for name in ("latency", "latency_per_input", "latency_per_token", "hang_seconds"):
            if getattr(self, name) < 0:
                msg = f"{name} must not be negative, not {getattr(self, name)!r}"
                raise ValueError(msg)
        for name in ("rate_limit_rps", "max_concurrent", "token_factor"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                msg = f"{name} must be positive (or None), not {value!r}"
                raise ValueError(msg)
        if self.retry_after is not None and self.retry_after < 0:
            msg = f"retry_after must not be negative, not {self.retry_after!r}"
            raise ValueError(msg)


class FaultOptions(TypedDict, total=False):
    """Keyword arguments naming `Faults` fields, for `Emulator(...)` and `Emulator.configure()`."""

    latency: float
    latency_per_input: float
    latency_per_token: float
    error_rate: float
    rate_limit_rps: float | None
    max_concurrent: int | None
    retry_after: float | None
    drop_rate: float
    html_rate: float
    shuffle: bool
    hang_rate: float
    hang_seconds: float
    token_factor: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """How to answer one valid request."""

    status: int = 200
    fault: FaultKind | None = None
    delay: float = 0.0
    message: str | None = None
    retry_after: float | None = None
    body: Literal["json", "html", "drop"] = "json"
    order_seed: int | None = None

    def order(self, count: int) -> list[int]:
        """The order of `data` items: shuffled when the verdict says so."""
        indices = list(range(count))
        if self.order_seed is not None:
            random.Random(self.order_seed).shuffle(indices)
        return indices


@dataclass(frozen=True, slots=True)
class _Scripted:
    status: int
    body: Literal["json", "html", "drop"]
    hang: bool
    retry_after: float | None
    message: str | None


class FaultState:
    """The fault settings of one emulator, its scripted answers, and the rate limiter's bucket.

    Thread-safe: tests reconfigure from their thread while the server decides on its own.
    """

    def __init__(self, faults: Faults, seed: int) -> None:
        self._lock = threading.Lock()
        self._initial = faults
        self._seed = seed
        self._restart(faults)

    def _restart(self, faults: Faults) -> None:
        self._faults = faults
        self._count = 0
        self._script: deque[_Scripted] = deque()
        self._tokens = 0.0
        self._refilled: float | None = None

    @property
    def faults(self) -> Faults:
        return self._faults

    def configure(self, faults: Faults) -> None:
        with self._lock:
            if faults.rate_limit_rps != self._faults.rate_limit_rps:
                self._refilled = None
            self._faults = faults

    def reset(self) -> None:
        with self._lock:
            self._restart(self._initial)

    def script(
        self,
        status: int | ScriptedFault,
        *,
        count: int,
        retry_after: float | None,
        message: str | None,
    ) -> None:
        if count < 0:
            msg = f"count must not be negative, not {count}"
            raise ValueError(msg)
        if isinstance(status, str):
            if status not in ("drop", "html", "hang"):
                msg = (
                    f"a scripted fault is an HTTP status or 'drop', 'html', 'hang'; not {status!r}"
                )
                raise ValueError(msg)
            body: Literal["json", "html", "drop"] = "json" if status == "hang" else status
            scripted = _Scripted(200, body, status == "hang", retry_after, message)
        else:
            if not 200 <= status <= 599:
                msg = f"status must be an HTTP status from 200 to 599, not {status}"
                raise ValueError(msg)
            scripted = _Scripted(status, "json", False, retry_after, message)
        with self._lock:
            self._script.extend([scripted] * count)

    def decide(self, *, inputs: int, tokens: int, in_flight: int, now: float) -> Verdict:
        """The verdict for the next valid request of `inputs` texts and `tokens` tokens,
        `in_flight` counting it."""
        with self._lock:
            faults = self._faults
            draw = self._draws(self._count, faults)
            self._count += 1
            delay = (
                faults.latency
                + faults.latency_per_input * inputs
                + faults.latency_per_token * tokens
            )
            if self._script:
                return self._scripted(self._script.popleft(), faults, delay)
            if faults.max_concurrent is not None and in_flight > faults.max_concurrent:
                wait = max(_MIN_RETRY_AFTER, faults.latency)
                return self._too_many(faults, wait, f"at most {faults.max_concurrent} concurrent")
            if faults.rate_limit_rps is not None:
                wait = self._take_token(faults.rate_limit_rps, now)
                if wait > 0:
                    limit = f"at most {faults.rate_limit_rps:g} requests per second"
                    return self._too_many(faults, wait, limit, fault="rate_limit")
        if draw is None:
            return Verdict(delay=delay)
        if draw[0] < faults.error_rate:
            status = _SERVER_ERRORS[int(draw[1] * len(_SERVER_ERRORS))]
            message = _SERVER_ERROR_MESSAGES[status]
            return Verdict(status, "error", delay, message)
        if draw[2] < faults.hang_rate:
            return Verdict(fault="hang", delay=delay + faults.hang_seconds)
        if draw[3] < faults.drop_rate:
            return Verdict(fault="drop", delay=delay, body="drop")
        if draw[4] < faults.html_rate:
            return Verdict(fault="html", delay=delay, body="html")
        if faults.shuffle:
            return Verdict(fault="shuffle", delay=delay, order_seed=int(draw[5] * 2**52))
        return Verdict(delay=delay)

    def _draws(self, count: int, faults: Faults) -> tuple[float, ...] | None:
        if not (
            faults.error_rate
            or faults.hang_rate
            or faults.drop_rate
            or faults.html_rate
            or faults.shuffle
        ):
            return None
        digest = hashlib.blake2b(f"{self._seed}:{count}".encode(), digest_size=24).digest()
        return tuple(value / 2**32 for value in struct.unpack("<6I", digest))

    def _take_token(self, rps: float, now: float) -> float:
        """Seconds until a request may pass the rate cap; 0 when this one may (and is charged)."""
        capacity = max(1.0, rps)
        if self._refilled is None:
            self._tokens, self._refilled = capacity, now
        self._tokens = min(capacity, self._tokens + (now - self._refilled) * rps)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / rps

    @staticmethod
    def _too_many(
        faults: Faults, wait: float, limit: str, fault: FaultKind = "concurrency"
    ) -> Verdict:
        retry_after = faults.retry_after if faults.retry_after is not None else wait
        message = f"Too many requests: {limit} (emulator limit); retry after {retry_after:.3g}s"
        return Verdict(429, fault, 0.0, message, retry_after)

    @staticmethod
    def _scripted(scripted: _Scripted, faults: Faults, delay: float) -> Verdict:
        if scripted.status == 429:
            too_many = scripted.message or "Too many requests (scripted)"
            return Verdict(429, "scripted", 0.0, too_many, scripted.retry_after)
        if scripted.hang:
            delay += faults.hang_seconds
        message = scripted.message
        if message is None and scripted.status >= 400:
            message = _SERVER_ERROR_MESSAGES.get(scripted.status) or "Scripted failure"
        return Verdict(
            scripted.status, "scripted", delay, message, scripted.retry_after, scripted.body
        )
