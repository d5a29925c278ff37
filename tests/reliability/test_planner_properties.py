"""Property tests of the pure planner: for any texts and any model rules, every text owns its
pieces exactly once, pieces rebuild the text (less runs of blanks, which are not sent) or its
start, order is kept, and every batch stays within the model's limits by the planner's own
token estimate.
"""

from __future__ import annotations

import math
import random
import resource
import subprocess
import sys
import textwrap

import pytest
from fakes import assemble
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aimlapi_embeddings import InputTooLongError, ModelSpec, get_model_spec
from aimlapi_embeddings._batching import (
    EMPTY_TEXT_STAND_IN,
    MAX_AUTO_ANSWER_FLOATS,
    MIN_AUTO_BATCH,
    Plan,
    batch_limit,
    estimate_tokens,
    plan_requests,
    sends_alone,
    split_text,
)
from aimlapi_embeddings._schema import utf16_length

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

REGISTRY_SPECS = [
    get_model_spec(name)
    for name in (
        "text-embedding-3-small",
        "voyage-2",
        "text-multilingual-embedding-002",
        "BAAI/bge-base-en-v1.5",
        "togethercomputer/m2-bert-80M-2k-retrieval",
        "alibaba/qwen-text-embedding-v3",
    )
]
TINY_SPECS = [
    # The smallest context at which every character fits one piece: 5 bytes, 3 estimated tokens.
    ModelSpec(
        name="tiny-3", dimensions=4, context_tokens=3, max_inputs=1, max_tokens_per_request=3
    ),
    ModelSpec(
        name="tiny-5", dimensions=4, context_tokens=5, max_inputs=3, max_tokens_per_request=9
    ),
    # A request budget below the context: the request budget is the real limit on a piece.
    ModelSpec(
        name="budget<context",
        dimensions=4,
        context_tokens=500,
        max_inputs=7,
        max_tokens_per_request=40,
    ),
    ModelSpec(
        name="many-small",
        dimensions=4,
        context_tokens=20,
        max_inputs=64,
        max_tokens_per_request=100,
    ),
    # Character limits as Voyage's schema has them, scaled down: one string / each list item.
    ModelSpec(
        name="chars",
        dimensions=4,
        context_tokens=400,
        max_inputs=8,
        max_tokens_per_request=2000,
        max_string_chars=60,
        max_item_chars=12,
    ),
]

specs = st.one_of(
    st.sampled_from(REGISTRY_SPECS + TINY_SPECS),
    st.builds(
        ModelSpec,
        name=st.just("drawn"),
        dimensions=st.just(8),
        context_tokens=st.integers(3, 400),
        max_inputs=st.integers(1, 40),
        max_tokens_per_request=st.integers(3, 2000),
        max_string_chars=st.one_of(st.none(), st.integers(40, 200)),
        max_item_chars=st.one_of(st.none(), st.integers(2, 40)),
    ),
)

# Valid Unicode scalar values only: lone surrogates are refused before planning (validate_texts).
characters = st.characters(exclude_categories=["Cs"])
short_texts = st.text(characters, max_size=40)
blank_texts = st.text(st.sampled_from(" \t\n\r\x0b\x0c\u00a0\u2003\u3000"), max_size=8)
long_texts = st.builds(
    lambda unit, times: unit * times,
    st.text(characters, min_size=1, max_size=12),
    st.integers(50, 4000),
)
# Some texts twice, anywhere in the list: repeats are sent once and share their pieces.
texts_lists = st.lists(
    st.one_of(short_texts, short_texts, blank_texts, long_texts), max_size=20
).flatmap(lambda texts: st.permutations(texts + texts[::3]))
options = st.fixed_dictionaries(
    {
        "max_concurrency": st.integers(1, 16),
        "batch_size": st.one_of(st.none(), st.integers(1, 100)),
        "over_item_limit": st.sampled_from(["alone", "split"]),
    }
)


def is_blank(text: str) -> bool:
    return not text or text.isspace()


