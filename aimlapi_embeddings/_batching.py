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
from ._schema import utf16_length
from .models import ModelSpec

LongText = Literal["chunk", "truncate", "error"]
OverItemLimit = Literal["alone", "split"]
# A text within the model's limits but over its list-item limit (Voyage: 800 characters per item,
# 8,000 as one string) is sent alone by default: one request, `input` a string, and the model's
# vector of the whole text, as with every other model. "split" cuts it into item-sized pieces
# that batch, and its vector becomes the mean of its pieces. Measured on 1,000-4,000-character
# chunks (benchmarks/voyage_shapes.py, results/voyage.md): alone costs one request per chunk
# (2,000 chunks: 2,000 requests against 58; 14.6 s against 6.8 s with 8 in flight; under a 20
# requests/s cap, 500 chunks: 24.2 s against 2.2 s). Split vectors stayed within cosine 0.997 of
# the whole on the emulator's bag-of-words vectors, but a real model's vector of a passage
# carries context that a mean of 800-character fragments loses, and callers chose their chunk
# size for what it embeds. So fidelity is the default; bulk jobs under a request quota pass
# over_item_limit="split".
DEFAULT_OVER_ITEM_LIMIT: OverItemLimit = "alone"

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
# An automatic request asks for at most this many floats back: 1,024 vectors of 1,536 (about
# 6 MB of base64; 512 vectors at 3,072 wide). The answers of a call's last round are parsed
# after the server is done, so larger ones lengthen the call, and they raise its peak memory.
# Measured (benchmarks/results/planner-notes.md; server 100 ms + 1 ms per input, 8 at once):
# 20,000 passages, numpy, in 2 rounds of 1,250 texts a request 3.55 s, 3 rounds of 834 3.31 s,
# 5 rounds of 512 3.5 s; 100,000 passages peak at 1,125 MiB in requests of 1,786, 945 in 962.
MAX_AUTO_ANSWER_FLOATS = 1_024 * 1_536
# The width assumed for a model whose width is not known before its first answer.
ASSUMED_WIDTH = 1_536
# Texts per window of a stream by default, per request allowed in flight (see client): a
# window is one round of requests of this size, and a stream holds a few windows.
STREAM_TEXTS_PER_SLOT = 512
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


def check_iterable(texts: object) -> None:
    """Refuse, before reading any text, an argument that is not an ordered collection of texts."""
    if isinstance(texts, (str, bytes, bytearray)):
        msg = (
            f"texts must be a list of strings, not a single {type(texts).__name__}; "
            "wrap one text in a list: [text]"
        )
        raise InvalidInputError(msg)
    # Any ordered iterable will do (a list, a tuple, a pandas Series, a generator); unordered
    # ones would lose the pairing between texts and vectors.
    if not isinstance(texts, Iterable) or isinstance(texts, (Mapping, Set)):
        msg = f"texts must be a list of strings, not {type(texts).__name__}"
        raise InvalidInputError(msg)


def validate_texts(texts: object, first: int = 0) -> list[str]:
    """Check the input list; raise `InvalidInputError` naming the first bad text and its index.
    Returns the texts as plain `str`s.

    `first` is the index of `texts[0]` in the caller's input (a stream's window starts later).
    """
    check_iterable(texts)
    assert isinstance(texts, Iterable)
    checked = list(texts)
    for offset, text in enumerate(checked):
        if not isinstance(text, str):
            index = first + offset
            msg = f"texts[{index}] is {type(text).__name__}, not str: {_preview(text)}"
            raise InvalidInputError(msg, index=index)
        if type(text) is not str:
            # The exact string, as it will be sent: a subclass's own __eq__ and __hash__ (say,
            # case-insensitive) would make different texts one when repeats are sent once.
            checked[offset] = text = str.__str__(text)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                index = first + offset
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


def _fits(piece: str, max_bytes: int, max_chars: int | None) -> bool:
    if piece.isascii():
        return len(piece) <= max_bytes and (max_chars is None or len(piece) <= max_chars)
    return len(piece.encode("utf-8")) <= max_bytes and (
        max_chars is None or utf16_length(piece) <= max_chars
    )


