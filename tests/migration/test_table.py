"""The migration table: it covers every argument of the OpenAI classes, and each adapter does what
it says for each one (maps, ignores with one warning, or refuses naming what to use instead)."""

from __future__ import annotations

import inspect
import re
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_openai import OpenAIEmbeddings
from llama_index.embeddings.openai import OpenAIEmbedding
from pydantic import SecretStr

from aimlapi_embeddings import (
    APIConnectionError,
    IgnoredArgumentWarning,
    NotFoundError,
    UnknownModelWarning,
)
from aimlapi_embeddings._migration import LANGCHAIN, LLAMA_INDEX, Peer, PeerArgument, markdown
from aimlapi_embeddings.models import nearest_model_ids
from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings
from llama_index_aimlapi import AimlapiEmbedding

README = Path(__file__).resolve().parents[2] / "README.md"
KEY = "sk-migration-test-key-0123456789"
BASE_URL = "http://127.0.0.1:9/v1"


def langchain_peer_arguments() -> set[str]:
    names: set[str] = set()
    for name, field in OpenAIEmbeddings.model_fields.items():
        names.add(name)
        if field.alias:
            names.add(field.alias)
    return names


def llama_index_peer_arguments() -> set[str]:
    parameters = inspect.signature(OpenAIEmbedding.__init__).parameters
    named = {name for name, p in parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD}
    # model_name: OpenAIEmbedding.__init__ reads it from **kwargs; the fields come from pydantic.
    return (named - {"self"}) | set(OpenAIEmbedding.model_fields) | {"model_name"}


@pytest.mark.parametrize(
    ("peer", "arguments"),
    [(LANGCHAIN, langchain_peer_arguments()), (LLAMA_INDEX, llama_index_peer_arguments())],
    ids=["langchain", "llama-index"],
)
def test_the_table_names_every_argument_of_the_peer_and_nothing_else(
    peer: Peer, arguments: set[str]
) -> None:
    rows = [row.name for row in peer.arguments]
    assert len(rows) == len(set(rows)), "a row twice"
    assert set(rows) - arguments == set(), "rows for arguments the peer does not take"
    assert arguments - set(rows) == set(), "peer arguments the table does not answer"


@pytest.mark.parametrize("key", ["langchain", "llama-index"])
def test_the_readme_tables_are_generated_from_the_table(key: str) -> None:
    peer = {"langchain": LANGCHAIN, "llama-index": LLAMA_INDEX}[key]
    found = re.search(
        rf"<!-- migration:{key}:start -->\n(.*?)<!-- migration:{key}:end -->",
        README.read_text(encoding="utf-8"),
        re.DOTALL,
    )
    assert found, f"README lacks the migration:{key} markers"
    # To regenerate: print(aimlapi_embeddings._migration.readme_tables())
    assert found.group(1) == markdown(peer)


# A value each of our arguments takes, for the rows that map onto it.
SAMPLES: dict[str, Any] = {
    "model": "text-embedding-3-large",
    "model_name": "text-embedding-3-large",
    "dimensions": 256,
    "api_key": "sk-another-key-abcdefghijklmnop",
    "base_url": "http://127.0.0.1:8/v1",
    "api_base": "http://127.0.0.1:8/v1",
    "batch_size": 100,
    "embed_batch_size": 100,
    "timeout": 12.5,
    "max_retries": 7,
    "show_progress_bar": True,
    "model_kwargs": {"user": "team-search"},
    "additional_kwargs": {"user": "team-search"},
    "default_headers": {"X-Team": "search"},
    "num_workers": 3,
}


def make(peer: Peer, **arguments: Any) -> Any:
    # The key and the URL under our names, unless the case gives them under the peer's.
    if peer is LANGCHAIN:
        given = {
            LANGCHAIN.argument(name).target() for name in arguments if LANGCHAIN.argument(name)
        }  # type: ignore[union-attr]
        defaults = {"api_key": KEY, "base_url": BASE_URL}
        return AimlapiEmbeddings(
            **{k: v for k, v in defaults.items() if k not in given}, **arguments
        )
    return AimlapiEmbedding(**{"api_key": KEY, "api_base": BASE_URL, **arguments})