def assert_tiles(text: str, pieces: list[str], name: str, *, prefix: bool = False) -> None:
    """`pieces` are `text` (or its start) in order, cut apart, with nothing left out but runs
    of whitespace."""
    if not prefix:
        assert "".join("".join(pieces).split()) == "".join(text.split()), (
            f"{name}: its pieces lose, add or reorder visible characters"
        )
    position = 0
    for number, piece in enumerate(pieces):
        found = text.find(piece, position)
        assert found >= 0, f"{name}: piece {number} is not the next part of the text"
        assert is_blank(text[position:found]), f"{name}: text before piece {number} is lost"
        position = found + len(piece)
    assert prefix or is_blank(text[position:]), f"{name}: the end of the text is lost"


def within(text: str, limit: int | None) -> bool:
    return limit is None or utf16_length(text) <= limit


def first_alike(texts: list[str], index: int) -> int:
    """The first text sent for `texts[index]`: its first occurrence, or the first blank text."""
    if is_blank(texts[index]):
        return next(i for i, text in enumerate(texts) if is_blank(text))
    return texts.index(texts[index])


def check_plan(
    texts: list[str],
    spec: ModelSpec,
    plan: Plan,
    mode: str,
    batch_size: int | None,
    over_item_limit: str = "alone",
) -> None:
    count = len(plan.pieces)
    assert len(plan.piece_tokens) == count, "a piece without a token count"
    assert len(plan.piece_owner) == count, "a piece without an owner"
    assert len(plan.spans) == len(texts), f"{len(plan.spans)} spans for {len(texts)} texts"

    # Ownership: each piece belongs to exactly one distinct span, and that span's text owns it;
    # a repeated text (all blank texts alike) shares the pieces of its first occurrence.
    owner_of_span: dict[range, int] = {}
    for index, span in enumerate(plan.spans):
        assert span.step == 1, f"texts[{index}]'s pieces are not contiguous: {span}"
        assert len(span) >= 1, f"texts[{index}] has no pieces"
        owner = first_alike(texts, index)
        assert owner_of_span.setdefault(span, owner) == owner, (
            f"texts[{index}] shares pieces {span} with texts[{owner_of_span[span]}]"
        )
    covered = sorted(piece for span in owner_of_span for piece in span)
    assert covered == list(range(count)), "some piece belongs to no text, or to two"
    for span, owner in owner_of_span.items():
        assert all(plan.piece_owner[piece] == owner for piece in span), (
            f"pieces {span} are not all owned by texts[{owner}]"
        )

    # Order: distinct spans appear in the order of their texts.
    starts = [span.start for span in dict.fromkeys(plan.spans)]
    assert starts == sorted(starts), "pieces are out of text order"

    # Content: blank texts share one stand-in; others rebuild, or truncate to their start.
    context = min(spec.context_tokens, spec.max_tokens_per_request)
    for index, (text, span) in enumerate(zip(texts, plan.spans, strict=True)):
        pieces = [plan.pieces[piece] for piece in span]
        if is_blank(text):
            assert pieces == [EMPTY_TEXT_STAND_IN], f"blank texts[{index}] sent as {pieces!r}"
        elif mode == "chunk":
            assert_tiles(text, pieces, f"texts[{index}]")
        else:
            # The start of the text: one piece, or list items when split.
            if over_item_limit == "alone" or not spec.max_item_chars:
                assert len(pieces) == 1, f"truncated texts[{index}] went in {len(pieces)} pieces"
            assert_tiles(text, pieces, f"truncated texts[{index}]", prefix=True)
        fits_model = estimate_tokens(text) <= context and within(text, spec.max_string_chars)
        stays_whole = over_item_limit == "alone" or within(text, spec.max_item_chars)
        if not is_blank(text) and fits_model and stays_whole:
            assert pieces == [text], f"texts[{index}] fits the model but was cut"
        assert all(pieces), f"texts[{index}] has an empty piece"

    # Limits, by the planner's own estimate and the schema's character counts.
    for piece, (text, tokens) in enumerate(zip(plan.pieces, plan.piece_tokens, strict=True)):
        assert tokens == estimate_tokens(text), f"piece {piece}: recorded {tokens} tokens"
        assert tokens <= context, f"piece {piece} has {tokens} tokens, over the context {context}"
        assert within(text, spec.max_string_chars), f"piece {piece} is over the string limit"
        if over_item_limit == "split":
            assert within(text, spec.max_item_chars), f"piece {piece} is over the item limit"

    # Batches: every piece in exactly one, in order within it, within inputs and tokens per
    # request; a piece over the list-item limit alone.
    assert sorted(piece for batch in plan.batches for piece in batch) == list(range(count)), (
        "a piece is in no batch, or in two"
    )
    limit = batch_limit(spec, batch_size)
    for number, batch in enumerate(plan.batches):
        assert batch == sorted(batch), f"batch {number} is out of order: {batch}"
        assert len(batch) >= 1, f"batch {number} is empty"
        assert len(batch) <= limit, f"batch {number} has {len(batch)} inputs, limit {limit}"
        if len(batch) > 1:
            assert all(within(plan.pieces[piece], spec.max_item_chars) for piece in batch), (
                f"batch {number} lists a piece over the item limit"
            )
        tokens = sum(plan.piece_tokens[piece] for piece in batch)
        assert tokens <= spec.max_tokens_per_request, (
            f"batch {number} has {tokens} tokens, over {spec.max_tokens_per_request} per request"
        )


