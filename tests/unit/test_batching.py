"""The planner: every text in exactly one request (or its pieces), in order, within the limits."""

from __future__ import annotations

import math

import pytest
from fakes import assemble

from aimlapi_embeddings import InputTooLongError, get_model_spec
from aimlapi_embeddings._batching import (
    EMPTY_TEXT_STAND_IN,
    MIN_AUTO_BATCH,
    combine,
    estimate_tokens,
    plan_requests,
    split_text,
)

SMALL = get_model_spec("text-embedding-3-small")
QWEN = get_model_spec("alibaba/qwen-text-embedding-v3")
BGE = get_model_spec("BAAI/bge-base-en-v1.5")


@pytest.mark.parametrize(
    ("text", "at_least"),
    [
        ("", 1),
        ("hello world", 3),
        ("a" * 1000, 250),  # real tokenizers: about 125-250 tokens
        ("日本語のテキスト" * 100, 800),  # about one token per CJK character
        ("🙂" * 100, 100),
    ],
)
def test_the_estimate_is_conservative(text: str, at_least: int) -> None:
    assert estimate_tokens(text) >= at_least


def test_split_text_keeps_every_character_in_order_within_the_budget() -> None:
    text = ("Ünïcödé wörds and 日本語 and emoji 🙂 " * 500).strip()
    pieces = split_text(text, 200)
    assert len(pieces) > 1
    assert "".join(pieces) == text
    assert all(estimate_tokens(piece) <= 200 for piece in pieces)
    assert all(piece.endswith(" ") for piece in pieces[:-1]), "cuts fall at spaces when possible"


def test_split_text_without_spaces_cuts_between_characters() -> None:
    text = "語" * 5000
    pieces = split_text(text, 100)
    assert "".join(pieces) == text
    assert all(estimate_tokens(piece) <= 100 for piece in pieces)


def test_requests_respect_input_count_and_token_budgets() -> None:
    texts = [f"text {i} " * (i % 50 + 1) for i in range(1000)]
    plan = plan_requests(texts, QWEN)
    assert all(len(batch) <= QWEN.max_inputs for batch in plan.batches)
    for batch in plan.batches:
        assert sum(plan.piece_tokens[i] for i in batch) <= QWEN.max_tokens_per_request
    covered = [i for batch in plan.batches for i in batch]
    assert covered == list(range(len(plan.pieces)))


def test_the_token_budget_splits_batches_of_long_texts() -> None:
    texts = [f"{i} " + "word " * 1600 for i in range(40)]  # ~3200 estimated tokens each
    plan = plan_requests(texts, QWEN, batch_size=10)
    for batch in plan.batches:
        assert sum(plan.piece_tokens[i] for i in batch) <= QWEN.max_tokens_per_request


def distinct(count: int) -> list[str]:
    return [f"t{i}" for i in range(count)]


def test_auto_batches_spread_over_concurrency_but_not_below_a_floor() -> None:
    plan = plan_requests(distinct(1000), SMALL, max_concurrency=8)
    assert len(plan.batches) == 8, "one round: every slot busy, no more requests than slots"
    costs = [sum(plan.piece_tokens[i] for i in batch) for batch in plan.batches]
    assert max(costs) - min(costs) <= 2 * max(plan.piece_tokens), "equal cost in tokens"
    plan = plan_requests(distinct(100), SMALL, max_concurrency=8)
    assert all(len(batch) >= MIN_AUTO_BATCH for batch in plan.batches[:-1])
    # Whole rounds, as few as the answers' cap allows: 1,024 vectors of 1,536 floats each.
    plan = plan_requests(distinct(20_000), SMALL, max_concurrency=8)
    assert len(plan.batches) == 24, "three whole rounds of 834"
    plan = plan_requests(distinct(100_000), SMALL, max_concurrency=8)
    assert len(plan.batches) == 104, "thirteen whole rounds"
    assert max(len(batch) for batch in plan.batches) <= 1024
    # The cap is in floats: narrower vectors, larger requests (up to the model's 2,048 inputs).
    plan = plan_requests(distinct(20_000), SMALL, max_concurrency=8, width=256)
    assert len(plan.batches) == 16, "two whole rounds: 2,048 inputs per request at most"
    large = get_model_spec("text-embedding-3-large")
    plan = plan_requests(distinct(20_000), large, max_concurrency=8)
    assert len(plan.batches) == 40, "3,072 wide: 512 texts a request at most, five rounds"
    plan = plan_requests(distinct(100_000), SMALL, max_concurrency=8, batch_size=2048)
    assert max(len(batch) for batch in plan.batches) == 2048, "an explicit size is obeyed"


def test_an_explicit_batch_size_is_obeyed_up_to_the_model_limit() -> None:
    assert {len(b) for b in plan_requests(distinct(100), SMALL, batch_size=10).batches} == {10}
    assert {len(b) for b in plan_requests(distinct(100), QWEN, batch_size=64).batches} == {10}


def test_empty_texts_share_one_stand_in_piece() -> None:
    plan = plan_requests(["", "a", " ", "b", "\n"], SMALL)
    assert plan.pieces == [EMPTY_TEXT_STAND_IN, "a", "b"]
    assert [list(span) for span in plan.spans] == [[0], [1], [0], [2], [0]]


def test_long_texts_are_chunked_truncated_or_refused() -> None:
    long_text = "token " * 2000  # ~4800 estimated tokens; bge takes 512
    chunked = plan_requests(["short", long_text], BGE, long_text="chunk")
    assert len(chunked.spans[1]) > 1
    assert "".join(chunked.pieces[i] for i in chunked.spans[1]) == long_text
    assert all(tokens <= BGE.context_tokens for tokens in chunked.piece_tokens)
    truncated = plan_requests(["short", long_text], BGE, long_text="truncate")
    assert len(truncated.spans[1]) == 1
    assert long_text.startswith(truncated.pieces[truncated.spans[1][0]])
    with pytest.raises(InputTooLongError, match=r"texts\[1\]") as caught:
        plan_requests(["short", long_text], BGE, long_text="error")
    assert caught.value.index == 1
    with pytest.raises(ValueError, match="long_text"):
        plan_requests(["x"], BGE, long_text="drop")  # type: ignore[arg-type]


def test_combine_is_a_length_weighted_normalised_mean() -> None:
    merged = combine([[1.0, 0.0], [0.0, 1.0]], [3, 1])
    assert merged == pytest.approx([3 / math.sqrt(10), 1 / math.sqrt(10)])


def test_assemble_shares_no_row_between_texts() -> None:
    plan = plan_requests(["", "a", " ", "\n"], BGE)
    vectors = assemble(plan, [[1.0, 0.0], [0.0, 1.0]])
    assert vectors == [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]
    assert len({id(vector) for vector in vectors}) == 4


def test_assemble_maps_pieces_back_to_texts() -> None:
    plan = plan_requests(["", "a b", "c"], BGE)
    vectors = assemble(plan, [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    assert vectors == [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]