def settings(embeddings: Any) -> dict[str, Any]:
    """What an adapter object will use, key included (compared, never printed)."""
    if isinstance(embeddings, AimlapiEmbeddings):
        return embeddings.model_dump()
    return {**embeddings.to_dict(), "api_key": embeddings.api_key}


def rows(peer: Peer, effect: str) -> list[tuple[Peer, PeerArgument]]:
    return [(peer, row) for row in peer.arguments if row.effect == effect]


def row_id(case: tuple[Peer, PeerArgument]) -> str:
    return f"{'langchain' if case[0] is LANGCHAIN else 'llama-index'}-{case[1].name}"


MAPPED = rows(LANGCHAIN, "maps") + rows(LLAMA_INDEX, "maps")
IGNORED = rows(LANGCHAIN, "ignored") + rows(LLAMA_INDEX, "ignored")
REFUSED = rows(LANGCHAIN, "refused") + rows(LLAMA_INDEX, "refused")


@pytest.mark.parametrize("case", [c for c in MAPPED if c[1].target() in SAMPLES], ids=row_id)
def test_a_mapped_argument_means_what_our_name_means(case: tuple[Peer, PeerArgument]) -> None:
    peer, row = case
    value = SAMPLES[row.target()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a mapped argument never warns
        by_peer_name = make(peer, **{row.name: value})
    assert settings(by_peer_name) == settings(make(peer, **{row.target(): value}))
    assert settings(by_peer_name) != settings(make(peer)), f"{row.name} changed nothing"


@pytest.mark.parametrize("case", IGNORED, ids=row_id)
def test_an_ignored_argument_warns_why_and_changes_nothing(case: tuple[Peer, PeerArgument]) -> None:
    peer, row = case
    with pytest.warns(IgnoredArgumentWarning) as caught:
        embeddings = make(peer, **{row.name: "some value"})
    assert len(caught) == 1
    message = str(caught[0].message)
    assert f"{row.name}=" in message
    assert row.why in message
    assert caught[0].filename == __file__, "the warning points at the caller's line"
    assert settings(embeddings) == settings(make(peer))


@pytest.mark.parametrize("case", REFUSED, ids=row_id)
def test_a_refused_argument_says_what_to_use_instead(case: tuple[Peer, PeerArgument]) -> None:
    peer, row = case
    with pytest.raises(TypeError) as caught:
        make(peer, **{row.name: httpx.Client()})
    message = str(caught.value)
    assert f"does not take {row.name}=" in message
    assert row.why in message
    assert "Extra inputs are not permitted" not in message


@pytest.mark.parametrize("peer", [LANGCHAIN, LLAMA_INDEX], ids=["langchain", "llama-index"])
def test_several_ignored_arguments_make_one_warning_per_object(peer: Peer) -> None:
    names = [row.name for _, row in rows(peer, "ignored")]
    with pytest.warns(IgnoredArgumentWarning) as caught:
        make(peer, **dict.fromkeys(names, True))
    assert len(caught) == 1
    assert all(f"{name}=" in str(caught[0].message) for name in names)


def test_a_key_under_the_openai_name_is_a_secret_from_the_start() -> None:
    embeddings = AimlapiEmbeddings(openai_api_key=KEY, openai_api_base=BASE_URL)
    assert isinstance(embeddings.aimlapi_api_key, SecretStr)
    assert embeddings.aimlapi_api_key.get_secret_value() == KEY
    assert KEY not in repr(embeddings)
    assert KEY not in str(embeddings.to_json())


def test_a_peer_name_and_ours_with_different_values_is_an_error() -> None:
    with pytest.raises(ValueError, match="chunk_size= and batch_size= give two values"):
        AimlapiEmbeddings(api_key=KEY, base_url=BASE_URL, chunk_size=10, batch_size=20)
    same = AimlapiEmbeddings(api_key=KEY, base_url=BASE_URL, chunk_size=10, batch_size=10)
    assert same.batch_size == 10


@pytest.mark.parametrize(
    ("peer_name", "our_name", "value", "other"),
    [
        ("openai_api_key", "aimlapi_api_key", KEY, KEY + "-other"),
        ("openai_api_base", "aimlapi_api_base", BASE_URL, BASE_URL + "/other"),
    ],
)
def test_a_peer_name_and_any_of_our_names_for_the_field_are_one_argument(
    peer_name: str, our_name: str, value: str, other: str
) -> None:
    """Our field's other name (aimlapi_api_key for api_key) counts as ours: the same value twice
    is taken, two values are refused by name, never pydantic's "Extra inputs"."""
    options = {"api_key": KEY, "base_url": BASE_URL}
    options.pop("api_key" if "key" in our_name else "base_url")
    same = AimlapiEmbeddings(**options, **{peer_name: value, our_name: value})
    client = same._client
    assert client.base_url == BASE_URL
    with pytest.raises(ValueError, match=f"{peer_name}= and {our_name}= give two values") as info:
        AimlapiEmbeddings(**options, **{peer_name: value, our_name: other})
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    ("typed", "nearest"),
    [
        ("text-embeding-3-small", "text-embedding-3-small"),
        ("openai/text-embedding-3-lage", "text-embedding-3-large"),
        ("voyage-larg-2", "voyage-large-2"),
        ("qwen-text-embeding-v4", "alibaba/qwen-text-embedding-v4"),
        ("Text-Embedding-ADA-02", "text-embedding-ada-002"),
    ],
)
def test_a_mistyped_model_id_is_told_the_nearest_ids(typed: str, nearest: str) -> None:
    assert nearest_model_ids(typed)[0] == nearest
    with pytest.warns(UnknownModelWarning, match=f"did you mean {nearest!r}"):
        AimlapiEmbeddings(model=typed, api_key=KEY, base_url=BASE_URL)


