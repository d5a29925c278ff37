"""Bulk embedding through the real loopback emulator: repeated texts sent once, numpy output,
streams of any length."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import numpy as np
import pytest

from aimlapi_embeddings import EmbeddingResult, EmbeddingsClient
from aimlapi_embeddings.testing import Emulator, embedding_for

pytestmark = pytest.mark.timeout(60)

MODEL = "text-embedding-3-small"
SHELLS = ("sync", "async")


def passages(count: int, start: int = 0) -> list[str]:
    return [
        f"passage {i}: retrieval of chunk {i % 97} in store {i % 13}" for i in range(start, count)
    ]


def with_repeats(texts: list[str], share: float, seed: int = 3) -> list[str]:
    """`texts` and as many copies of some of them as make `share` of the result, shuffled."""
    rng = random.Random(seed)
    copies = round(len(texts) * share / (1 - share))
    corpus = texts + [rng.choice(texts) for _ in range(copies)]
    rng.shuffle(corpus)
    return corpus


def embed(
    shell: str, client: EmbeddingsClient, texts: list[str], **options: Any
) -> EmbeddingResult[Any]:
    if shell == "sync":
        return client.embed(texts, **options)
    return asyncio.run(client.aembed(texts, **options))


@pytest.mark.parametrize("shell", SHELLS)
def test_a_corpus_with_30_percent_repeats_sends_30_percent_fewer_inputs(shell: str) -> None:
    distinct = passages(700)
    corpus = with_repeats(distinct, 0.3)
    assert len(corpus) == 1000
    with Emulator(shuffle=True) as api:
        client = EmbeddingsClient(api_key=api.api_key, base_url=api.base_url)
        result = embed(shell, client, corpus, output="numpy")
        sent = [text for record in api.requests for text in record.inputs]
    assert len(sent) == 700, f"{len(sent)} inputs sent for 700 distinct texts of 1,000"
    assert sorted(sent) == sorted(distinct)
    expected = np.array([embedding_for(text, MODEL) for text in corpus], dtype=np.float32)
    assert np.array_equal(result.vectors, expected), "every position has its text's vector"
    assert result.usage.prompt_tokens == sum(record.total_tokens for record in api.requests)


@pytest.mark.parametrize("shell", SHELLS)
def test_a_stream_of_a_generator_keeps_every_request_slot_busy_and_matches_embed(
    shell: str,
) -> None:
    count = 6000
    with Emulator(latency=0.02, latency_per_input=0.0001, shuffle=True) as api:
        client = EmbeddingsClient(api_key=api.api_key, base_url=api.base_url, max_concurrency=4)
        whole = client.embed(passages(count), output="numpy")
        api.clear()
        texts = (text for text in passages(count))
        if shell == "sync":
            chunks = list(client.embed_stream(texts, output="numpy", chunk_size=1000))
        else:

            async def collect() -> list[Any]:
                return [
                    c async for c in client.aembed_stream(texts, output="numpy", chunk_size=1000)
                ]

            chunks = asyncio.run(collect())
        peak = api.peak_concurrency
        sent = sum(len(record.inputs) for record in api.requests)
    assert [chunk.start for chunk in chunks] == list(range(0, count, 1000))
    assert np.array_equal(np.concatenate([chunk.vectors for chunk in chunks]), whole.vectors)
    assert peak == 4, f"at most {peak} of 4 requests were in flight at once"
    assert sent == count


class CaselessStr(str):
    """A str subclass that compares and hashes case-insensitively (as some NLP libraries do)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.lower() == other.lower()

    def __hash__(self) -> int:
        return hash(self.lower())


@pytest.mark.parametrize("output", ["list", "numpy"])
def test_duplicates_are_the_exact_strings_sent_not_what_a_subclass_calls_equal(
    output: str,
) -> None:
    texts = [CaselessStr("Paris"), CaselessStr("PARIS"), CaselessStr("paris"), "Paris"]
    with Emulator() as api, EmbeddingsClient(api_key=api.api_key, base_url=api.base_url) as client:
        result = client.embed(texts, dimensions=16, output=output)  # type: ignore[call-overload]
        sent = [text for record in api.requests for text in record.inputs]
    assert sorted(sent) == ["PARIS", "Paris", "paris"]  # "Paris" twice is one input
    assert all(type(text) is str for text in sent)
    for text, vector in zip(texts, result.vectors, strict=True):
        expected = embedding_for(str.__str__(text), "text-embedding-3-small", dimensions=16)
        assert list(vector) == pytest.approx(expected, abs=1e-6)


class CountedTexts:
    """An iterable that counts the texts taken from it."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.read = 0

    def __iter__(self) -> Any:
        for index in range(self.count):
            self.read += 1
            yield f"text {index} of a stream in small chunks"


@pytest.mark.parametrize("shell", ["sync", "async"])
@pytest.mark.parametrize(("chunk_size", "count"), [(1, 200), (32, 32 * 80)])
def test_small_stream_chunks_keep_every_slot_busy_within_the_bound(
    shell: str, chunk_size: int, count: int
) -> None:
    texts = CountedTexts(count)
    ahead: list[int] = []
    with Emulator(latency=0.05) as api:
        client = EmbeddingsClient(api_key=api.api_key, base_url=api.base_url, max_concurrency=8)
        if shell == "sync":
            for chunk in client.embed_stream(texts, chunk_size=chunk_size):
                ahead.append(texts.read - chunk.start - len(chunk.vectors))
        else:

            async def consume() -> None:
                async for chunk in client.aembed_stream(texts, chunk_size=chunk_size):
                    ahead.append(texts.read - chunk.start - len(chunk.vectors))

            asyncio.run(consume())
        client.close()
        peak = api.peak_concurrency
    assert peak == 8  # three windows of one request each left five slots idle
    # Held beyond the chunk in the caller's hands: three rounds of the smallest automatic
    # requests (3 x 8 x 32 texts), and one more window opening.
    assert max(ahead) <= 3 * 8 * 32 + chunk_size
