"""One call: the request settings it was prepared with, the windows of texts it plans and
sends under them, and the chunks they make.

`EmbeddingsClient` prepares a `Call` for each embed method call; the `Stream` it makes opens the
windows, and the schedulers of `_transport` run their flows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from functools import partial
from typing import Any

from ._assembly import Assembly
from ._batching import Plan, check_iterable
from ._response import Usage
from ._schema import field_violations, load_schema
from ._stream import EmbeddingChunk, ProgressCallback, Stream, StreamProgress, Window
from ._transport import CallSettings, batch_flow
from .models import ModelSpec


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


class Call:
    """One call's fixed choices, and the windows of texts planned and sent under them."""

    def __init__(self, settings: CallSettings, planner: Callable[..., Plan]) -> None:
        self.settings = settings
        self._planner = planner

    def window(self, texts: list[str], start: int) -> Window:
        """Plan validated `texts`, the first of which is `texts[start]` of the input."""
        plan: Plan = self._planner(texts, first=start)
        # A 400 names every text of the window that shares the pieces it refused.
        copies = {
            start + text: [start + copy for copy in plan.copies[text]] for text in plan.copies
        }
        settings = dataclasses.replace(self.settings, copies=copies)
        flows = [
            partial(
                batch_flow,
                settings,
                [plan.pieces[piece] for piece in batch],
                # Input positions, for errors that name the texts of a request.
                [start + plan.piece_owner[piece] for piece in batch],
            )
            for batch in plan.batches
        ]
        width = self.settings.width.expected
        return Window(start, plan, flows, Assembly(plan, self.settings.rows, width))

    def whole(self, texts: Iterable[str], on_progress: ProgressCallback | None) -> Stream:
        """All of `texts` in one window: what embed() sends."""
        check_iterable(texts)
        stream = Stream(texts, self.window, window=None, total=None)
        if on_progress is not None:
            # The one window holds every text, read before the first request.
            stream.on_progress = lambda done, _: on_progress(done, stream.read)
        return stream

    def stream(
        self,
        texts: Iterable[str],
        chunk_size: int,
        on_progress: StreamProgress | None,
        most_held: int,
    ) -> Stream:
        check_iterable(texts)
        total = len(texts) if isinstance(texts, Sized) else None
        return Stream(
            texts,
            self.window,
            window=chunk_size,
            total=total,
            on_progress=on_progress,
            most_held=most_held,
        )

    def only(self, chunks: Sequence[EmbeddingChunk[Any]]) -> EmbeddingChunk[Any]:
        """The one chunk of a `whole` call; for no texts, an empty one."""
        if not chunks:
            empty = self.settings.rows.sink(0, self.settings.width.expected).result()
            return EmbeddingChunk(0, empty, Usage())
        (chunk,) = chunks
        return chunk
