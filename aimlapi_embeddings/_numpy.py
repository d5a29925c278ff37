"""`output="numpy"`: float32 rows made from the answer's bytes, no Python float per number.

Imported only when a call asks for numpy output (`_assembly.rows_for`); numpy is the [numpy]
extra. Each answer is checked exactly as `_response.parse_embeddings` checks it, from the same
`read_and_decode` and `decode_embedding`: base64 float32 goes from its bytes into the rows, JSON
numbers are converted once, from the array `decode_embedding` made of them.

A text sent in pieces gets the same mean as with list output, computed in float64 in the same
order, so that both outputs agree to the bit once rounded to float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ._response import (
    FLOAT32_OVERFLOW,
    Content,
    Embeddings,
    Usage,
    beyond_float32,
    decode_embedding,
    not_finite,
    read_and_decode,
    wrong_width,
)
from ._secret import Secret

FloatArray = NDArray[np.float32]


def parse_rows(
    content: Content, expected_count: int, expected_width: int | None, *, secret: Secret | None
) -> tuple[list[NDArray[np.floating]], Usage]:
    """A 200's vectors in request order as rows of one block: float32 from base64, else
    float64 (the values the list output has); checked for count, width, index and finiteness."""

    def decode(embeddings: Embeddings) -> tuple[list[NDArray[np.floating]], Usage]:
        return list(_block(embeddings, expected_count, expected_width)), embeddings.usage

    return read_and_decode(decode, content, expected_count, expected_width, secret=secret)


def _block(embeddings: Embeddings, count: int, width: int | None) -> NDArray[np.floating]:
    block: NDArray[np.floating] | None = None
    for row, (value, position) in enumerate(
        zip(embeddings.values, embeddings.positions, strict=True)
    ):
        decoded = decode_embedding(value, position, booleans=embeddings.booleans)
        # Base64: little-endian float32s, read in place. Numbers: the float64s array() made.
        values = np.frombuffer(decoded, "<f4" if isinstance(decoded, bytes) else np.float64)
        if width is None:
            width = len(values)
        if len(values) != width or width == 0:
            raise wrong_width(position, len(values), width)
        if block is None:
            block = np.empty((count, width), dtype=values.dtype.newbyteorder("="))
        elif values.dtype == np.float64 and block.dtype == np.float32:
            block = block.astype(np.float64)  # base64 and numbers in one answer: keep every bit
        block[row] = values
    assert block is not None  # a request carries at least one input
    finite = np.isfinite(block).all(axis=1)
    if not finite.all():
        raise not_finite(embeddings.positions[int(np.argmin(finite))])
    if block.dtype == np.float64:
        fits = (np.abs(block) < FLOAT32_OVERFLOW).all(axis=1)
        if not fits.all():
            raise beyond_float32(embeddings.positions[int(np.argmin(fits))])
    return block


def combine_rows(
    rows: Sequence[NDArray[np.floating]], weights: Sequence[float]
) -> NDArray[np.float64]:
    """`_batching.combine` on rows: the same float64 operations in the same order."""
    total = np.zeros(len(rows[0]), dtype=np.float64)
    for row, weight in zip(rows, weights, strict=True):
        total += row.astype(np.float64) * float(weight)
    # fsum, as the list path takes it: one Python float per number, for texts sent in pieces
    # only, so that both outputs divide by the same norm.
    norm = math.sqrt(math.fsum((total * total).tolist()))
    if norm == 0.0:
        return total
    return total / norm


class _ArraySink:
    """Rows of one float32 array, made when the width is known (at the first row, if need be)."""

    def __init__(self, count: int, width: int | None) -> None:
        self._count = count
        self._width = width
        self._array: FloatArray | None = None
        if width is not None:
            self._array = np.empty((count, width), dtype=np.float32)

    def _rows(self, width: int) -> FloatArray:
        if self._array is None:
            self._array = np.empty((self._count, width), dtype=np.float32)
        return self._array

    def put(self, text: int, row: NDArray[np.floating]) -> None:
        self._rows(len(row))[text] = row

    def copy(self, text: int, source: int) -> None:
        rows = self._rows(0)
        rows[text] = rows[source]

    def result(self) -> FloatArray:
        return self._rows(self._width or 0)


class _NumpyRows:
    def parse(
        self, content: Content, count: int, width: int | None, *, secret: Secret | None
    ) -> tuple[list[NDArray[np.floating]], Usage]:
        return parse_rows(content, count, width, secret=secret)

    def combine(
        self, rows: Sequence[NDArray[np.floating]], weights: Sequence[float]
    ) -> NDArray[np.float64]:
        return combine_rows(rows, weights)

    def sink(self, count: int, width: int | None) -> _ArraySink:
        return _ArraySink(count, width)


NUMPY_ROWS = _NumpyRows()
