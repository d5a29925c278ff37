"""Texts in windows: each planned and sent as a unit, delivered in input order. Pure.

`Stream` is the `Work` the schedulers of `_transport` run, for `embed()` (one window: every text)
and `embed_stream()` (windows of `chunk_size` texts from any iterable, read as they are needed).
Requests of the next windows start as soon as a slot is free, not when a window is delivered:
up to `WINDOWS_AHEAD` windows are open at once, their batches started oldest first, so a
window's last request runs alongside the next window's first ones. Small windows make few
requests each, so more may open, but only when a free slot would otherwise find no request to
start, and only while the open windows hold fewer than `most_held` texts: the stream reads ahead
by requests, not by windows. A window is delivered, as one `EmbeddingChunk`, when all of its
batches are in and every earlier window has been delivered. At most `WINDOWS_AHEAD` windows, or
about `most_held` texts if that is more, are held with their vectors, however long the input.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._assembly import Assembly
from ._batching import Plan, validate_texts
from ._errors import AimlapiError
from ._response import Usage
from ._transport import BatchResult, Flow

V = TypeVar("V")

# Windows open at once: one being delivered, one running, one ready to start.
WINDOWS_AHEAD = 3

ProgressCallback = Callable[[int, int], None]
"""Called as `(texts_done, texts_total)` each time a request completes.

When long texts are sent in pieces, `texts_done` is the share of pieces sent, in texts."""
StreamProgress = Callable[[int, "int | None"], None]
"""The same for a stream; the total is None when the input has no length."""


@dataclass(frozen=True, slots=True, repr=False)
class EmbeddingChunk(Generic[V]):
    """Consecutive texts of a stream, with their vectors."""

    start: int
    """The index of the chunk's first text in the input."""
    vectors: V
    """One vector per text of the chunk, in input order: lists, or a float32 array."""
    usage: Usage
    """Tokens (and credits) of the requests that made this chunk."""

    def __repr__(self) -> str:
        # A summary, as EmbeddingResult's: the full repr of a chunk is megabytes.
        count = len(self.vectors)  # type: ignore[arg-type]
        return f"EmbeddingChunk(start={self.start}, vectors=<{count}>, usage={self.usage!r})"


class Window:
    """Consecutive texts planned together: the flows of their batches, and their assembly."""

    def __init__(
        self, start: int, plan: Plan, flows: Sequence[Callable[[], Flow]], assembly: Assembly
    ) -> None:
        self.start = start
        self.count = len(plan.spans)
        self.flows = flows
        self.assembly = assembly
        self.started = 0
        self.finished = 0

    def progress(self) -> int:
        """Texts done, counting pieces answered as a share of the window's texts."""
        return self.assembly.pieces_done * self.count // len(self.assembly.plan.pieces)


PrepareWindow = Callable[[list[str], int], Window]
"""Plans validated texts whose first has the given index in the input."""


class Stream:
    """Windows of `texts`, opened as requests need them, delivered in order."""

    def __init__(
        self,
        texts: Iterable[str],
        prepare: PrepareWindow,
        *,
        window: int | None,
        total: int | None,
        on_progress: StreamProgress | None = None,
        most_held: int = 0,
    ) -> None:
        self._texts: Iterator[object] = iter(texts)
        self._most_held = most_held
        self._prepare = prepare
        self._window = window
        self._total = total
        self.on_progress = on_progress
        self._open: deque[Window] = deque()
        self._exhausted = False
        self.read = 0
        """Texts taken from the input so far."""
        self.delivered = 0
        """Texts of the chunks made so far (each is handed out before any error is raised):
        where a stopped stream resumes."""

    def _next_window(self) -> Window | None:
        # Called when a free slot found no request left to start in the open windows.
        held = sum(window.count for window in self._open)
        if self._exhausted or (len(self._open) >= WINDOWS_AHEAD and held >= self._most_held):
            return None
        texts = validate_texts(itertools.islice(self._texts, self._window), first=self.read)
        if self._window is None or len(texts) < self._window:
            self._exhausted = True
        if not texts:
            return None
        window = self._prepare(texts, self.read)
        self.read += len(texts)
        self._open.append(window)
        return window

    def take(self, most: int) -> list[tuple[tuple[Window, int], Callable[[], Flow]]]:
        jobs: list[tuple[tuple[Window, int], Callable[[], Flow]]] = []
        windows = iter(list(self._open))
        window = next(windows, None)
        while len(jobs) < most:
            if window is None:
                window = self._next_window()
                if window is None:
                    break
            if window.started < len(window.flows):
                jobs.append(((window, window.started), window.flows[window.started]))
                window.started += 1
            else:
                window = next(windows, None)
        return jobs

    def add(self, key: tuple[Window, int], result: BatchResult) -> list[EmbeddingChunk[Any]]:
        window, batch = key
        vectors, usage = result
        window.assembly.add(window.assembly.plan.batches[batch], vectors, usage)
        window.finished += 1
        chunks = []
        while self._open and self._open[0].finished == len(self._open[0].flows):
            done = self._open.popleft()
            chunks.append(EmbeddingChunk(done.start, done.assembly.result(), done.assembly.usage))
            self.delivered += done.count
        if self.on_progress is not None:
            in_flight = sum(open_window.progress() for open_window in self._open)
            self.on_progress(self.delivered + in_flight, self._total)
        return chunks

    def stopped(self, error: AimlapiError) -> AimlapiError:
        """`error`, saying where the stream stopped: `resume_from` is the first text not
        delivered, so `embed_stream(texts[error.resume_from:])` goes on from there."""
        error.resume_from = self.delivered
        note = f"(the stream delivered texts[:{self.delivered}]; resume from {self.delivered})"
        error.message = f"{error.message} {note}"
        error.args = (error.message, *error.args[1:])
        return error
