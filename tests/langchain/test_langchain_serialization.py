"""LangChain dumpd/loads, pickle and deepcopy: configuration travels, the key never does in text."""

from __future__ import annotations

import copy
import json
import pickle
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core._api.beta_decorator import LangChainBetaWarning
from langchain_core.load import dumpd, dumps, loads
from pydantic import SecretStr, ValidationError

from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings

MakeEmbeddings = Callable[..., AimlapiEmbeddings]
Closing = Callable[[AimlapiEmbeddings], AimlapiEmbeddings]


@pytest.fixture(autouse=True)
def _loads_is_beta() -> Iterator[None]:
    # langchain_core.load.loads warns on every call that it is beta; that is not under test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LangChainBetaWarning)
        yield


def revive(text: str, **options: Any) -> AimlapiEmbeddings:
    revived = loads(
        text,
        allowed_objects=[AimlapiEmbeddings],
        valid_namespaces=["langchain_aimlapi"],
        **options,
    )
    assert isinstance(revived, AimlapiEmbeddings)
    return revived


def configured(make_embeddings: MakeEmbeddings) -> AimlapiEmbeddings:
    return make_embeddings(
        model="text-embedding-004",
        dimensions=128,
        batch_size=16,
        max_concurrency=2,
        max_retries=1,
        timeout=9.0,
        default_headers={"X-Team": "search"},
        model_kwargs={"auto_truncate": False},
        long_text="truncate",
    )


CONFIG_FIELDS = (
    "model",
    "base_url",
    "dimensions",
    "batch_size",
    "max_concurrency",
    "max_retries",
    "timeout",
    "default_headers",
    "model_kwargs",
    "long_text",
    "show_progress_bar",
    "allow_insecure_http",
)


def assert_same_configuration(left: AimlapiEmbeddings, right: AimlapiEmbeddings) -> None:
    for name in CONFIG_FIELDS:
        assert getattr(left, name) == getattr(right, name), name


def test_is_serializable_with_a_stable_id() -> None:
    assert AimlapiEmbeddings.is_lc_serializable()
    assert AimlapiEmbeddings.lc_id() == ["langchain_aimlapi", "AimlapiEmbeddings"]
    assert AimlapiEmbeddings(api_key="sk-x-test-key").lc_secrets == {
        "aimlapi_api_key": "AIMLAPI_API_KEY"
    }


def test_dump_holds_a_secret_reference_not_the_key(make_embeddings: MakeEmbeddings) -> None:
    embeddings = configured(make_embeddings)
    key = embeddings.aimlapi_api_key.get_secret_value()  # type: ignore[union-attr]
    dumped = dumpd(embeddings)
    assert dumped["id"] == ["langchain_aimlapi", "AimlapiEmbeddings"]
    assert dumped["kwargs"]["aimlapi_api_key"] == {
        "lc": 1,
        "type": "secret",
        "id": ["AIMLAPI_API_KEY"],
    }
    assert dumped["kwargs"]["model"] == "text-embedding-004"
    assert dumped["kwargs"]["dimensions"] == 128
    assert key not in json.dumps(dumped)
    assert key not in dumps(embeddings)
    assert key not in dumps(embeddings, pretty=True)


def test_round_trip_with_a_secrets_map(
    make_embeddings: MakeEmbeddings, emulator: Emulator, closing: Closing
) -> None:
    embeddings = configured(make_embeddings)
    revived = closing(revive(dumps(embeddings), secrets_map={"AIMLAPI_API_KEY": emulator.api_key}))
    assert_same_configuration(revived, embeddings)
    assert revived.aimlapi_api_key == SecretStr(emulator.api_key)
    assert revived.embed_documents(["a", "b"]) == embeddings.embed_documents(["a", "b"])


def test_round_trip_with_the_key_from_the_environment(
    make_embeddings: MakeEmbeddings,
    emulator: Emulator,
    closing: Closing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = dumps(configured(make_embeddings))
    monkeypatch.setenv("AIMLAPI_API_KEY", emulator.api_key)
    by_loads = closing(revive(text, secrets_from_env=True))
    # Without secrets_from_env, loads passes api_key=None, which falls back to the variable too.
    by_default = closing(revive(text))
    for revived in (by_loads, by_default):
        assert revived.aimlapi_api_key == SecretStr(emulator.api_key)
        assert len(revived.embed_query("hello")) == 128


def test_loading_without_any_key_names_the_variable(make_embeddings: MakeEmbeddings) -> None:
    text = dumps(configured(make_embeddings))
    with pytest.raises(ValidationError, match="AIMLAPI_API_KEY"):
        revive(text)


@pytest.mark.parametrize("duplicate", ["pickle", "deepcopy", "copy"])
def test_copies_keep_the_configuration_and_embed(
    make_embeddings: MakeEmbeddings, closing: Closing, duplicate: str
) -> None:
    embeddings = configured(make_embeddings)
    expected = embeddings.embed_documents(["one", "two"])  # opens pools that must not travel
    if duplicate == "pickle":
        twin = pickle.loads(pickle.dumps(embeddings))
    elif duplicate == "deepcopy":
        twin = copy.deepcopy(embeddings)
    else:
        twin = copy.copy(embeddings)
    closing(twin)
    assert_same_configuration(twin, embeddings)
    assert twin.aimlapi_api_key == embeddings.aimlapi_api_key
    assert twin.embed_documents(["one", "two"]) == expected
    assert embeddings.embed_documents(["one", "two"]) == expected


async def test_a_copy_embeds_async(make_embeddings: MakeEmbeddings, closing: Closing) -> None:
    embeddings = configured(make_embeddings)
    expected = await embeddings.aembed_documents(["one", "two"])
    twin = closing(pickle.loads(pickle.dumps(embeddings)))
    assert await twin.aembed_documents(["one", "two"]) == expected