def _longest_fit(text: str, start: int, max_bytes: int, max_chars: int | None) -> int:
    """The largest `end` such that `text[start:end]` fits both budgets (at least one character)."""
    # Every character is at least one UTF-8 byte and one UTF-16 unit: no piece is longer.
    high = min(len(text), start + min(max_bytes, max_chars or max_bytes))
    if _fits(text[start:high], max_bytes, max_chars):
        return high
    low, high = start + 1, high - 1  # one character always goes; the caller checks its budget
    while low < high:
        middle = (low + high + 1) // 2
        if _fits(text[start:middle], max_bytes, max_chars):
            low = middle
        else:
            high = middle - 1
    return low


def split_text(text: str, max_tokens: int, max_chars: int | None = None) -> list[str]:
    """Cut `text` into pieces of at most `max_tokens` estimated tokens (and `max_chars` UTF-16
    code units, when given), at spaces where possible.

    Whitespace-only pieces (a long run of blanks) are left out: they carry no meaning, would
    weigh on the mean by their length, and vendors refuse blank inputs.
    """
    max_bytes = _max_bytes_for(max_tokens)
    if _fits(text, max_bytes, max_chars):
        return [text]
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = _longest_fit(text, start, max_bytes, max_chars)
        if end < len(text):
            # Prefer the last space or newline in the final quarter of the piece.
            floor = start + (end - start) * 3 // 4
            cut = max(text.rfind(" ", floor, end), text.rfind("\n", floor, end))
            end = cut + 1 if cut > start else end
        piece = text[start:end]
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
    """The index of the input text each piece belongs to: the first of the texts that share it."""
    batches: list[list[int]]
    """The pieces of each request, in increasing order; every piece is in exactly one."""
    spans: list[range]
    """For every input text, the pieces whose vectors make up its own."""
    copies: dict[int, list[int]]
    """For a text whose pieces later texts share, those texts: every later blank text shares the
    first one's stand-in, every repeat of a text shares its first occurrence's pieces."""


def sends_alone(piece: str, spec: ModelSpec) -> bool:
    """Whether `piece` must be a request's only input, sent as one string, not in a list."""
    return spec.single_input or (
        spec.max_item_chars is not None and utf16_length(piece) > spec.max_item_chars
    )


def plan_requests(
    texts: Sequence[str],
    spec: ModelSpec,
    *,
    long_text: LongText = "chunk",
    over_item_limit: OverItemLimit = DEFAULT_OVER_ITEM_LIMIT,
    max_concurrency: int = 1,
    batch_size: int | None = None,
    width: int | None = None,
    first: int = 0,
) -> Plan:
    """Plan the requests for already validated `texts` under `spec`'s limits.

    `width` is the length of the vectors asked for (`dimensions`; None: the model's), which
    bounds the texts of an automatic request. `first` is the index of `texts[0]` in the
    caller's input, for error messages; the plan's own indices start at 0.

    A text over the model's limits (its context, or the schema's one-string length) is handled
    per `long_text`. A text within them but over the schema's list-item length (Voyage: 800
    characters) is sent alone as one string with `over_item_limit="alone"`, or cut into
    item-sized pieces that batch with the rest with `"split"`.
    """
    if long_text not in ("chunk", "truncate", "error"):
        msg = f'long_text must be "chunk", "truncate" or "error", not {long_text!r}'
        raise ValueError(msg)
    if over_item_limit not in ("alone", "split"):
        msg = f'over_item_limit must be "alone" or "split", not {over_item_limit!r}'
        raise ValueError(msg)
    pieces: list[str] = []
    piece_tokens: list[int] = []
    piece_owner: list[int] = []
    spans: list[range] = []
    # Each distinct text (every blank text counts as the stand-in) -> where it first occurs.
    first_of: dict[str, int] = {}
    copies: dict[int, list[int]] = {}
    context = min(spec.context_tokens, spec.max_tokens_per_request)
    # The longest piece a cut text is made of. Sent alone, pieces as long as the model takes
    # (Voyage: 8,000 characters) keep a long text in the fewest pieces, so its vector is the
    # mean of as few as possible; split, pieces of one list item (800) batch with everything else.
    split_chars = spec.max_item_chars if over_item_limit == "split" else None
    piece_chars = split_chars or spec.max_string_chars

    for index, text in enumerate(texts):
        blank = not text or text.isspace()
        earlier = first_of.setdefault(EMPTY_TEXT_STAND_IN if blank else text, index)
        if earlier != index:
            # Sent once: this text gets a copy of the earlier one's vector.
            spans.append(spans[earlier])
            copies.setdefault(earlier, []).append(index)
            continue
        if blank:
            parts = [EMPTY_TEXT_STAND_IN]
        else:
            parts = _parts(text, first + index, spec, context, long_text, piece_chars, split_chars)
        part_tokens = [estimate_tokens(part) for part in parts]
        if max(part_tokens) > context:
            msg = (
                f"texts[{first + index}] cannot be cut to fit model {spec.name!r}: its context "
                f"of {context} tokens is smaller than one character"
            )
            raise InputTooLongError(msg, index=first + index)
        spans.append(range(len(pieces), len(pieces) + len(parts)))
        pieces.extend(parts)
        piece_tokens.extend(part_tokens)
        piece_owner.extend([index] * len(parts))

    limit = batch_limit(spec, batch_size, width)
    batches = _batches(pieces, piece_tokens, spec, max_concurrency, batch_size is None, limit)
    return Plan(pieces, piece_tokens, piece_owner, batches, spans, copies)


