"""Pure planning: which strings go into which request, and how vectors come back to their texts.

Nothing here does I/O. A `Plan` turns N input texts into a flat list of *pieces* (what is sent),
contiguous *batches* of pieces (one request each) and, for every text, the span of pieces whose
vectors make up its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Literal

from ._errors import InputTooLongError, InvalidInputError
from .models import ModelSpec

LongText = Literal["chunk", "truncate", "error"]

# Counting without a tokenizer file: byte-level BPE (OpenAI, Qwen) never makes more tokens than
# UTF-8 bytes, and real text averages 3.5-4.5 bytes per token in English and about one token per
# CJK character (3 bytes). 2.5 bytes per token over-counts ordinary text by 1.4-1.8x and
# under-counts only symbol soup; when the server disagrees, the request is split and sent again.
BYTES_PER_TOKEN = 2.5
# Room for the special tokens some tokenizers add around every input ([CLS], [SEP], BOS).
_TOKENS_PER_INPUT = 1
# Auto-sized batches are never smaller than this (unless the model's own limit is lower):
# tiny requests spend more on HTTP round trips than they win in parallelism.
MIN_AUTO_BATCH = 32
# ...nor larger than this: a 2,048-input answer is ~17 MB of JSON that is parsed only once it
# has all arrived; smaller answers let parsing overlap the wait for the next (benchmarks/:
# 20,000 texts in 10 requests took 4.5-5 s, in 512-input requests about 3 s).
MAX_AUTO_BATCH = 512
# Vendors reject "": every empty or whitespace-only text shares one vector, that of a single
# space, sent once per call.
EMPTY_TEXT_STAND_IN = " "


def _byte_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def estimate_tokens(text: str) -> int:
    """A conservative token count for `text` that needs no tokenizer file."""
    return math.ceil(_byte_length(text) / BYTES_PER_TOKEN) + _TOKENS_PER_INPUT


def _max_bytes_for(max_tokens: int) -> int:
    """The most UTF-8 bytes a piece may have so that `estimate_tokens(piece) <= max_tokens`."""
    return max(1, math.floor((max_tokens - _TOKENS_PER_INPUT) * BYTES_PER_TOKEN))


def validate_texts(texts: object) -> list[str]:
    """Check the input list; raise `InvalidInputError` naming the first bad text and its index."""
    if isinstance(texts, (str, bytes, bytearray)):
        msg = (
            f"texts must be a list of strings, not a single {type(texts).__name__}; "
            "wrap one text in a list: [text]"
        )
        raise InvalidInputError(msg)
    # Any ordered iterable will do (a list, a tuple, a pandas Series); unordered ones would lose
    # the pairing between texts and vectors.
    if not isinstance(texts, Iterable) or isinstance(texts, (Mapping, Set)):
        msg = f"texts must be a list of strings, not {type(texts).__name__}"
        raise InvalidInputError(msg)
    checked = list(texts)
    for index, text in enumerate(checked):
        if not isinstance(text, str):
            msg = f"texts[{index}] is {type(text).__name__}, not str: {_preview(text)}"
            raise InvalidInputError(msg, index=index)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                msg = (
                    f"texts[{index}] has a lone surrogate U+{ord(text[exc.start]):04X} at "
                    f"position {exc.start}: it is not valid Unicode text and cannot be sent as "
                    "UTF-8; fix the decoding that produced it (errors='surrogateescape'?)"
                )
                raise InvalidInputError(msg, index=index) from None
    return checked


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def split_text(text: str, max_tokens: int) -> list[str]:
    """Cut `text` into pieces of at most `max_tokens` estimated tokens, at spaces where possible.

    Whitespace-only pieces (a long run of blanks) are left out: they carry no meaning, would
    weigh on the mean by their length, and vendors refuse blank inputs.
    """
    limit = _max_bytes_for(max_tokens)
    data = text.encode("utf-8")
    if len(data) <= limit:
        return [text]
    pieces: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        if end < len(data):
            while end > start and data[end] & 0xC0 == 0x80:  # never cut inside a character
                end -= 1
            if end == start:
                # The budget is smaller than this one character: take it whole; the caller
                # sees the piece is over budget.
                end = start + 1
                while end < len(data) and data[end] & 0xC0 == 0x80:
                    end += 1
            else:
                # Prefer the last space or newline in the final quarter of the window.
                floor = start + limit * 3 // 4
                cut = max(data.rfind(b" ", floor, end), data.rfind(b"\n", floor, end))
                end = cut + 1 if cut > start else end
        piece = data[start:end].decode("utf-8")
        if not piece.isspace():
            pieces.append(piece)
        start = end
    return pieces


@dataclass(frozen=True, slots=True)
class Plan:
    """What to send, in which requests, and how the answers map back to the input texts."""

    pieces: list[str]
    """Every string sent, in order."""
    piece_tokens: list[int]
    """The estimated tokens of each piece."""
    piece_owner: list[int]
    """The index of the input text each piece belongs to (the first empty text for the stand-in)."""
    batches: list[range]
    """Contiguous ranges of `pieces`, one request each."""
    spans: list[range]
    """For every input text, the pieces whose vectors make up its own."""


def plan_requests(
    texts: Sequence[str],
    spec: ModelSpec,
    *,
    long_text: LongText = "chunk",
    max_concurrency: int = 1,
    batch_size: int | None = None,
) -> Plan:
    """Plan the requests for already validated `texts` under `spec`'s limits."""
    if long_text not in ("chunk", "truncate", "error"):
        msg = f'long_text must be "chunk", "truncate" or "error", not {long_text!r}'
        raise ValueError(msg)
    pieces: list[str] = []
    piece_tokens: list[int] = []
    piece_owner: list[int] = []
    spans: list[range] = []
    stand_in: range | None = None
    context = min(spec.context_tokens, spec.max_tokens_per_request)

    for index, text in enumerate(texts):
        if not text or text.isspace():
            if stand_in is None:
                stand_in = range(len(pieces), len(pieces) + 1)
                pieces.append(EMPTY_TEXT_STAND_IN)
                piece_tokens.append(estimate_tokens(EMPTY_TEXT_STAND_IN))
                piece_owner.append(index)
            spans.append(stand_in)
            continue
        tokens = estimate_tokens(text)
        if tokens <= context:
            parts, part_tokens = [text], [tokens]
        elif long_text == "error":
            msg = (
                f"texts[{index}] is about {tokens} tokens (counted conservatively at "
                f"{BYTES_PER_TOKEN} bytes per token), over model {spec.name!r}'s context of "
                f"{spec.context_tokens}; pass long_text='chunk' or 'truncate' to embed it anyway"
            )
            raise InputTooLongError(msg, index=index)
        else:
            parts = split_text(text, context)
            if long_text == "truncate":
                parts = parts[:1]
            part_tokens = [estimate_tokens(part) for part in parts]
            if max(part_tokens) > context:
                msg = (
                    f"texts[{index}] cannot be cut to fit model {spec.name!r}: its context of "
                    f"{context} tokens is smaller than one character"
                )
                raise InputTooLongError(msg, index=index)
        spans.append(range(len(pieces), len(pieces) + len(parts)))
        pieces.extend(parts)
        piece_tokens.extend(part_tokens)
        piece_owner.extend([index] * len(parts))

    batches = _batch_ranges(piece_tokens, spec, max_concurrency, batch_size)
    return Plan(pieces, piece_tokens, piece_owner, batches, spans)


