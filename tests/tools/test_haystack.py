"""Haystack: AimlapiTextEmbedder and AimlapiDocumentEmbedder against the emulator, alone and in
indexing and query pipelines (InMemoryDocumentStore, DocumentWriter, InMemoryEmbeddingRetriever),
sync and async, serialised and loaded again without the key."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from haystack import Document, Pipeline
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.utils import Secret
from haystack_integrations.components.embedders.aimlapi import (
    AimlapiDocumentEmbedder,
    AimlapiTextEmbedder,
)
from readme_blocks import Block, blocks, readme_emulator, run_python_block

from aimlapi_embeddings import AuthenticationError, EmbeddingsClient
from aimlapi_embeddings.testing import Emulator

REPO = Path(__file__).resolve().parents[2]
KEY = "aiml-sk-haystack-9Qw2Er7Ty4Ui"
PASSAGES = {
    "eiffel": "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "photosynthesis": "Photosynthesis turns sunlight, water and carbon dioxide into glucose.",
    "everest": "Mount Everest is Earth's highest mountain above sea level.",
    "reef": "The Great Barrier Reef off Australia is the largest coral reef system.",
}
QUESTIONS = {
    "eiffel": "Which tower stands in Paris?",
    "photosynthesis": "How do plants make glucose from sunlight?",
    "everest": "Which mountain is the highest above sea level?",
}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator with our key, which the components read from AIMLAPI_API_KEY."""
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    with Emulator(api_key=KEY) as emulator:
        yield emulator


def documents() -> list[Document]:
    return [Document(content=text, meta={"name": name}) for name, text in PASSAGES.items()]


def core_vectors(api: Emulator, texts: list[str], **options: object) -> list[list[float]]:
    """What the core client gives for `texts`: the vectors the components must return."""
    with EmbeddingsClient(api_key=KEY, base_url=api.base_url) as client:
        return client.embed(texts, **options).vectors  # type: ignore[arg-type]


def test_the_text_embedder_gives_the_query_vector_with_model_and_usage(api: Emulator) -> None:
    embedder = AimlapiTextEmbedder(api_base_url=api.base_url, prefix="q: ", suffix=" ?")
    result = embedder.run("a question")
    assert result["embedding"] == core_vectors(api, ["q: a question ?"], input_type="query")[0]
    assert result["meta"]["model"] == "text-embedding-3-small"
    assert result["meta"]["usage"]["prompt_tokens"] > 0
    assert api.requests[0].inputs == ["q: a question ?"]
    with pytest.raises(TypeError, match="use AimlapiDocumentEmbedder"):
        embedder.run(documents())  # type: ignore[arg-type]


def test_the_document_embedder_returns_copies_with_each_document_s_vector(api: Emulator) -> None:
    given = documents()
    originals = [replace(document) for document in given]
    embedder = AimlapiDocumentEmbedder(
        api_base_url=api.base_url,
        meta_fields_to_embed=["name"],
        embedding_separator=" | ",
        progress_bar=False,
    )
    result = embedder.run(given)
    texts = [f"{name} | {text}" for name, text in PASSAGES.items()]
    assert [document.embedding for document in result["documents"]] == core_vectors(api, texts)
    assert [document.id for document in result["documents"]] == [d.id for d in given]
    assert given == originals  # not mutated: no embedding was set on the caller's documents
    assert all(document.embedding is None for document in given)
    assert result["meta"]["usage"]["total_tokens"] > 0
    with pytest.raises(TypeError, match="use AimlapiTextEmbedder"):
        embedder.run("a string")  # type: ignore[arg-type]


def test_documents_with_no_content_are_embedded_as_the_empty_string(api: Emulator) -> None:
    embedder = AimlapiDocumentEmbedder(api_base_url=api.base_url, progress_bar=False)
    result = embedder.run([Document(content=None), Document(content=""), Document(content="x")])
    vectors = [document.embedding for document in result["documents"]]
    assert vectors == core_vectors(api, ["", "", "x"])
    assert embedder.run([])["documents"] == []


def test_documents_and_queries_get_their_input_types(api: Emulator) -> None:
    model = {"model": "text-multilingual-embedding-002", "dimensions": 64}
    AimlapiDocumentEmbedder(api_base_url=api.base_url, progress_bar=False, **model).run(documents())
    vector = AimlapiTextEmbedder(api_base_url=api.base_url, **model).run("a question")["embedding"]
    assert len(vector) == 64
    task_types = [record.parameters.get("task_type") for record in api.requests]
    assert task_types == ["RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY"]


