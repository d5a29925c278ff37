"""Our LlamaIndex adapter in the tools users put it into: each question finds its passage, and
each step sends what it should, counted at the emulator (tool_scenarios.py says what each does)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import tool_scenarios as scenarios
from tool_scenarios import QDRANT_LOCAL_NOTICE, TOPICS, Sent

from aimlapi_embeddings.testing import Emulator
from llama_index_aimlapi import AimlapiEmbedding

pytestmark = pytest.mark.filterwarnings(f"ignore:{QDRANT_LOCAL_NOTICE}:UserWarning")

Make = Callable[[], AimlapiEmbedding]


def test_ingestion_pipeline_with_docstore_and_cache_rerun_sends_nothing(
    make_llama_index: Make, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.llama_index_pipeline(make_llama_index, api, tmp_path)
    assert run.wrong == []
    assert run.steps == {
        "ingest 6 documents": Sent(1, 6),
        "ask 3 questions": Sent(3, 3),
        "the same documents again": Sent(0, 0),
        "new pipeline, docstore and cache loaded: the same documents": Sent(0, 0),
        "new pipeline, its cache alone: the same documents": Sent(0, 0),
        "one document changed": Sent(1, 1),
    }
    assert api.schema_violations == 0


def test_ingestion_pipeline_over_a_corpus_plans_its_requests(
    make_llama_index: Make, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.llama_index_corpus(make_llama_index, api, tmp_path)
    assert run.wrong == []
    # No embed_batch_size set: one request per slot of max_concurrency (8), every text once.
    assert run.steps == {
        "ingest 2,000 documents": Sent(8, 2000),
        "index the nodes": Sent(0, 0),  # the nodes carry their vectors
        "ask 3 questions": Sent(3, 3),
    }
    assert api.schema_violations == 0


def test_chroma_vector_store_persistent_reopened_embeds_only_the_questions(
    make_llama_index: Make, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.llama_index_chroma(make_llama_index, api, tmp_path)
    assert run.wrong == []
    assert run.steps == {
        "index 6 documents": Sent(1, 6),
        "ask 3 questions": Sent(3, 3),
        "reopen": Sent(0, 0),
        "reopened: ask 3 questions": Sent(3, 3),
    }
    assert api.schema_violations == 0


def test_qdrant_vector_store_local_reopened_embeds_only_the_questions(
    make_llama_index: Make, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.llama_index_qdrant(make_llama_index, api, tmp_path)
    assert run.wrong == []
    assert run.steps == {
        "index 6 documents": Sent(1, 6),
        "ask 3 questions": Sent(3, 3),
        "reopen": Sent(0, 0),
        "reopened: ask 3 questions": Sent(3, 3),
    }
    assert api.schema_violations == 0


def test_semantic_splitter_cuts_where_the_topic_changes(
    make_llama_index: Make, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.llama_index_semantic_splitter(make_llama_index, api, tmp_path)
    assert [chunk.strip() for chunk in run.chunks] == list(TOPICS.values())
    assert run.wrong == []
    assert run.steps == {
        "split 6 sentences": Sent(1, 6),  # each sentence with its neighbours, in one request
        "index the chunks": Sent(1, 2),
        "ask 2 questions": Sent(2, 2),
    }
    assert api.schema_violations == 0