def batch_limit(spec: ModelSpec, batch_size: int | None) -> int:
    """The most inputs one request may carry: the model's limit, lowered by the user's."""
    return spec.max_inputs if batch_size is None else max(1, min(batch_size, spec.max_inputs))


def _batch_ranges(
    piece_tokens: list[int], spec: ModelSpec, max_concurrency: int, batch_size: int | None
) -> list[range]:
    count = len(piece_tokens)
    limit = batch_limit(spec, batch_size)
    if batch_size is None:
        # Spread a large call over every concurrent request: smaller requests answer sooner.
        share = math.ceil(count / max(1, max_concurrency))
        limit = min(limit, MAX_AUTO_BATCH, max(share, MIN_AUTO_BATCH))
    batches: list[range] = []
    start = 0
    tokens = 0
    for index, piece in enumerate(piece_tokens):
        if index > start and (
            index - start >= limit or tokens + piece > spec.max_tokens_per_request
        ):
            batches.append(range(start, index))
            start, tokens = index, 0
        tokens += piece
    if count > start:
        batches.append(range(start, count))
    return batches


def combine(vectors: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    """The weighted mean of `vectors`, L2-normalised: one vector for a text sent in pieces."""
    width = len(vectors[0])
    total = [0.0] * width
    for vector, weight in zip(vectors, weights, strict=True):
        for position, value in enumerate(vector):
            total[position] += weight * value
    norm = math.sqrt(math.fsum(value * value for value in total))
    if not math.isfinite(norm):
        # Finite values near the float maximum overflowed on the way: scale them down first.
        largest = max(abs(value) for vector in vectors for value in vector)
        if 1.0 < largest < math.inf:
            scaled = [[value / largest for value in vector] for vector in vectors]
            return combine(scaled, weights)
    if norm == 0.0:
        return total
    return [value / norm for value in total]


def assemble(plan: Plan, piece_vectors: Sequence[list[float]]) -> list[list[float]]:
    """One vector per input text, in input order, from the vectors of the plan's pieces."""
    vectors: list[list[float]] = []
    for span in plan.spans:
        if len(span) == 1:
            vector = piece_vectors[span.start]
            if plan.piece_owner[span.start] != len(vectors):
                # The empty-text stand-in, owned by the first empty text: every later empty
                # text gets its own copy, since callers may mutate their rows.
                vector = list(vector)
            vectors.append(vector)
        else:
            parts = [piece_vectors[i] for i in span]
            vectors.append(combine(parts, [len(plan.pieces[i]) for i in span]))
    return vectors