def test_an_unrelated_model_id_gets_no_guess() -> None:
    assert nearest_model_ids("gpt-4o") == []
    with pytest.warns(UnknownModelWarning) as caught:
        AimlapiEmbedding(model="gpt-4o", api_key=KEY, api_base=BASE_URL)
    assert "did you mean" not in str(caught[0].message)


@pytest.mark.parametrize("adapter", ["langchain", "llama-index"])
def test_the_404_of_a_mistyped_model_names_the_nearest_ids(adapter: str) -> None:
    with Emulator() as api:
        if adapter == "langchain":
            with pytest.warns(UnknownModelWarning):
                embeddings: Any = AimlapiEmbeddings(
                    model="text-embeding-3-small", api_key=api.api_key, base_url=api.base_url
                )
            call = embeddings.embed_query
        else:
            with pytest.warns(UnknownModelWarning):
                embeddings = AimlapiEmbedding(
                    model="text-embeding-3-small", api_key=api.api_key, api_base=api.base_url
                )
            call = embeddings.get_query_embedding
        with pytest.raises(NotFoundError, match="did you mean 'text-embedding-3-small'"):
            call("hello")
        assert len(api.requests) == 1  # a 404 is not retried


@pytest.mark.parametrize("case", REFUSED + IGNORED, ids=row_id)
def test_a_peer_default_of_none_is_taken_as_not_given(case: tuple[Peer, PeerArgument]) -> None:
    # openai_proxy=os.getenv("OPENAI_PROXY"), http_client=None: valid calls to the peers.
    peer, row = case
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embeddings = make(peer, **{row.name: None})
    assert settings(embeddings) == settings(make(peer))


def test_an_unknown_model_set_later_warns_at_the_callers_line() -> None:
    embedding = AimlapiEmbedding(api_key=KEY, api_base=BASE_URL, max_retries=0)
    embedding.model_name = "text-embeding-3-small"
    # Nothing listens at BASE_URL: the call fails after the warning.
    with pytest.warns(UnknownModelWarning) as caught, pytest.raises(APIConnectionError):
        embedding.get_query_embedding("hello")
    assert caught[0].filename == __file__  # not LlamaIndex's instrumentation wrapper


def test_a_key_provider_function_is_refused_by_name() -> None:
    """OpenAIEmbeddings(api_key=callable): a TypeError that says what to pass, not pydantic's
    "Input should be a valid string"."""
    with pytest.raises(
        TypeError, match=r"openai_api_key= takes the key itself.*openai_api_key=f\(\)"
    ):
        AimlapiEmbeddings(openai_api_key=lambda: KEY, base_url=BASE_URL)
