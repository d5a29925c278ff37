"""aimlapi_embeddings.chroma: a registered Chroma embedding function, and a persisted collection
that opens again, in a new process, without the function being passed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import chromadb
import numpy as np
import pytest
from chromadb.utils.embedding_functions import known_embedding_functions
from readme_blocks import Block, blocks, readme_emulator, run_python_block

from aimlapi_embeddings.chroma import AimlapiEmbeddingFunction
from aimlapi_embeddings.testing import Emulator

REPO = Path(__file__).resolve().parents[2]
KEY = "aiml-sk-chroma-3Kd8Lq2Xv7Nw"
PASSAGES = [f"passage {i}: the bridge over river {i % 37} in town {i}" for i in range(500)]


@pytest.fixture
def keyed() -> Iterator[Emulator]:
    with Emulator(api_key=KEY) as emulator:
        yield emulator


@pytest.fixture
def key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)


def test_it_is_registered_as_aimlapi() -> None:
    assert known_embedding_functions["aimlapi"] is AimlapiEmbeddingFunction
    assert AimlapiEmbeddingFunction.name() == "aimlapi"


@pytest.mark.usefixtures("key_in_environment")
def test_a_persisted_collection_opens_again_in_a_new_process_without_the_function(
    keyed: Emulator, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    client = chromadb.PersistentClient(path=str(store))
    function = AimlapiEmbeddingFunction(
        api_base=keyed.base_url, model_name="text-embedding-3-small"
    )
    collection = client.create_collection("passages", embedding_function=function)
    collection.add(ids=[str(i) for i in range(len(PASSAGES))], documents=PASSAGES)
    assert collection.count() == 500
    written = len(keyed.requests)
    assert written >= 1
    function.close()
    del collection, client

    reopen = textwrap.dedent(
        """
        import sys
        import chromadb
        import aimlapi_embeddings.chroma  # registers "aimlapi"

        client = chromadb.PersistentClient(path=sys.argv[1])
        collection = client.get_collection("passages")  # no embedding_function passed
        hits = collection.query(query_texts=["the bridge in town 123"], n_results=1)
        print(hits["documents"][0][0])
        """
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", reopen, str(store)],
        capture_output=True, text=True, timeout=120, env=environment, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == PASSAGES[123]
    assert len(keyed.requests) == written + 1  # the one query, from the new process

    for path in store.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), f"the key is in {path}"


@pytest.mark.usefixtures("key_in_environment")
def test_documents_and_queries_get_their_input_types_and_float32(keyed: Emulator) -> None:
    function = AimlapiEmbeddingFunction(
        api_base=keyed.base_url, model_name="text-multilingual-embedding-002", dimensions=64
    )
    documents = function(["a passage", "another"])
    query = function.embed_query(["a question"])
    assert [vector.dtype for vector in [*documents, *query]] == [np.float32] * 3
    assert [vector.shape for vector in documents] == [(64,), (64,)]
    task_types = [record.parameters.get("task_type") for record in keyed.requests]
    assert task_types == ["RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY"]


@pytest.mark.usefixtures("key_in_environment")
def test_voyage_documents_over_800_characters_each_get_their_vector(
    keyed: Emulator, tmp_path: Path
) -> None:
    long_ones = [f"chapter {i}: " + "the river runs past the mill. " * (30 + i) for i in range(5)]
    client = chromadb.PersistentClient(path=str(tmp_path))
    function = AimlapiEmbeddingFunction(api_base=keyed.base_url, model_name="voyage-large-2")
    collection = client.create_collection("chapters", embedding_function=function)
    collection.add(ids=[str(i) for i in range(5)], documents=long_ones)
    assert keyed.schema_violations == 0
    assert all(record.status == 200 for record in keyed.requests)
    assert collection.query(query_texts=[long_ones[3]], n_results=1)["ids"][0] == ["3"]


def test_the_configuration_names_the_variable_never_the_key(keyed: Emulator) -> None:
    function = AimlapiEmbeddingFunction(
        api_key=KEY, api_base=keyed.base_url, default_headers={"X-Api-Key": KEY, "X-Team": "a"}
    )
    config = function.get_config()
    assert config["api_key_env_var"] == "AIMLAPI_API_KEY"
    assert KEY not in repr(config)
    assert KEY not in repr(function)
    assert config["default_headers"] == {"X-Team": "a"}
    AimlapiEmbeddingFunction.validate_config(config)


def test_changing_the_model_or_the_width_of_a_collection_is_refused() -> None:
    old = {"model_name": "text-embedding-3-small", "dimensions": 256, "api_key_env_var": "K"}
    function = AimlapiEmbeddingFunction.__new__(AimlapiEmbeddingFunction)
    with pytest.raises(ValueError, match="cannot change to 'voyage-2'"):
        function.validate_config_update(old, {"model_name": "voyage-2"})
    with pytest.raises(ValueError, match="dimensions=256"):
        function.validate_config_update(old, {"dimensions": 512})
    function.validate_config_update(old, {"max_retries": 2})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"api_key_env_var": "K"}, "needs 'model_name'"),
        ({"model_name": "m", "api_key_env_var": "K", "api_key": "x"}, "has no 'api_key'"),
        ({"model_name": "m", "api_key_env_var": "K", "dimensions": "8"}, "dimensions must be int"),
        ({"model_name": "m", "api_key_env_var": "K", "max_retries": True}, "max_retries must be"),
    ],
)
def test_a_bad_stored_configuration_says_what_is_wrong(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AimlapiEmbeddingFunction.validate_config(config)


def test_no_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(ValueError, match="set the MY_KEY environment variable"):
        AimlapiEmbeddingFunction(api_key_env_var="MY_KEY")


CHROMA_BLOCKS = [block for block in blocks("python") if "chroma" in block.extras]


def test_the_readme_has_a_chroma_block() -> None:
    assert CHROMA_BLOCKS  # else the test below would pass on nothing


@pytest.mark.parametrize("block", CHROMA_BLOCKS, ids=str)
def test_the_readme_chroma_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    with readme_emulator(bin_dir) as served:
        finished = run_python_block(block, bin_dir / "python", served, tmp_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert finished.stdout.strip() == "[['eiffel']]"


def test_the_example_runs_on_the_emulator_and_reopens_the_collection(tmp_path: Path) -> None:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("AIMLAPI_")
    }
    finished = subprocess.run(
        [sys.executable, "-W", "error", str(REPO / "examples" / "chroma_store.py"), str(tmp_path)],
        capture_output=True, text=True, env=environment, timeout=120, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    assert "using the bundled loopback emulator" in finished.stdout
    assert "'api_key_env_var': 'AIMLAPI_API_KEY'" in finished.stdout
    for answer in ("eiffel", "photosynthesis", "vector-db"):
        assert f"A: [{answer}]" in finished.stdout


def test_a_key_passed_directly_works_without_the_variable_and_without_warnings(
    keyed: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIMLAPI_API_KEY", raising=False)
    function = AimlapiEmbeddingFunction(api_key=KEY, api_base=keyed.base_url)
    client = chromadb.PersistentClient(path=str(tmp_path))
    collection = client.create_collection("passages", embedding_function=function)
    collection.add(ids=["0", "1"], documents=PASSAGES[:2])  # filterwarnings=error: none raised
    collection = client.get_collection("passages", embedding_function=function)
    assert collection.query(query_texts=[PASSAGES[1]], n_results=1)["ids"] == [["1"]]


@pytest.mark.usefixtures("key_in_environment")
def test_functions_built_from_one_configuration_share_one_client(keyed: Emulator) -> None:
    config = AimlapiEmbeddingFunction(api_base=keyed.base_url).get_config()
    first = AimlapiEmbeddingFunction.build_from_config(config)
    again = AimlapiEmbeddingFunction.build_from_config(config)  # Chroma does this per query
    assert first._core() is again._core()
    other = AimlapiEmbeddingFunction.build_from_config({**config, "max_retries": 1})
    assert other._core() is not first._core()
