"""Identical texts within one call are sent once; each of their positions gets the vector."""

from __future__ import annotations

import random
from typing import Any

import httpx
import numpy as np
import pytest
from fakes import FakeAPI, error_answer, vector_for

from aimlapi_embeddings import BadRequestError

from .conftest import Embed

pytestmark = pytest.mark.usefixtures("fast_backoff")


def corpus_with_repeats(distinct: int, repeats: int, seed: int = 7) -> list[str]:
    """`distinct` texts, then `repeats` copies of some of them, shuffled together."""
    texts = [f"passage {i} about topic {i % 11}" for i in range(distinct)]
    rng = random.Random(seed)
    texts += [rng.choice(texts) for _ in range(repeats)]
    rng.shuffle(texts)
    return texts


def test_repeated_texts_are_sent_once_and_each_position_gets_the_vector(embed: Embed) -> None:
    api = FakeAPI(shuffle=True)
    texts = corpus_with_repeats(140, 60)
    result = embed(api.client(), texts, batch_size=16)
    assert result.vectors == [vector_for(text, 1536) for text in texts]
    assert sorted(api.inputs) == sorted(set(texts)), "each distinct text sent exactly once"
    assert result.usage.prompt_tokens == len(set(texts)), "usage counts what was sent"


def test_repeated_texts_get_rows_of_their_own(embed: Embed) -> None:
    result = embed(FakeAPI().client(), ["same", "other", "same", "same"])
    first, _, second, third = result.vectors
    assert first == second == third
    first[0] += 1.0
    assert second != first, "a caller may change one row alone"
    assert third == second


def test_repeated_texts_in_numpy_output_get_equal_rows(embed: Embed) -> None:
    texts = corpus_with_repeats(40, 20)
    result = embed(FakeAPI(shuffle=True).client(), texts, output="numpy", batch_size=8)
    rows = result.vectors
    for index, text in enumerate(texts):
        assert np.array_equal(rows[index], rows[texts.index(text)])
        assert np.array_equal(rows[index], np.array(vector_for(text, 1536), dtype=np.float32))


def test_repeated_long_texts_are_cut_and_sent_once(embed: Embed) -> None:
    long_text = "word " * 12_000  # over the 8,191-token context: sent in pieces
    api = FakeAPI()
    result = embed(api.client(), [long_text, "short", long_text])
    assert result.vectors[0] == result.vectors[2]
    assert "".join(text for text in api.inputs if text.startswith("word")) == long_text


def test_a_refused_request_names_every_position_of_the_texts_it_carried(embed: Embed) -> None:
    def refuse(body: dict[str, Any]) -> httpx.Response | None:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return error_answer(400, "no thanks") if "bad" in inputs else None

    api = FakeAPI(refuse=refuse)
    texts = ["bad", "good", "", "bad", " ", "good", "bad"]
    with pytest.raises(BadRequestError) as info:
        embed(api.client(), texts, batch_size=1)
    assert info.value.indices == (0, 3, 6)
    assert "texts[0, 3, 6]" in info.value.message
