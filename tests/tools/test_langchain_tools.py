"""Our LangChain adapter in the tools users put it into: each question finds its passage, and
each step sends what it should, counted at the emulator (tool_scenarios.py says what each does)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import tool_scenarios as scenarios
from tool_scenarios import TOPICS, Sent

from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings

Make = Callable[[], AimlapiEmbeddings]


def test_cache_backed_embeddings_on_a_local_file_store_rerun_sends_nothing(
    make_langchain: Make, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.langchain_cache(make_langchain, api, tmp_path)
    assert run.wrong == []
    assert run.steps == {
        "first run: index 6 passages": Sent(1, 6),
        "first run: ask 3 questions": Sent(3, 3),
        "rerun: index 6 passages": Sent(0, 0),
        "rerun: ask 3 questions": Sent(0, 0),
    }
    # One file a text: the passages' vectors and the questions'.
    assert len([path for path in tmp_path.rglob("*") if path.is_file()]) == 6 + 3
    assert api.schema_violations == 0


def test_faiss_saved_and_loaded_embeds_only_the_questions(
    make_langchain: Make, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.langchain_faiss(make_langchain, api, tmp_path)
    assert run.wrong == []
    assert run.steps == {
        "index 6 passages": Sent(1, 6),
        "ask 3 questions": Sent(3, 3),
        "save, load": Sent(0, 0),
        "loaded: ask 3 questions": Sent(3, 3),
    }
    assert api.schema_violations == 0


def test_faiss_from_a_corpus_plans_its_requests(
    make_langchain: Make, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.langchain_faiss_corpus(make_langchain, api, tmp_path)
    assert run.wrong == []
    # No batch size set: one request per slot of max_concurrency (8), every text sent once.
    assert run.steps == {"index 2,000 passages": Sent(8, 2000), "ask 3 questions": Sent(3, 3)}
    assert api.schema_violations == 0


def test_chroma_persistent_reopened_embeds_only_the_questions(
    make_langchain: Make, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.langchain_chroma(make_langchain, api, tmp_path)
    assert run.wrong == []
    assert run.steps == {
        "index 6 passages": Sent(1, 6),
        "ask 3 questions": Sent(3, 3),
        "reopen": Sent(0, 0),
        "reopened: ask 3 questions": Sent(3, 3),
    }
    assert api.schema_violations == 0


def test_qdrant_local_reopened_embeds_only_the_questions(
    make_langchain: Make, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.langchain_qdrant(make_langchain, api, tmp_path)
    assert run.wrong == []
    # langchain-qdrant embeds "dummy_text" to learn the width, creating the collection and
    # checking it on opening: whatever the embeddings, one request more each time.
    assert run.steps == {
        "index 6 passages": Sent(2, 7),
        "ask 3 questions": Sent(3, 3),
        "reopen": Sent(1, 1),
        "reopened: ask 3 questions": Sent(3, 3),
    }
    probes = [record.inputs for record in api.requests if record.inputs == ["dummy_text"]]
    assert len(probes) == 2
    assert api.schema_violations == 0


def test_semantic_chunker_cuts_where_the_topic_changes(
    make_langchain: Make, api: Emulator, tmp_path: Path
) -> None:
    run = scenarios.langchain_semantic_chunker(make_langchain, api, tmp_path)
    assert run.chunks == list(TOPICS.values())
    assert run.wrong == []
    assert run.steps == {
        "split 6 sentences": Sent(1, 6),  # each sentence with its neighbours, in one request
        "index the chunks": Sent(1, 2),
        "ask 2 questions": Sent(2, 2),
    }
    assert api.schema_violations == 0
