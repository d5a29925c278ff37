"""Construction: names old and new, the environment, and every mistake caught before a request."""

from __future__ import annotations

import socket
import sys
import warnings
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from aimlapi_embeddings import ModelStatusWarning, UnknownModelWarning
from langchain_aimlapi import AimlapiEmbeddings

KEY = "sk-config-test-4d1f0a"


def make(**options: Any) -> AimlapiEmbeddings:
    options.setdefault("api_key", KEY)
    return AimlapiEmbeddings(**options)


def test_defaults() -> None:
    embeddings = make()
    assert embeddings.model == "text-embedding-3-small"
    assert embeddings.base_url == "https://api.aimlapi.com/v1"
    assert embeddings.dimensions is None
    assert embeddings.batch_size is None
    assert embeddings.max_concurrency == 8
    assert embeddings.max_retries == 4
    assert embeddings.timeout is None
    assert embeddings.long_text == "chunk"
    assert embeddings.show_progress_bar is False
    assert embeddings.model_kwargs == {}


def test_design_names() -> None:
    embeddings = AimlapiEmbeddings(
        model="text-embedding-3-large",
        api_key=KEY,
        base_url="https://eu.example.test/v1/",
        dimensions=256,
        batch_size=64,
        max_concurrency=3,
        max_retries=1,
        timeout=12.5,
        default_headers={"X-Team": "search"},
        model_kwargs={"auto_truncate": False},
        long_text="truncate",
    )
    assert embeddings.model == "text-embedding-3-large"
    assert embeddings.aimlapi_api_key == SecretStr(KEY)
    assert embeddings.base_url == "https://eu.example.test/v1"
    assert (embeddings.dimensions, embeddings.batch_size) == (256, 64)
    assert (embeddings.max_concurrency, embeddings.max_retries) == (3, 1)
    assert embeddings.timeout == 12.5
    assert embeddings.default_headers == {"X-Team": "search"}
    assert embeddings.model_kwargs == {"auto_truncate": False}
    assert embeddings.long_text == "truncate"


def test_old_langchain_aimlapi_names() -> None:
    """Switching from langchain-aimlapi 0.1.x (or OpenAIEmbeddings) is an import change."""
    embeddings = AimlapiEmbeddings(
        model_name="voyage-large-2",
        aimlapi_api_key=KEY,
        aimlapi_api_base="https://old.example.test/v1/",
        chunk_size=100,
        request_timeout=30,
    )
    assert embeddings.model == "voyage-large-2"
    assert embeddings.aimlapi_api_key == SecretStr(KEY)
    assert embeddings.base_url == "https://old.example.test/v1"
    assert embeddings.batch_size == 100
    assert embeddings.timeout == 30


def test_timeout_accepts_an_httpx_timeout() -> None:
    timeout = httpx.Timeout(5.0, connect=1.0)
    assert make(timeout=timeout).timeout is timeout


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMLAPI_API_KEY", "sk-from-env")
    assert make(api_key=None).aimlapi_api_key == SecretStr("sk-from-env")
    assert AimlapiEmbeddings().aimlapi_api_key == SecretStr("sk-from-env")
    assert make().aimlapi_api_key == SecretStr(KEY), "an explicit key wins over the environment"


def test_base_url_from_the_environment_new_name_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMLAPI_API_BASE", "https://old-name.example.test/v1/")
    assert make().base_url == "https://old-name.example.test/v1"
    monkeypatch.setenv("AIMLAPI_BASE_URL", "https://new-name.example.test/v1")
    assert make().base_url == "https://new-name.example.test/v1"
    assert make(base_url="https://arg.example.test/v1").base_url == "https://arg.example.test/v1"


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(ValueError, match="AIMLAPI_API_KEY"):
        AimlapiEmbeddings()
    with pytest.raises(ValueError, match="AIMLAPI_API_KEY"):
        AimlapiEmbeddings(api_key="  ")


