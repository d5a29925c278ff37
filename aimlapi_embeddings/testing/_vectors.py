"""Stand-in vectors: deterministic, cheap, and lexically meaningful. NOT the real models' vectors.

A text's vector is a hashed bag of its lower-cased words, each counted as a crude stem (so
"embeddings" and "embedding" overlap) and, more lightly, as itself; L2-normalised. Texts that
share words are closer than texts that do not, which is enough for retrieval examples to give
sensible answers offline. Nothing here resembles what the real model would return.

Each feature touches a few dimensions in every octave band `[2**(k-1), 2**k)` of the vector, with
weights that give every dimension the same expected energy. Positions inside a band do not depend
on the vector's width, so the vector at width `d` is exactly the first `d` dimensions of any wider
one, renormalised: the `dimensions` parameter "cuts and renormalises" like Matryoshka models do,
and every prefix still carries every word.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
import struct
from collections.abc import Iterator
from typing import Literal

__all__ = ["Encoding", "VectorBank", "encode_vector", "unit_vector"]

Encoding = Literal["float", "base64"]

# CJK ideographs and kana are words on their own: those scripts put no spaces between words.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORDS = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")

# Frequent function words would otherwise make every pair of English sentences look related.
_STOP_WORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is"}
    | {"it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "will", "with"}
)
_STOP_WEIGHT = 0.25
_SURFACE_WEIGHT = 0.5
# (suffix, replacement), first match wins; enough to join plurals and -ing/-ed forms.
_SUFFIXES = (
    ("sses", "ss"),
    ("ies", "y"),
    ("ied", "y"),
    ("xes", "x"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("ings", ""),
    ("ing", ""),
    ("ed", ""),
    ("ss", "ss"),
    ("s", ""),
)
_MIN_STEM = 3

# Large bands hold one entry per this many dimensions; smaller bands hold one, weighted down.
_DENSITY = 256
# The feature for texts without words (whitespace, punctuation): a fixed, valid unit vector.
_NO_WORDS = "\x00no-words"


@functools.lru_cache(maxsize=128)
def _bands(width: int) -> tuple[tuple[int, int, int, float], ...]:
    """(start, size, entries, weight) of every band that begins below `width`."""
    bands = [(0, 1, 1, math.sqrt(1 / _DENSITY))]
    start = 1
    while start < width:
        entries = max(1, start // _DENSITY)
        bands.append((start, start, entries, math.sqrt(start / (_DENSITY * entries))))
        start *= 2
    return tuple(bands)


def _feature(key: str, width: int, weight: float) -> Iterator[tuple[int, float]]:
    bands = _bands(width)
    count = sum(entries for _, _, entries, _ in bands)
    # shake_128 output is prefix-consistent, so a band's draws are the same at every width.
    draws = struct.unpack(f"<{count}H", hashlib.shake_128(key.encode()).digest(2 * count))
    taken = 0
    for start, size, entries, band_weight in bands:
        for draw in draws[taken : taken + entries]:
            position = start + (draw & 0x7FFF) % size
            if position < width:
                yield position, -band_weight * weight if draw & 0x8000 else band_weight * weight
        taken += entries


@functools.lru_cache(maxsize=1 << 16)
def _word_entries(word: str, width: int) -> tuple[tuple[int, float], ...]:
    """The (position, value) pairs one occurrence of `word` adds to a `width`-wide vector."""
    weight = _STOP_WEIGHT if word in _STOP_WORDS else 1.0
    stem = _stem(word)
    entries = list(_feature("s:" + stem, width, weight))
    if stem != word:
        entries.extend(_feature("w:" + word, width, weight * _SURFACE_WEIGHT))
    return tuple(entries)


def _stem(word: str) -> str:
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) + len(replacement) >= _MIN_STEM:
            return word[: len(word) - len(suffix)] + replacement
    return word


def unit_vector(text: str, width: int) -> list[float]:
    """The emulator's unit vector for `text`, `width` wide. NOT the real model's vector.

    Deterministic across processes and platforms (no `hash()`, no randomness).
    """
    if width < 1:
        msg = f"width must be positive, not {width}"
        raise ValueError(msg)
    sums = [0.0] * width
    for word in _WORDS.findall(text.lower()) or [_NO_WORDS]:
        for position, value in _word_entries(word, width):
            sums[position] += value
    norm = math.hypot(*sums)
    if norm == 0.0:
        # Possible only at tiny widths where a text's signs cancel; any unit vector is valid.
        sums[0], norm = 1.0, 1.0
    return [value / norm for value in sums]


def encode_vector(vector: list[float], encoding: Encoding) -> bytes:
    """The JSON value of an `embedding` field: a float array, or a quoted base64 string of
    little-endian float32 values."""
    if encoding == "base64":
        return b'"' + base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)) + b'"'
    # Nine significant digits round-trip a float32, as the real API's floats do, and "%.9g" is
    # three times faster than repr() on this hot path.
    return ("[" + ",".join(["%.9g"] * len(vector)) % tuple(vector) + "]").encode("ascii")


class VectorBank:
    """Encoded embeddings, cached so that a repeated text costs a dict lookup.

    Not thread-safe: one emulator's event loop owns one bank. The cache is bounded by the size of
    what it holds and forgets the oldest entries first.
    """

    def __init__(self, *, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._fragments: dict[tuple[str, int, Encoding], bytes] = {}

    def fragment(self, text: str, width: int, encoding: Encoding) -> bytes:
        """The JSON value of the `embedding` field for `text` (see `encode_vector`)."""
        key = (text, width, encoding)
        fragment = self._fragments.get(key)
        if fragment is None:
            fragment = encode_vector(unit_vector(text, width), encoding)
            self._store(key, fragment)
        return fragment

    def _store(self, key: tuple[str, int, Encoding], fragment: bytes) -> None:
        size = len(fragment) + len(key[0])
        if size > self._max_bytes:
            return
        while self._bytes + size > self._max_bytes:
            oldest = next(iter(self._fragments))
            self._bytes -= len(self._fragments.pop(oldest)) + len(oldest[0])
        self._fragments[key] = fragment
        self._bytes += size
