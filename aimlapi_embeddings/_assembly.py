"""How vectors come back to their texts, batch by batch, as Python lists or as a numpy array.

A call's answers arrive one batch at a time. `Assembly` puts each vector in its text's row as its
batch completes, so that no answer is held longer than its own parsing; it keeps only the pieces
of texts sent in several pieces, and at the end gives those texts the mean of their pieces, and
every text that shares its pieces with an earlier one (blanks share one stand-in) a copy of that
text's vector.

`Rows` is the output format: how an answer is decoded, how pieces are averaged, and where the
rows go. `LIST_ROWS` makes Python floats; `rows_for("numpy")` makes float32 rows of one array
(`_numpy`, imported only then).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

from ._batching import Plan, combine
from ._extras import missing_extra
from ._response import Content, Usage, parse_embeddings
from ._secret import Secret

Output = Literal["list", "numpy"]
Row = Any
"""One vector: a `list[float]`, or a 1-D numpy array."""


class Sink(Protocol):
    """Where the vectors of one call's texts go, by text index."""

    def put(self, text: int, row: Row) -> None: ...

    def copy(self, text: int, source: int) -> None:
        """Give `text` the vector already put for the earlier `source`."""

    def result(self) -> Any: ...


class Rows(Protocol):
    """An output format."""

    def parse(
        self, content: Content, count: int, width: int | None, *, secret: Secret | None
    ) -> tuple[list[Row], Usage]:
        """A 200's vectors in request order, checked as `parse_embeddings` checks them."""

    def combine(self, rows: Sequence[Row], weights: Sequence[float]) -> Row:
        """The vector of a text sent in pieces, as `_batching.combine` computes it."""

    def sink(self, count: int, width: int | None) -> Sink: ...


class _ListSink:
    def __init__(self, count: int) -> None:
        self.vectors: list[list[float]] = [[]] * count

    def put(self, text: int, row: Row) -> None:
        self.vectors[text] = row

    def copy(self, text: int, source: int) -> None:
        # A list of its own: callers may change their rows.
        self.vectors[text] = list(self.vectors[source])

    def result(self) -> list[list[float]]:
        return self.vectors


class _ListRows:
    def parse(
        self, content: Content, count: int, width: int | None, *, secret: Secret | None
    ) -> tuple[list[Row], Usage]:
        return parse_embeddings(content, count, width, secret=secret)

    def combine(self, rows: Sequence[Row], weights: Sequence[float]) -> Row:
        return combine(rows, weights)

    def sink(self, count: int, width: int | None) -> Sink:
        return _ListSink(count)


LIST_ROWS: Rows = _ListRows()


def rows_for(output: Output) -> Rows:
    """The format `output` names; numpy is imported here, and only here."""
    if output == "list":
        return LIST_ROWS
    if output == "numpy":
        try:
            from . import _numpy
        except ImportError as exc:
            raise missing_extra(exc, extra="numpy", needed_by='output="numpy"') from exc
        return _numpy.NUMPY_ROWS
    msg = f'output must be "list" or "numpy", not {output!r}'
    raise ValueError(msg)


class Assembly:
    """The vectors of one plan's texts, filled in as its batches complete."""

    def __init__(self, plan: Plan, rows: Rows, width: int | None) -> None:
        self.plan = plan
        self._rows = rows
        self._sink = rows.sink(len(plan.spans), width)
        self._held: dict[int, Row] = {}
        self.usage = Usage()
        self.pieces_done = 0

    def add(self, batch: Sequence[int], vectors: Sequence[Row], usage: Usage) -> None:
        """The answer to one batch: `vectors[i]` is that of piece `batch[i]`."""
        spans, owners = self.plan.spans, self.plan.piece_owner
        for piece, vector in zip(batch, vectors, strict=True):
            owner = owners[piece]
            if len(spans[owner]) == 1:
                self._sink.put(owner, vector)
            else:
                self._held[piece] = vector
        self.usage += usage
        self.pieces_done += len(batch)

    def result(self) -> Any:
        """Every text's vector, in input order, once every batch has been added."""
        plan = self.plan
        for text, span in enumerate(plan.spans):
            owner = plan.piece_owner[span.start]
            if owner != text:
                self._sink.copy(text, owner)
            elif len(span) > 1:
                pieces = [self._held.pop(piece) for piece in span]
                weights = [len(plan.pieces[piece]) for piece in span]
                self._sink.put(text, self._rows.combine(pieces, weights))
        return self._sink.result()