@PROPERTY_SETTINGS
@given(texts=texts_lists, spec=specs, options=options)
@example(
    texts=[],
    spec=TINY_SPECS[0],
    options={"max_concurrency": 1, "batch_size": None, "over_item_limit": "alone"},
)
@example(
    texts=["", " ", "\n"],
    spec=TINY_SPECS[0],
    options={"max_concurrency": 4, "batch_size": None, "over_item_limit": "alone"},
)
@example(
    texts=["😀" * 40, "語" * 40],
    spec=TINY_SPECS[0],
    options={"max_concurrency": 1, "batch_size": 1, "over_item_limit": "alone"},
)
@example(
    texts=["😀" * 7, "a" * 12, "b" * 13, "c" * 61, "short"],
    spec=TINY_SPECS[-1],
    options={"max_concurrency": 2, "batch_size": None, "over_item_limit": "alone"},
)
@example(
    texts=["😀" * 7, "a" * 12, "b" * 13, "c " * 40, "short"],
    spec=TINY_SPECS[-1],
    options={"max_concurrency": 2, "batch_size": None, "over_item_limit": "split"},
)
def test_chunked_plans_own_order_and_bound_every_piece(
    texts: list[str], spec: ModelSpec, options: dict[str, int | None]
) -> None:
    plan = plan_requests(texts, spec, long_text="chunk", **options)  # type: ignore[arg-type]
    check_plan(
        texts,
        spec,
        plan,
        "chunk",
        options["batch_size"],
        options["over_item_limit"],  # type: ignore[arg-type]
    )


@PROPERTY_SETTINGS
@given(texts=texts_lists, spec=specs, options=options)
def test_truncated_plans_send_one_prefix_per_text(
    texts: list[str], spec: ModelSpec, options: dict[str, int | None]
) -> None:
    plan = plan_requests(texts, spec, long_text="truncate", **options)  # type: ignore[arg-type]
    check_plan(
        texts,
        spec,
        plan,
        "truncate",
        options["batch_size"],
        options["over_item_limit"],  # type: ignore[arg-type]
    )


@PROPERTY_SETTINGS
@given(texts=texts_lists, spec=specs)
def test_error_mode_refuses_the_first_text_over_the_context_or_plans_all(
    texts: list[str], spec: ModelSpec
) -> None:
    context = min(spec.context_tokens, spec.max_tokens_per_request)
    too_long = [
        index
        for index, text in enumerate(texts)
        if not is_blank(text)
        and (estimate_tokens(text) > context or not within(text, spec.max_string_chars))
    ]
    if not too_long:
        plan = plan_requests(texts, spec, long_text="error")
        check_plan(texts, spec, plan, "chunk", None)
        return
    with pytest.raises(InputTooLongError) as info:
        plan_requests(texts, spec, long_text="error")
    assert info.value.index == too_long[0], f"named texts[{info.value.index}], not the first"
    assert f"texts[{too_long[0]}]" in str(info.value)


