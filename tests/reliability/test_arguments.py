"""Every bad argument is a clear TypeError (wrong kind) or ValueError (wrong value) naming it, the
same in the core and both adapters, before any request leaves; numpy integers count as ints and
`bool` does not.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from fakes import vector_for
from hostile import HostileServer

from aimlapi_embeddings import EmbeddingsClient
from langchain_aimlapi import AimlapiEmbeddings
from llama_index_aimlapi import AimlapiEmbedding

KEY = "aiml-sk-arguments-1a2b"
KINDS = ["core", "langchain", "llama"]

# The core takes these per call; the adapters at construction.
PER_CALL = {"model", "dimensions", "batch_size", "extra_body"}
# Each adapter's name for an argument, where it has one.
NAMES = {
    "langchain": {"extra_body": "model_kwargs"},
    "llama": {"batch_size": "embed_batch_size", "extra_body": None},
}

# (argument, bad value, the error it must raise)
BAD: list[tuple[str, object, type[Exception]]] = [
    ("max_concurrency", "8", TypeError),
    ("max_concurrency", 1.5, TypeError),
    ("max_concurrency", True, TypeError),
    ("max_concurrency", 0, ValueError),
    ("max_retries", None, TypeError),
    ("max_retries", 1.0, TypeError),
    ("max_retries", -1, ValueError),
    ("timeout", 0, ValueError),
    ("timeout", -1, ValueError),
    ("timeout", float("nan"), ValueError),
    ("timeout", "30", TypeError),
    ("timeout", True, TypeError),
    ("timeout", 1e10, ValueError),  # past what a socket takes: a raw OverflowError
    ("timeout", float("inf"), ValueError),
    ("allow_insecure_http", "no", TypeError),  # truthy: the key went over plain http
    ("allow_insecure_http", 1, TypeError),
    ("model", 5, TypeError),
    ("model", "", ValueError),
    ("dimensions", True, TypeError),
    ("dimensions", 1.5, TypeError),
    ("dimensions", "8", TypeError),
    ("dimensions", 0, ValueError),
    ("batch_size", 1.5, TypeError),
    ("batch_size", True, TypeError),
    ("batch_size", 0, ValueError),
    ("extra_body", {"user": "lone \ud800 surrogate"}, ValueError),
    ("extra_body", {"user": float("nan")}, ValueError),
    ("extra_body", {"user": object()}, TypeError),
    ("extra_body", {"input": "a second input"}, ValueError),
    ("extra_body", "user=me", TypeError),
    ("default_headers", {"X-Trace": 7}, TypeError),
    ("default_headers", {"X-Trace": "a\r\nInjected: header"}, ValueError),
    ("default_headers", {"Bad Name": "x"}, ValueError),
]
CASES = [
    (kind, argument, value, error)
    for kind in KINDS
    for argument, value, error in BAD
    if NAMES.get(kind, {}).get(argument, argument) is not None
]


def attempt(kind: str, server: HostileServer, argument: str, value: object) -> Any:
    """Build `kind` with `argument=value` (in that class's words) and embed one text."""
    name = NAMES.get(kind, {}).get(argument, argument)
    assert name is not None
    options: dict[str, Any] = {"api_key": KEY, "base_url": server.base_url}
    if kind == "core":
        call: dict[str, Any] = {"dimensions": 8}
        (call if argument in PER_CALL else options)[name] = value
        client = EmbeddingsClient(**options)
        try:
            return client.embed(["a text"], **call).vectors
        finally:
            client.close()
    options.setdefault("dimensions", 8)
    options[name] = value
    target: Any = (
        AimlapiEmbeddings(**options) if kind == "langchain" else AimlapiEmbedding(**options)
    )
    try:
        if kind == "langchain":
            return target.embed_documents(["a text"])
        return target.get_text_embedding_batch(["a text"])
    finally:
        target.close()


@pytest.mark.parametrize(("kind", "argument", "value", "error"), CASES)
def test_a_bad_argument_is_a_clear_error_before_any_request(
    kind: str, argument: str, value: object, error: type[Exception]
) -> None:
    with HostileServer() as server:
        with pytest.raises((TypeError, ValueError)) as info:
            attempt(kind, server, argument, value)
        assert server.requests == [], f"{kind}: {argument}={value!r} was sent"
    name = NAMES.get(kind, {}).get(argument, argument)
    assert isinstance(info.value, error), f"{kind}: {argument}={value!r}: {info.value!r}"
    assert str(name) in str(info.value) or argument in str(info.value), (
        f"{kind}: the error does not name {name}: {info.value}"
    )


def test_model_none_is_a_type_error_in_the_core_and_in_langchain() -> None:
    """(LlamaIndex's signature says model=None means its default model.)"""
    with HostileServer() as server:
        for kind in ("core", "langchain"):
            with pytest.raises(TypeError, match="model"):
                attempt(kind, server, "model", None)
        assert server.requests == []


@pytest.mark.parametrize("kind", KINDS)
def test_numpy_integers_are_ints(kind: str) -> None:
    numbers = {
        "max_concurrency": np.int64(2),
        "max_retries": np.int32(1),
        "dimensions": np.int64(8),
        "batch_size": np.int16(4),
    }
    with HostileServer() as server:
        for argument, value in numbers.items():
            assert attempt(kind, server, argument, value) == [vector_for("a text", 8)]
        # Extra fields, numpy values included, to a model whose schema lets them through
        # (Qwen's lists no closed set; OpenAI's refuses every unlisted field).
        qwen = {"model": "alibaba/qwen-text-embedding-v3", "dimensions": 64}
        extra = {"user": np.int64(5)}
        if kind == "core":
            with EmbeddingsClient(api_key=KEY, base_url=server.base_url) as client:
                vectors = client.embed(["a text"], extra_body=extra, **qwen).vectors
        elif kind == "langchain":
            embeddings = AimlapiEmbeddings(
                api_key=KEY, base_url=server.base_url, model_kwargs=extra, **qwen
            )
            vectors = embeddings.embed_documents(["a text"])
        if kind != "llama":
            assert vectors == [vector_for("a text", 64)]
            assert server.requests[-1].json()["user"] == 5


@pytest.mark.parametrize("kind", ["core", "langchain"])
def test_a_timeout_object_with_a_bad_phase_is_refused(kind: str) -> None:
    with HostileServer() as server, pytest.raises(ValueError, match=r"timeout\.read"):
        attempt(kind, server, "timeout", httpx.Timeout(5.0, read=0))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("given", "meant"),
    [
        (None, httpx.Timeout(60.0, connect=10.0)),  # "not given", never "no limit"
        (12.5, httpx.Timeout(12.5)),
        (httpx.Timeout(5.0, connect=1.0), httpx.Timeout(5.0, connect=1.0)),
    ],
)
def test_a_timeout_means_the_same_in_the_core_and_both_adapters(
    kind: str, given: object, meant: httpx.Timeout
) -> None:
    options: dict[str, Any] = {"api_key": KEY, "timeout": given}
    client: Any
    if kind == "core":
        client = EmbeddingsClient(**options)
    elif kind == "langchain":
        client = AimlapiEmbeddings(**options)._core()
    else:
        client = AimlapiEmbedding(**options)._client
    assert client.timeout == meant
    client.close()
