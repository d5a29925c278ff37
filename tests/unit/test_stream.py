"""embed_stream / aembed_stream: any iterable in, consecutive chunks out, bounded memory."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from fakes import FakeAPI, error_answer, vector_for

from aimlapi_embeddings import (
    BadRequestError,
    EmbeddingChunk,
    EmbeddingsClient,
    InvalidInputError,
)
from aimlapi_embeddings._stream import WINDOWS_AHEAD

pytestmark = pytest.mark.usefixtures("fast_backoff")

SHELLS = ("sync", "async")


def passages(count: int) -> list[str]:
    return [f"passage {i} on topic {i % 17}" for i in range(count)]


class Counted:
    """A one-pass generator of texts that counts how many were read."""

    def __init__(self, texts: Iterable[str]) -> None:
        self._texts = iter(texts)
        self.read = 0

    def __iter__(self) -> Iterator[str]:
        for text in self._texts:
            self.read += 1
            yield text


def stream(
    shell: str, client: EmbeddingsClient, texts: Iterable[str], **options: Any
) -> list[EmbeddingChunk[Any]]:
    """Every chunk of a stream, through the sync or the async shell."""
    if shell == "sync":
        return list(client.embed_stream(texts, **options))

    async def collect() -> list[EmbeddingChunk[Any]]:
        return [chunk async for chunk in client.aembed_stream(texts, **options)]

    return asyncio.run(collect())


def rows(chunks: list[EmbeddingChunk[Any]]) -> list[Any]:
    return [row for chunk in chunks for row in chunk.vectors]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("output", ["list", "numpy"])
def test_chunks_concatenate_to_the_result_of_embed(shell: str, output: str) -> None:
    texts = [*passages(2300), "", "passage 5 on topic 5", "word " * 12_000]
    api = FakeAPI(shuffle=True)
    client = api.client(max_concurrency=4)
    whole = client.embed(texts, output=output)  # type: ignore[call-overload]
    chunks = stream(shell, client, Counted(texts), output=output, chunk_size=500)
    assert [chunk.start for chunk in chunks] == list(range(0, len(texts), 500))
    assert [len(chunk.vectors) for chunk in chunks[:-1]] == [500] * (len(chunks) - 1)
    if output == "numpy":
        together = np.concatenate([chunk.vectors for chunk in chunks])
        assert together.dtype == np.float32
        assert np.array_equal(together, whole.vectors)
    else:
        assert rows(chunks) == whole.vectors
    assert sum((chunk.usage.prompt_tokens or 0) for chunk in chunks) >= len(set(texts))


@pytest.mark.parametrize("shell", SHELLS)
def test_a_stream_holds_a_bounded_window_of_texts(shell: str) -> None:
    """However long the input, texts are read only a few chunks ahead of those delivered (the
    chunk the caller holds is the caller's)."""
    texts = Counted(passages(6000))
    chunk_size = 250
    ahead: list[int] = []
    api = FakeAPI()
    client = api.client(max_concurrency=2)
    if shell == "sync":
        for chunk in client.embed_stream(texts, chunk_size=chunk_size):
            ahead.append(texts.read - chunk.start - len(chunk.vectors))
    else:

        async def consume() -> None:
            async for chunk in client.aembed_stream(texts, chunk_size=chunk_size):
                ahead.append(texts.read - chunk.start - len(chunk.vectors))

        asyncio.run(consume())
    assert len(ahead) == 6000 // chunk_size
    assert max(ahead) <= WINDOWS_AHEAD * chunk_size, f"read {max(ahead)} texts ahead"
    assert len(api.inputs) == 6000


def test_leaving_a_stream_early_reads_and_sends_no_more() -> None:
    texts = Counted(passages(100_000))
    api = FakeAPI()
    chunks = api.client(max_concurrency=2).embed_stream(texts, chunk_size=100)
    first = next(chunks)
    chunks.close()
    sent = len(api.requests)
    assert first.start == 0
    assert texts.read <= WINDOWS_AHEAD * 100
    assert sent <= WINDOWS_AHEAD * 100 // 32 + 1
    assert len(api.requests) == sent


def test_leaving_an_async_stream_early_stops_its_requests() -> None:
    texts = Counted(passages(100_000))
    api = FakeAPI()
    client = api.client(max_concurrency=2)

    async def first_chunk() -> EmbeddingChunk[Any]:
        async with contextlib.aclosing(client.aembed_stream(texts, chunk_size=100)) as chunks:
            return await anext(chunks)

    first = asyncio.run(first_chunk())
    assert first.start == 0
    assert texts.read <= WINDOWS_AHEAD * 100
    sent = len(api.requests)
    assert sent <= WINDOWS_AHEAD * 100 // 32 + 1
    assert len(api.requests) == sent


def refuse_text(text: str) -> Any:
    def refuse(body: dict[str, Any]) -> httpx.Response | None:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return error_answer(400, "refused") if text in inputs else None

    return refuse


@pytest.mark.parametrize("shell", SHELLS)
def test_an_error_stops_the_stream_at_the_first_text_not_delivered(shell: str) -> None:
    texts = passages(3000)
    api = FakeAPI(refuse=refuse_text(texts[2345]))
    client = api.client(max_concurrency=2)
    delivered: list[EmbeddingChunk[Any]] = []

    async def consume_async() -> None:
        async for chunk in client.aembed_stream(iter(texts), chunk_size=200):
            delivered.append(chunk)

    def consume() -> None:
        if shell == "sync":
            delivered.extend(client.embed_stream(iter(texts), chunk_size=200))
        else:
            asyncio.run(consume_async())

    with pytest.raises(BadRequestError) as info:
        consume()
    error = info.value
    resume_from = sum(len(chunk.vectors) for chunk in delivered)
    assert error.resume_from == resume_from
    assert resume_from <= 2200, "the window with the refused text was not delivered"
    assert resume_from % 200 == 0
    assert f"resume from {resume_from}" in str(error)
    assert rows(delivered) == [vector_for(text, 1536) for text in texts[:resume_from]]

    # Resumed from there, without the fault, the stream completes the corpus.
    api.refuse = None
    rest = stream(shell, client, texts[resume_from:], chunk_size=200)
    assert [chunk.start for chunk in rest][:1] == [0]
    assert rows(delivered) + rows(rest) == [vector_for(text, 1536) for text in texts]


@pytest.mark.parametrize("shell", SHELLS)
def test_a_bad_text_deep_in_the_stream_names_its_index_in_the_input(shell: str) -> None:
    texts: list[Any] = passages(1000)
    texts[777] = None
    with pytest.raises(InvalidInputError, match=r"texts\[777\] is NoneType") as info:
        stream(shell, FakeAPI().client(max_concurrency=2), iter(texts), chunk_size=100)
    assert info.value.index == 777
    assert info.value.resume_from is not None
    assert info.value.resume_from <= 700


def test_the_wrong_kind_of_input_is_refused_before_anything_is_read() -> None:
    client = FakeAPI().client()
    with pytest.raises(InvalidInputError, match="not a single str"):
        client.embed_stream("one text")
    with pytest.raises(InvalidInputError, match="not set"):
        client.aembed_stream({"a", "b"})
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        client.embed_stream(["a"], chunk_size=0)


@pytest.mark.parametrize("shell", SHELLS)
def test_progress_counts_texts_of_an_input_without_a_length(shell: str) -> None:
    seen: list[tuple[int, int | None]] = []
    texts = passages(1000)
    stream(
        shell,
        FakeAPI().client(),
        iter(texts),
        chunk_size=300,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert {total for _, total in seen} == {None}
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1][0] == 1000
    seen.clear()
    stream(
        shell,
        FakeAPI().client(),
        texts,
        chunk_size=300,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert {total for _, total in seen} == {1000}
    assert seen[-1] == (1000, 1000)


@pytest.mark.parametrize("shell", SHELLS)
def test_an_empty_input_makes_no_chunk_and_no_request(shell: str) -> None:
    api = FakeAPI()
    assert stream(shell, api.client(), iter([])) == []
    assert api.requests == []


def test_repeats_within_a_chunk_are_sent_once() -> None:
    texts = ["a", "b", "a", "c", "a", "b"] * 2
    api = FakeAPI()
    chunks = list(api.client().embed_stream(texts, chunk_size=6))
    assert rows(chunks) == [vector_for(text, 1536) for text in texts]
    assert len(api.inputs) == 6, "three distinct texts in each of two chunks"


def test_the_next_chunks_requests_go_out_while_a_slow_one_is_answered() -> None:
    """A stream does not wait for a chunk to finish before sending the next chunk's requests."""
    texts = passages(800)
    others_sent = threading.Semaphore(0)

    def slow(request: httpx.Request) -> httpx.Response | None:
        if texts[0].encode() in request.content:
            # Answered only once the next chunks' requests have come, or after 5 s.
            for _ in range(3):
                if not others_sent.acquire(timeout=5):
                    break
            return None
        others_sent.release()
        return None

    api = FakeAPI(faults=[slow] * 100)
    chunks = list(api.client(max_concurrency=2).embed_stream(texts, chunk_size=100))
    first_batch = next(i for i, body in enumerate(api.requests) if texts[0] in body["input"])
    later = [body for body in api.requests[first_batch + 1 :] if texts[150] in body["input"]]
    assert later, "the next chunk's requests waited for the slow one"
    assert rows(chunks) == [vector_for(text, 1536) for text in texts]