@PROPERTY_SETTINGS
@given(texts=texts_lists, spec=specs, options=options)
def test_assemble_gives_each_text_the_vector_of_its_own_pieces(
    texts: list[str], spec: ModelSpec, options: dict[str, int | None]
) -> None:
    """Give every piece a one-hot vector on its owner's axis: each text must get its own axis."""
    plan = plan_requests(texts, spec, **options)  # type: ignore[arg-type]
    width = max(1, len(texts))
    piece_vectors = []
    for owner in plan.piece_owner:
        vector = [0.0] * width
        vector[owner] = 1.0
        piece_vectors.append(vector)
    vectors = assemble(plan, piece_vectors)
    assert len(vectors) == len(texts)
    blanks = [index for index, text in enumerate(texts) if is_blank(text)]
    for index, vector in enumerate(vectors):
        owner = first_alike(texts, index)
        want = [0.0] * width
        want[owner] = 1.0
        assert vector == pytest.approx(want, abs=1e-12), (
            f"texts[{index}] got a vector mixed from other texts' pieces"
        )
    if len(blanks) > 1:
        vectors[blanks[0]][0] += 1.0
        assert vectors[blanks[1]] != vectors[blanks[0]], "blank texts share one mutable list"


@PROPERTY_SETTINGS
@given(
    text=st.text(characters, min_size=1, max_size=3000),
    max_tokens=st.integers(3, 300),
    max_chars=st.one_of(st.none(), st.integers(2, 900)),
)
def test_split_text_rebuilds_the_text_within_the_budget(
    text: str, max_tokens: int, max_chars: int | None
) -> None:
    pieces = split_text(text, max_tokens, max_chars)
    if is_blank(text):
        return
    assert_tiles(text, pieces, "the text")
    assert all(pieces), "an empty piece"
    assert all(estimate_tokens(piece) <= max_tokens for piece in pieces), (
        f"a piece over {max_tokens} tokens"
    )
    assert all(within(piece, max_chars) for piece in pieces), f"a piece over {max_chars} units"


# ---- degenerate budgets --------------------------------------------------------------------


def _run_bounded(code: str, seconds: float = 8.0) -> subprocess.CompletedProcess[str]:
    """Run `code` in a child with a memory cap and a time limit: a looping planner cannot take
    the test run (or the machine) down with it."""
    limit = 1 << 30

    def cap() -> None:  # pragma: no cover - runs in the child
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=seconds,
            preexec_fn=cap,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pass
    pytest.fail(f"the planner did not finish within {seconds:.0f} s: it loops")


@pytest.mark.parametrize("text", ["😀😀", "語語語", "é" * 4])
def test_a_budget_smaller_than_one_character_ends_with_an_error_not_a_loop(text: str) -> None:
    """context_tokens=2 allows 2 bytes per piece; a 3- or 4-byte character fits no piece. The
    planner must say so (an error) or cut the text somehow, and must finish."""
    result = _run_bounded(
        f"""
        from aimlapi_embeddings import AimlapiError, ModelSpec
        from aimlapi_embeddings._batching import plan_requests
        spec = ModelSpec(name="ctx-2", dimensions=4, context_tokens=2, max_inputs=4,
                         max_tokens_per_request=2)
        try:
            plan = plan_requests([{text!r}], spec)
        except (AimlapiError, ValueError) as exc:
            print("ERROR", type(exc).__name__, exc)
        else:
            assert "".join(plan.pieces) == {text!r} and all(plan.pieces), plan.pieces
            print("PLANNED", len(plan.pieces))
        """
    )
    assert result.returncode == 0, f"the planner crashed: {result.stderr[-600:]}"
    assert result.stdout.startswith(("ERROR", "PLANNED")), result.stdout


def test_a_context_below_any_piece_is_refused_not_exceeded() -> None:
    """context_tokens=1: no non-empty text fits (the estimate gives every piece at least 2
    tokens). The planner must refuse, not plan pieces over the model's context."""
    spec = ModelSpec(
        name="ctx-1", dimensions=4, context_tokens=1, max_inputs=4, max_tokens_per_request=1
    )
    try:
        plan = plan_requests(["abc"], spec)
    except (InputTooLongError, ValueError):
        return
    over = [tokens for tokens in plan.piece_tokens if tokens > spec.context_tokens]
    assert not over, f"planned {len(over)} piece(s) of {max(over)} tokens for a context of 1"