@pytest.mark.parametrize(
    ("model", "dimensions", "message"),
    [
        ("text-embedding-3-small", 2000, "from 1 to 1536"),
        ("text-embedding-3-small", 0, "from 1 to 1536"),
        ("text-embedding-ada-002", 512, "does not accept `dimensions`"),
        ("voyage-large-2", 256, "does not accept `dimensions`"),
        ("alibaba/qwen-text-embedding-v3", 32, "from 64 to 2048"),
    ],
)
def test_bad_dimensions_raise(model: str, dimensions: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(model=model, dimensions=dimensions)


def test_good_dimensions_pass() -> None:
    assert make(model="alibaba/qwen-text-embedding-v4", dimensions=2048).dimensions == 2048
    assert make(model="text-multilingual-embedding-002", dimensions=256).dimensions == 256


def test_unknown_model_warns_at_construction() -> None:
    with pytest.warns(UnknownModelWarning, match="my-new-embedder"):
        embeddings = make(model="my-new-embedder")
    assert embeddings.model == "my-new-embedder"


def test_removed_model_warns_at_construction_pointing_at_the_callers_line() -> None:
    with pytest.warns(ModelStatusWarning, match="removed from AI/ML API on 2026-03-30") as caught:
        AimlapiEmbeddings(model="BAAI/bge-base-en-v1.5", api_key=KEY)
    assert caught[0].filename == __file__


def test_active_model_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(model="openai/text-embedding-3-small")


def test_unknown_arguments_are_refused() -> None:
    # OpenAIEmbeddings' own arguments are answered by the migration table (tests/migration).
    with pytest.raises(ValidationError, match="embedding_context_tokens"):
        make(embedding_context_tokens=8191)


@pytest.mark.parametrize("key", ["model", "input", "dimensions", "encoding_format", "task_type"])
def test_model_kwargs_may_not_set_what_the_client_sets(key: str) -> None:
    with pytest.raises(ValueError, match=f"model_kwargs may not set '{key}'"):
        make(model_kwargs={key: "x"})


@pytest.mark.parametrize("key", ["batch_size", "chunk_size", "max_retries", "request_timeout"])
def test_model_kwargs_may_not_hold_an_argument(key: str) -> None:
    with pytest.raises(ValueError, match=f"'{key}' is an AimlapiEmbeddings argument"):
        make(model_kwargs={key: 1})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_retries": -1}, "max_retries"),
        ({"long_text": "drop"}, "long_text"),
    ],
)
def test_bad_numbers_and_choices_raise(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make(**options)


def test_plain_http_refused_off_this_machine() -> None:
    with pytest.raises(ValueError, match="plain http"):
        make(base_url="http://api.example.test/v1")
    assert make(base_url="http://127.0.0.1:9/v1").base_url == "http://127.0.0.1:9/v1"
    trusted = make(base_url="http://gateway.internal/v1", allow_insecure_http=True)
    assert trusted.base_url == "http://gateway.internal/v1"


def test_constructor_does_no_network_io(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_connect(*args: object) -> None:
        raise AssertionError("the constructor opened a connection")

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    monkeypatch.setattr(socket, "getaddrinfo", no_connect)
    make(base_url="https://unreachable.example.test/v1", show_progress_bar=True)


def test_progress_bar_without_tqdm_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail, as if tqdm were not installed.
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    expected = r'show_progress_bar=True needs tqdm.auto.*"aimlapi-embeddings\[progress\]"'
    with pytest.raises(ModuleNotFoundError, match=expected):
        make(show_progress_bar=True)
    make(show_progress_bar=False)  # tqdm is needed only for the bar


def test_key_never_shown() -> None:
    embeddings = make()
    assert KEY not in repr(embeddings)
    assert KEY not in str(embeddings)
    assert KEY not in repr(embeddings.__pydantic_private__)
    assert KEY not in repr(embeddings.model_dump())


def test_key_not_in_configuration_errors() -> None:
    for options in ({"dimensions": 5000}, {"model_kwargs": {"input": 1}}, {"nope": 1}):
        with pytest.raises(ValidationError) as caught:
            make(**options)
        assert KEY not in str(caught.value)
        assert KEY not in repr(caught.value)
