"""A batch size the user sets is texts per request, as with the OpenAI classes; LlamaIndex's
progress bar advances as requests finish, with its callback and instrumentation events kept."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import tqdm.auto
from llama_index.core.callbacks import CallbackManager, CBEventType
from llama_index.core.callbacks.base_handler import BaseCallbackHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.embedding import (
    EmbeddingEndEvent,
    EmbeddingStartEvent,
)
from llama_index.core.storage.kvstore import SimpleKVStore

from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings
from llama_index_aimlapi import AimlapiEmbedding

TEXTS = [f"passage {i} about topic {i % 17}" for i in range(2000)]


@pytest.fixture(scope="module")
def api() -> Iterator[Emulator]:
    with Emulator(latency=0.02) as emulator:
        yield emulator


def requests_during(api: Emulator, call: Any) -> list[int]:
    """The inputs of each request `call()` sent."""
    before = len(api.requests)
    call()
    return [len(record.inputs) for record in api.requests[before:]]


def llama(api: Emulator, **arguments: Any) -> AimlapiEmbedding:
    return AimlapiEmbedding(api_key=api.api_key, api_base=api.base_url, **arguments)


def test_llama_index_embed_batch_size_is_texts_per_request(api: Emulator) -> None:
    embedding = llama(api, embed_batch_size=100)
    sizes = requests_during(api, lambda: embedding.get_text_embedding_batch(TEXTS))
    assert sizes == [100] * 20  # not 80: each LlamaIndex chunk is one request

    sizes = requests_during(api, lambda: asyncio.run(embedding.aget_text_embedding_batch(TEXTS)))
    assert sorted(sizes) == [100] * 20


def test_llama_index_embed_batch_size_survives_a_round_trip_and_a_later_assignment(
    api: Emulator,
) -> None:
    planned = llama(api)
    assert planned.to_dict()["embed_batch_size"] is None
    again = AimlapiEmbedding.from_dict({**planned.to_dict(), "api_key": api.api_key})
    assert len(requests_during(api, lambda: again.get_text_embedding_batch(TEXTS))) == len(
        requests_during(api, lambda: planned.get_text_embedding_batch(TEXTS))
    )

    chosen = AimlapiEmbedding.from_dict(
        {**llama(api, embed_batch_size=250).to_dict(), "api_key": api.api_key}
    )
    assert requests_during(api, lambda: chosen.get_text_embedding_batch(TEXTS)) == [250] * 8

    chosen.embed_batch_size = 500
    assert requests_during(api, lambda: chosen.get_text_embedding_batch(TEXTS)) == [500] * 4


def test_an_unset_batch_size_keeps_every_slot_busy(api: Emulator) -> None:
    sizes = requests_during(
        api, lambda: llama(api, max_concurrency=8).get_text_embedding_batch(TEXTS)
    )
    assert len(sizes) >= 8


@pytest.mark.parametrize("name", ["chunk_size", "batch_size"])
def test_langchain_batch_size_is_texts_per_request(api: Emulator, name: str) -> None:
    embeddings = AimlapiEmbeddings(api_key=api.api_key, base_url=api.base_url, **{name: 100})
    sizes = requests_during(api, lambda: embeddings.embed_documents(TEXTS))
    assert sorted(sizes) == [100] * 20
    sizes = requests_during(api, lambda: asyncio.run(embeddings.aembed_documents(TEXTS)))
    assert sorted(sizes) == [100] * 20


def test_a_batch_size_stays_within_the_model_limits(api: Emulator) -> None:
    embedding = llama(api, model="voyage-large-2", embed_batch_size=1000)
    sizes = requests_during(api, lambda: embedding.get_text_embedding_batch(TEXTS[:1000]))
    assert max(sizes) == 128  # Voyage's inputs per request


class RecordingBar(tqdm.auto.tqdm):  # type: ignore[misc]
    """A real tqdm bar that writes nowhere and keeps each position it reached, with its time."""

    bars: ClassVar[list[RecordingBar]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "disable": False, "file": io.StringIO()})
        self.positions: list[tuple[float, int]] = []
        RecordingBar.bars.append(self)

    def update(self, n: float | None = 1) -> bool | None:
        shown = super().update(n)
        self.positions.append((time.perf_counter(), self.n))
        return shown


@pytest.fixture
def recording_bar(monkeypatch: pytest.MonkeyPatch) -> type[RecordingBar]:
    RecordingBar.bars = []
    monkeypatch.setattr(tqdm.auto, "tqdm", RecordingBar)
    return RecordingBar


class Events(BaseEventHandler):
    seen: ClassVar[list[str]] = []

    @classmethod
    def class_name(cls) -> str:
        return "Events"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, EmbeddingStartEvent | EmbeddingEndEvent):
            type(self).seen.append(type(event).__name__)


class Callbacks(BaseCallbackHandler):
    def __init__(self) -> None:
        super().__init__([], [])
        self.ends: list[int] = []

    def on_event_start(
        self,
        event_type: CBEventType,
        payload: Any = None,
        event_id: str = "",
        parent_id: str = "",
        **kwargs: Any,
    ) -> str:
        return event_id

    def on_event_end(
        self, event_type: CBEventType, payload: Any = None, event_id: str = "", **kwargs: Any
    ) -> None:
        if event_type is CBEventType.EMBEDDING and payload:
            self.ends.append(len(payload["chunks"]))

    def start_trace(self, trace_id: str | None = None) -> None:
        pass

    def end_trace(self, trace_id: str | None = None, trace_map: Any = None) -> None:
        pass


@pytest.fixture
def events() -> Iterator[type[Events]]:
    Events.seen = []
    dispatcher = get_dispatcher("llama_index.core.base.embeddings.base")
    handler = Events()
    dispatcher.add_event_handler(handler)
    yield Events
    dispatcher.event_handlers.remove(handler)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("embed_batch_size", [None, 500])
def test_llama_index_progress_advances_as_requests_finish_and_events_are_kept(
    api: Emulator,
    recording_bar: type[RecordingBar],
    events: type[Events],
    mode: str,
    embed_batch_size: int | None,
) -> None:
    callbacks = Callbacks()
    embedding = llama(
        api, embed_batch_size=embed_batch_size, callback_manager=CallbackManager([callbacks])
    )
    before = len(api.requests)
    if mode == "sync":
        vectors = embedding.get_text_embedding_batch(TEXTS, show_progress=True)
    else:
        vectors = asyncio.run(embedding.aget_text_embedding_batch(TEXTS, show_progress=True))
    requests = len(api.requests) - before
    assert len(vectors) == len(TEXTS)

    [bar] = recording_bar.bars
    positions = [n for _, n in bar.positions]
    assert bar.total == len(TEXTS)
    assert positions == sorted(positions)
    assert positions[-1] == len(TEXTS)
    # One step per request, not 0 then everything: every request moved the bar.
    assert len([n for n in positions if 0 < n < len(TEXTS)]) >= requests - 1 >= 3
    chunks = len(TEXTS) // embed_batch_size if embed_batch_size else 1
    assert sum(callbacks.ends) == len(TEXTS)
    assert len(callbacks.ends) == chunks
    assert events.seen.count("EmbeddingStartEvent") == chunks
    assert events.seen.count("EmbeddingEndEvent") == chunks


def test_llama_index_progress_counts_cached_texts_too(
    api: Emulator, recording_bar: type[RecordingBar]
) -> None:
    embedding = llama(api, embeddings_cache=SimpleKVStore())
    embedding.get_text_embedding_batch(TEXTS[:100])
    before = len(api.requests)
    embedding.get_text_embedding_batch(TEXTS[:300], show_progress=True)
    assert sum(len(record.inputs) for record in api.requests[before:]) == 200
    assert recording_bar.bars[-1].n == 300


def test_no_bar_without_show_progress(api: Emulator, recording_bar: type[RecordingBar]) -> None:
    llama(api).get_text_embedding_batch(TEXTS[:50])
    assert recording_bar.bars == []