def _parts(
    text: str,
    index: int,
    spec: ModelSpec,
    context: int,
    long_text: LongText,
    piece_chars: int | None,
    split_chars: int | None,
) -> list[str]:
    """What is sent for one non-blank text: itself, or the pieces it is cut into."""
    tokens = estimate_tokens(text)
    length = utf16_length(text)
    over_string = spec.max_string_chars is not None and length > spec.max_string_chars
    if tokens > context or over_string:
        if long_text == "error":
            if over_string:
                counted = "" if length == len(text) else f" ({len(text)} characters)"
                size = (
                    f"{length} UTF-16 code units{counted}, as the gateway counts (an emoji "
                    f"counts 2), over the {spec.max_string_chars} that"
                )
            else:
                size = (
                    f"about {tokens} tokens (counted conservatively at {BYTES_PER_TOKEN} bytes "
                    f"per token), over the context of {spec.context_tokens} that"
                )
            msg = (
                f"texts[{index}] is {size} model {spec.name!r} takes; pass long_text='chunk' "
                "or 'truncate' to embed it anyway"
            )
            raise InputTooLongError(msg, index=index)
        if long_text == "chunk":
            return split_text(text, context, piece_chars)
        text = split_text(text, context, spec.max_string_chars)[0]
        length = utf16_length(text)
    if split_chars is not None and length > split_chars:
        return split_text(text, context, split_chars)
    return [text]


def batch_limit(spec: ModelSpec, batch_size: int | None, width: int | None = None) -> int:
    """The most inputs one request may carry: the model's limit, lowered by the user's batch
    size, or without one by the floats its answer may hold (`MAX_AUTO_ANSWER_FLOATS`)."""
    if batch_size is not None:
        return max(1, min(batch_size, spec.max_inputs))
    floats = MAX_AUTO_ANSWER_FLOATS // (width or spec.dimensions or ASSUMED_WIDTH)
    return min(spec.max_inputs, max(MIN_AUTO_BATCH, floats))


def _batches(
    pieces: list[str],
    piece_tokens: list[int],
    spec: ModelSpec,
    max_concurrency: int,
    planned: bool,
    limit: int,
) -> list[list[int]]:
    """Group pieces into requests, in order, within the limits; a lone piece in its own.

    With a batch size (not `planned`), requests of `limit` pieces (texts per request, as the
    OpenAI classes count). Without, `_even_rounds`.
    """
    alone: list[int] = []
    listed: list[int] = []
    for index, piece in enumerate(pieces):
        (alone if sends_alone(piece, spec) else listed).append(index)
    if planned:
        batches = _even_rounds(listed, piece_tokens, spec, limit, max_concurrency, len(alone))
    else:
        batches = _greedy(listed, piece_tokens, limit, spec.max_tokens_per_request)
    # Lone pieces last: the list batches are the longest requests, so they start first.
    return batches + [[index] for index in alone]


