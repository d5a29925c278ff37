"""Our adapters in the tools users put them into: each question finds its passage, and each step
sends what it should, counted at the emulator (tool_scenarios.py says what each step does)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tool_scenarios as scenarios
from tool_scenarios import QDRANT_LOCAL_NOTICE, TOPICS, Sent

from aimlapi_embeddings.testing import Emulator

Adapters = dict[str, Callable[[], Any]]

# Qdrant's local mode says so when LlamaIndex's store asks it for payload indexes.
pytestmark = pytest.mark.filterwarnings(f"ignore:{QDRANT_LOCAL_NOTICE}:UserWarning")


def in_their_frameworks(*chosen: Callable[..., scenarios.Run]) -> pytest.MarkDecorator:
    """Parametrise a test by scenarios, each with the name of its framework."""
    cases = [
        pytest.param(framework, scenario, id=scenario.__name__)
        for framework, registry in (
            ("langchain", scenarios.LANGCHAIN),
            ("llama-index", scenarios.LLAMA_INDEX),
        )
        for scenario in registry.values()
        if scenario in chosen
    ]
    assert len(cases) == len(chosen)
    return pytest.mark.parametrize(("framework", "scenario"), cases)


@pytest.fixture(autouse=True)
def _every_request_keeps_to_the_schema(api: Emulator) -> Iterator[None]:
    yield
    assert api.schema_violations == 0


def test_cache_backed_embeddings_on_a_local_file_store_rerun_sends_nothing(
    adapters: Adapters, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.langchain_cache(adapters["langchain"], api, tmp_path)
    assert run.wrong == []
    assert run.steps == {
        "first run: index 6 passages": Sent(1, 6),
        "first run: ask 3 questions": Sent(3, 3),
        "rerun: index 6 passages": Sent(0, 0),
        "rerun: ask 3 questions": Sent(0, 0),
    }
    # One file a text: the passages' vectors and the questions'.
    assert len([path for path in tmp_path.rglob("*") if path.is_file()]) == 6 + 3


def test_ingestion_pipeline_with_docstore_and_cache_rerun_sends_nothing(
    adapters: Adapters, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.llama_index_pipeline(adapters["llama-index"], api, tmp_path)
    assert run.wrong == []
    assert run.steps == {
        "ingest 6 documents": Sent(1, 6),
        "ask 3 questions": Sent(3, 3),
        "the same documents again": Sent(0, 0),
        "new pipeline, docstore and cache loaded: the same documents": Sent(0, 0),
        "new pipeline, its cache alone: the same documents": Sent(0, 0),
        "one document changed": Sent(1, 1),
    }


@in_their_frameworks(
    scenarios.langchain_faiss,
    scenarios.langchain_chroma,
    scenarios.llama_index_chroma,
    scenarios.llama_index_qdrant,
)
def test_a_store_opened_again_embeds_only_the_questions(
    framework: str,
    scenario: Callable[..., scenarios.Run],
    adapters: Adapters,
    api: Emulator,
    tmp_path: Path,
) -> None:
    run = scenario(adapters[framework], api, tmp_path)
    assert run.wrong == []
    assert run.steps == {
        "index 6 passages": Sent(1, 6),
        "ask 3 questions": Sent(3, 3),
        "reopen": Sent(0, 0),
        "reopened: ask 3 questions": Sent(3, 3),
    }


def test_langchain_qdrant_local_opened_again_embeds_only_the_questions_and_its_probes(
    adapters: Adapters, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.langchain_qdrant(adapters["langchain"], api, tmp_path)
    assert run.wrong == []
    # langchain-qdrant embeds "dummy_text" to learn the width, creating the collection and
    # checking it on opening: whatever the embeddings, one request more each time.
    assert run.steps == {
        "index 6 passages": Sent(2, 7),
        "ask 3 questions": Sent(3, 3),
        "reopen": Sent(1, 1),
        "reopened: ask 3 questions": Sent(3, 3),
    }
    assert [record.inputs for record in api.requests].count(["dummy_text"]) == 2


def test_faiss_from_a_corpus_plans_its_requests(
    adapters: Adapters, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.langchain_faiss_corpus(adapters["langchain"], api, tmp_path)
    assert run.wrong == []
    # No batch size set: one request per slot of max_concurrency (8), every text sent once.
    assert run.steps == {"index 2,000 passages": Sent(8, 2000), "ask 3 questions": Sent(3, 3)}


def test_ingestion_pipeline_over_a_corpus_plans_its_requests(
    adapters: Adapters, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.llama_index_corpus(adapters["llama-index"], api, tmp_path)
    assert run.wrong == []
    # No embed_batch_size set: one request per slot of max_concurrency (8), every text once.
    assert run.steps == {
        "ingest 2,000 documents": Sent(8, 2000),
        "index the nodes": Sent(0, 0),  # the nodes carry their vectors
        "ask 3 questions": Sent(3, 3),
    }


@in_their_frameworks(scenarios.langchain_semantic_chunker, scenarios.llama_index_semantic_splitter)
def test_a_semantic_splitter_cuts_where_the_topic_changes(
    framework: str,
    scenario: Callable[..., scenarios.Run],
    adapters: Adapters,
    api: Emulator,
    tmp_path: Path,
) -> None:
    run = scenario(adapters[framework], api, tmp_path)
    assert [chunk.strip() for chunk in run.chunks] == list(TOPICS.values())
    assert run.wrong == []
    assert run.steps == {
        "split 6 sentences": Sent(1, 6),  # each sentence with its neighbours, in one request
        "index the chunks": Sent(1, 2),
        "ask 2 questions": Sent(2, 2),
    }