@PROPERTY_SETTINGS
@given(
    text=st.builds(
        lambda head, gap, tail: head + gap + tail,
        st.text(characters, min_size=1, max_size=20).filter(lambda t: not t.isspace()),
        st.text(st.sampled_from(" \n"), min_size=200, max_size=3000),
        st.text(characters, min_size=1, max_size=20).filter(lambda t: not t.isspace()),
    ),
    max_tokens=st.integers(3, 100),
)
def test_chunks_are_never_whitespace_only(text: str, max_tokens: int) -> None:
    """Vendors reject whitespace-only inputs (that is why blank texts get a stand-in): a long
    run of spaces inside a text must not become a whitespace-only piece."""
    pieces = split_text(text, max_tokens)
    blank = [index for index, piece in enumerate(pieces) if piece.isspace()]
    assert not blank, f"{len(blank)} of {len(pieces)} pieces are whitespace only, e.g. #{blank[0]}"


def test_estimate_is_what_the_limits_are_checked_with() -> None:
    """Sanity of the oracle used above: the estimate grows with bytes and never reaches zero."""
    assert estimate_tokens("") >= 1
    assert estimate_tokens("a" * 1000) > estimate_tokens("a" * 10)
    assert estimate_tokens("語") == math.ceil(3 / 2.5) + 1


def fewest_in_order(costs: list[int], limit: int, max_tokens: int) -> int:
    """The fewest consecutive requests within both limits (filling each is optimal)."""
    requests, count, tokens = 0, 0, 0
    for cost in costs:
        if not requests or count >= limit or tokens + cost > max_tokens:
            requests, count, tokens = requests + 1, 0, 0
        count, tokens = count + 1, tokens + cost
    return requests


@settings(PROPERTY_SETTINGS, max_examples=50)  # large calls: fewer examples keep it quick
@given(
    count=st.integers(1, 3000),
    seed=st.integers(0, 2**32),
    longest=st.sampled_from([5, 40, 400, 3000]),
    spec=specs,
    slots=st.integers(1, 16),
)
@example(count=20_000, seed=0, longest=60, spec=REGISTRY_SPECS[0], slots=8)
@example(count=100_000, seed=1, longest=60, spec=REGISTRY_SPECS[0], slots=8)
def test_automatic_plans_fill_whole_rounds_and_use_no_more_than_the_slots_require(
    count: int, seed: int, longest: int, spec: ModelSpec, slots: int
) -> None:
    """Issue 18: unset, the batch size is planned: every piece once, every limit kept, whole
    rounds of `slots` requests, and no more rounds than the fewest requests the limits allow
    (and the lone pieces) need; a call too small to give every slot a few dozen pieces in one
    round."""
    rng = random.Random(seed)
    texts = [f"{i} " + "w" * rng.randint(0, longest) for i in range(count)]
    plan = plan_requests(texts, spec, max_concurrency=slots)
    pieces = len(plan.pieces)
    assert sorted(p for batch in plan.batches for p in batch) == list(range(pieces))
    # The model's limits, and the automatic cap on the floats an answer may hold.
    limit = min(spec.max_inputs, max(MIN_AUTO_BATCH, MAX_AUTO_ANSWER_FLOATS // spec.dimensions))
    for batch in plan.batches:
        assert batch == sorted(batch)
        assert len(batch) <= limit
        assert len(batch) * spec.dimensions <= max(
            MAX_AUTO_ANSWER_FLOATS, MIN_AUTO_BATCH * spec.dimensions
        )
        assert sum(plan.piece_tokens[p] for p in batch) <= spec.max_tokens_per_request
    lone = [p for p in range(pieces) if sends_alone(plan.pieces[p], spec)]
    listed = [plan.piece_tokens[p] for p in range(pieces) if not sends_alone(plan.pieces[p], spec)]
    fewest = fewest_in_order(listed, limit, spec.max_tokens_per_request)
    requests = len(plan.batches)
    allowed_rounds = max(1, math.ceil((fewest + len(lone)) / slots))
    assert math.ceil(requests / slots) <= allowed_rounds, (
        f"{requests} requests in {math.ceil(requests / slots)} rounds of {slots}; the limits "
        f"need {fewest} (+{len(lone)} lone): {allowed_rounds} rounds"
    )
    floor = min(MIN_AUTO_BATCH, spec.max_inputs)
    if len(listed) >= slots * floor:
        assert requests % slots == 0 or requests == pieces, (
            f"{requests} requests for {slots} slots: the last round is not whole"
        )
    else:
        assert requests <= max(slots, fewest + len(lone)), "a small call takes one round"