def _greedy(
    listed: list[int], piece_tokens: list[int], limit: int, max_tokens: int
) -> list[list[int]]:
    """As many pieces per request as fit, in order."""
    batches: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for index in listed:
        cost = piece_tokens[index]
        if current and (len(current) >= limit or tokens + cost > max_tokens):
            batches.append(current)
            current, tokens = [], 0
        current.append(index)
        tokens += cost
    if current:
        batches.append(current)
    return batches


def _even_rounds(
    listed: list[int],
    piece_tokens: list[int],
    spec: ModelSpec,
    limit: int,
    slots: int,
    lone: int,
) -> list[list[int]]:
    """The fewest requests that keep every one of `slots` busy for the whole call.

    Requests go out in rounds of `slots`; each round costs the server's fixed cost once, and a
    round lasts as long as its longest request. So: whole rounds (the lone requests, sent apart,
    count in the last one), as few as the limits allow (`limit` pieces, the model's token
    budget), of requests of equal cost in estimated tokens, cut in order. A call too small to
    give every slot `MIN_AUTO_BATCH` pieces goes in one round of fewer requests of at least
    that many.
    """
    count = len(listed)
    if not count:
        return []
    costs = [piece_tokens[index] for index in listed]
    total = sum(costs)
    # The fewest requests in order within the limits (filling each is optimal): no cut into
    # fewer exists, equal shares included.
    fewest = _greedy(listed, piece_tokens, limit, spec.max_tokens_per_request)
    needed = len(fewest)
    floor = min(MIN_AUTO_BATCH, limit)
    if count < slots * floor:
        requests = max(needed, count // floor, 1)
    else:
        requests = math.ceil((needed + lone) / slots) * slots - lone
    requests = min(requests, count)
    batches = _cut_evenly(listed, costs, total, requests, limit)
    budget = spec.max_tokens_per_request
    if all(sum(piece_tokens[index] for index in batch) <= budget for batch in batches):
        return batches
    # Equal shares do not fit in this many: the fewest requests, the largest halved until the
    # round is whole (halves keep every limit).
    while len(fewest) < requests:
        largest = max(range(len(fewest)), key=lambda number: len(fewest[number]))
        batch = fewest[largest]
        if len(batch) < 2:
            break
        middle = len(batch) // 2
        fewest[largest : largest + 1] = [batch[:middle], batch[middle:]]
    return fewest


def _cut_evenly(
    listed: list[int], costs: list[int], total: int, requests: int, limit: int
) -> list[list[int]]:
    """`listed` in `requests` consecutive non-empty runs of about `total / requests` tokens,
    and at most `limit` pieces each (`requests * limit` must cover them)."""
    batches: list[list[int]] = []
    start = 0
    spent = 0
    for number in range(1, requests):
        target = total * number / requests
        end = max(start + 1, _first_at_or_past(costs, start, spent, target))
        # Within the inputs limit, leaving the requests still to cut at least one piece each
        # and no more than they may carry.
        left = requests - number
        end = max(min(end, start + limit, len(listed) - left), len(listed) - left * limit)
        spent += sum(costs[start:end])
        batches.append(listed[start:end])
        start = end
    batches.append(listed[start:])
    return batches


def _first_at_or_past(costs: list[int], start: int, spent: int, target: float) -> int:
    """The end of the run from `start` whose cumulative cost comes nearest `target`."""
    end = start
    while end < len(costs) and spent + costs[end] <= target:
        spent += costs[end]
        end += 1
    # Take the next piece too if that ends nearer the target.
    if end < len(costs) and (spent + costs[end] - target) < (target - spent):
        end += 1
    return end


def combine(vectors: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    """The weighted mean of `vectors`, L2-normalised: one vector for a text sent in pieces."""
    width = len(vectors[0])
    total = [0.0] * width
    for vector, weight in zip(vectors, weights, strict=True):
        for position, value in enumerate(vector):
            total[position] += weight * value
    # Every value is within float32 (answers beyond it are refused), so neither these sums nor
    # their squares can overflow a float64.
    norm = math.sqrt(math.fsum(value * value for value in total))
    if norm == 0.0:
        return total
    return [value / norm for value in total]