def test_batch_size_caps_the_texts_of_each_request(api: Emulator) -> None:
    many = [Document(content=f"passage {i} about bridges") for i in range(10)]
    embedder = AimlapiDocumentEmbedder(api_base_url=api.base_url, batch_size=3, progress_bar=False)
    result = embedder.run(many)
    assert sorted(len(record.inputs) for record in api.requests) == [1, 3, 3, 3]
    expected = core_vectors(api, [document.content or "" for document in many])
    assert [document.embedding for document in result["documents"]] == expected


def test_voyage_documents_over_800_characters_each_get_their_vector(api: Emulator) -> None:
    chapters = [
        Document(content=f"chapter {i}: " + "the river runs past the mill. " * (30 + i))
        for i in range(5)
    ]
    embedder = AimlapiDocumentEmbedder(
        api_base_url=api.base_url, model="voyage-large-2", progress_bar=False
    )
    result = embedder.run(chapters)
    assert all(len(document.content or "") > 800 for document in chapters)
    assert api.schema_violations == 0
    assert all(record.status == 200 for record in api.requests)
    expected = core_vectors(
        api, [document.content or "" for document in chapters], model="voyage-large-2"
    )
    assert [document.embedding for document in result["documents"]] == expected


def test_a_refused_request_leaves_its_documents_without_embedding_and_logs_them(
    api: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    many = [Document(content=f"passage {i}") for i in range(6)]
    # One request at a time, two texts each: the first request is the one refused.
    embedder = AimlapiDocumentEmbedder(
        api_base_url=api.base_url, batch_size=2, max_concurrency=1, progress_bar=False
    )
    api.fail_next(400, message="Body validation error!")
    with caplog.at_level(logging.ERROR):
        result = embedder.run(many)
    vectors = [document.embedding for document in result["documents"]]
    assert vectors[:2] == [None, None]
    assert vectors[2:] == core_vectors(api, [f"passage {i}" for i in range(2, 6)])
    assert many[0].id in caplog.text
    assert many[1].id in caplog.text
    assert many[2].id not in caplog.text


def test_a_failure_naming_no_document_leaves_every_document_without_embedding(
    api: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = AimlapiDocumentEmbedder(api_base_url=api.base_url, progress_bar=False)
    api.fail_next(401, count=100)
    with caplog.at_level(logging.ERROR):
        result = embedder.run(documents())
    assert [document.embedding for document in result["documents"]] == [None] * len(PASSAGES)
    assert KEY not in caplog.text
    assert len(api.requests) == 1  # not tried again and again


def test_raise_on_failure_raises_the_error(api: Emulator) -> None:
    embedder = AimlapiDocumentEmbedder(
        api_base_url=api.base_url, raise_on_failure=True, progress_bar=False
    )
    api.fail_next(401)
    with pytest.raises(AuthenticationError):
        embedder.run(documents())


def indexing_pipeline(store: InMemoryDocumentStore, base_url: str) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component(
        "embedder", AimlapiDocumentEmbedder(api_base_url=base_url, progress_bar=False)
    )
    pipeline.add_component("writer", DocumentWriter(document_store=store))
    pipeline.connect("embedder.documents", "writer.documents")
    return pipeline


def query_pipeline(store: InMemoryDocumentStore, base_url: str) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("embedder", AimlapiTextEmbedder(api_base_url=base_url))
    pipeline.add_component("retriever", InMemoryEmbeddingRetriever(document_store=store, top_k=1))
    pipeline.connect("embedder.embedding", "retriever.query_embedding")
    return pipeline


def test_indexing_and_query_pipelines_retrieve_the_right_passage(api: Emulator) -> None:
    store = InMemoryDocumentStore()
    written = indexing_pipeline(store, api.base_url).run({"embedder": {"documents": documents()}})
    assert written["writer"]["documents_written"] == len(PASSAGES)
    query = query_pipeline(store, api.base_url)
    for name, question in QUESTIONS.items():
        (best,) = query.run({"embedder": {"text": question}})["retriever"]["documents"]
        assert best.meta["name"] == name


async def test_async_pipelines_retrieve_the_right_passage(api: Emulator) -> None:
    store = InMemoryDocumentStore()
    # Haystack 3's Pipeline runs async itself (AsyncPipeline was folded into it): run_async
    # awaits each component's run_async.
    await indexing_pipeline(store, api.base_url).run_async({"embedder": {"documents": documents()}})
    assert store.count_documents() == len(PASSAGES)
    query = query_pipeline(store, api.base_url)
    for name, question in QUESTIONS.items():
        result = await query.run_async({"embedder": {"text": question}})
        assert result["retriever"]["documents"][0].meta["name"] == name


async def test_run_async_gives_what_run_gives(api: Emulator) -> None:
    text = AimlapiTextEmbedder(api_base_url=api.base_url)
    assert (await text.run_async("a question"))["embedding"] == text.run("a question")["embedding"]
    embedder = AimlapiDocumentEmbedder(api_base_url=api.base_url, progress_bar=False)
    given = documents()
    embedded = (await embedder.run_async(given))["documents"]
    assert embedded == embedder.run(given)["documents"]
    assert all(document.embedding is None for document in given)
    await embedder.close_async()
    embedder.close()


def test_to_dict_and_from_dict_round_trip_without_the_key(api: Emulator) -> None:
    embedder = AimlapiDocumentEmbedder(
        api_base_url=api.base_url,
        model="voyage-large-2",
        batch_size=16,
        meta_fields_to_embed=["name"],
        http_client_kwargs={"headers": {"X-Api-Key": KEY, "X-Team": "search"}},
        max_concurrency=3,
        over_item_limit="split",
        raise_on_failure=True,
    )
    data = embedder.to_dict()
    assert KEY not in repr(data)
    assert data["init_parameters"]["api_key"] == {
        "type": "env_var",
        "env_vars": ["AIMLAPI_API_KEY"],
        "strict": True,
    }
    assert data["init_parameters"]["http_client_kwargs"] == {"headers": {"X-Team": "search"}}
    again = AimlapiDocumentEmbedder.from_dict(data)
    assert again.to_dict() == data
    assert (again.model, again.batch_size, again.max_concurrency) == ("voyage-large-2", 16, 3)
    text = AimlapiTextEmbedder(api_base_url=api.base_url, dimensions=256)
    assert AimlapiTextEmbedder.from_dict(text.to_dict()).to_dict() == text.to_dict()
    with pytest.raises(ValueError, match="Cannot serialize token-based secret"):
        AimlapiTextEmbedder(api_key=Secret.from_token(KEY)).to_dict()


def test_pipelines_dump_and_load_as_yaml_without_the_key(api: Emulator) -> None:
    store = InMemoryDocumentStore()
    indexing = indexing_pipeline(store, api.base_url)
    query = query_pipeline(store, api.base_url)
    for pipeline in (indexing, query):
        dumped = pipeline.dumps()
        assert KEY not in dumped
        assert "AIMLAPI_API_KEY" in dumped
        assert Pipeline.loads(dumped).dumps() == dumped
    loaded = Pipeline.loads(indexing.dumps())
    result = loaded.run({"embedder": {"documents": documents()}})
    assert result["writer"]["documents_written"] == len(PASSAGES)


def test_bad_configuration_is_refused_before_any_request(api: Emulator) -> None:
    cases: list[tuple[dict[str, object], type[Exception], str]] = [
        ({"model": ""}, ValueError, "model must be a model id"),
        ({"dimensions": True}, TypeError, "dimensions must be an int"),
        ({"timeout": -1}, ValueError, "timeout must be a positive number"),
        ({"max_concurrency": 0}, ValueError, "max_concurrency must be >= 1"),
        ({"long_text": "drop"}, ValueError, "long_text must be one of"),
        ({"http_client_kwargs": {"proxy": "http://p"}}, ValueError, "only 'headers'"),
        ({"api_base_url": "http://example.com/v1"}, ValueError, "plain http"),
        ({"api_key": KEY}, TypeError, "haystack.utils.Secret"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"progress_bar": "no"}, TypeError, "progress_bar must be True or False"),
    ]
    for arguments, error, message in cases:
        with pytest.raises(error, match=message):
            AimlapiDocumentEmbedder(**arguments)  # type: ignore[arg-type]
    assert KEY not in repr(AimlapiTextEmbedder(api_base_url=api.base_url).to_dict())
    assert api.requests == []


HAYSTACK_BLOCKS = [block for block in blocks("python") if "haystack" in block.extras]


def test_the_readme_has_a_haystack_block() -> None:
    assert HAYSTACK_BLOCKS  # else the test below would pass on nothing


@pytest.mark.parametrize("block", HAYSTACK_BLOCKS, ids=str)
def test_the_readme_haystack_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    with readme_emulator(bin_dir) as served:
        finished = run_python_block(block, bin_dir / "python", served, tmp_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert finished.stdout.strip() == "Paris has the Eiffel Tower"


def test_the_example_runs_on_the_emulator_and_reloads_the_pipeline() -> None:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("AIMLAPI_")
    }
    finished = subprocess.run(
        [sys.executable, "-W", "error", str(REPO / "examples" / "haystack_rag.py")],
        capture_output=True, text=True, env=environment, timeout=120, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    assert "using the bundled loopback emulator" in finished.stdout
    for answer in ("eiffel", "photosynthesis", "vector-db"):
        assert f"A: [{answer}]" in finished.stdout
    assert "names AIMLAPI_API_KEY: True; holds the key: False." in finished.stdout
    assert "Loaded again, it answers [eiffel]." in finished.stdout
