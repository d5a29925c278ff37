"""The implementations under test, each built the way its documentation says, defaults kept.

Standard library only at import time: a worker imports this module in whichever virtual
environment its implementation lives in, and each builder imports its own package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from _workloads import MODEL

Vectors = list[list[float]]
EnvName = Literal["main", "peers", "langchain-aimlapi"]


@dataclass(frozen=True, slots=True)
class Embedder:
    sync: Callable[[list[str]], Vectors]
    aio: Callable[[list[str]], Awaitable[Vectors]]


@dataclass(frozen=True, slots=True)
class Implementation:
    name: str
    env: EnvName
    ours: bool
    build: Callable[[str, str], Embedder]
    """Called with the emulator's base URL and key."""
    distributions: tuple[str, ...]
    """Installed distributions whose versions the report names."""
    probe: Literal["offline", "no key"] | None = None
    """A yes/no question, asked once on the smallest workload, sync: does it work offline (no
    internet, no tokenizer cache)? What does it do without an API key?"""


def _ours_core(base_url: str, api_key: str) -> Embedder:
    from aimlapi_embeddings import EmbeddingsClient

    client = EmbeddingsClient(api_key=api_key, base_url=base_url)

    async def aembed(texts: list[str]) -> Vectors:
        return (await client.aembed(texts, model=MODEL)).vectors

    return Embedder(lambda texts: client.embed(texts, model=MODEL).vectors, aembed)


def _langchain(embeddings: Any) -> Embedder:
    return Embedder(embeddings.embed_documents, embeddings.aembed_documents)


def _llama_index(embedding: Any) -> Embedder:
    return Embedder(embedding.get_text_embedding_batch, embedding.aget_text_embedding_batch)


def _ours_langchain(base_url: str, api_key: str) -> Embedder:
    from langchain_aimlapi import AimlapiEmbeddings

    return _langchain(AimlapiEmbeddings(model=MODEL, api_key=api_key, base_url=base_url))


def _ours_llama_index(base_url: str, api_key: str) -> Embedder:
    from llama_index_aimlapi import AimlapiEmbedding

    return _llama_index(AimlapiEmbedding(model=MODEL, api_key=api_key, base_url=base_url))


def _langchain_openai(base_url: str, api_key: str, *, check_ctx: bool) -> Embedder:
    from langchain_openai import OpenAIEmbeddings

    return _langchain(
        OpenAIEmbeddings(
            model=MODEL,
            base_url=base_url,
            api_key=api_key,
            check_embedding_ctx_length=check_ctx,
        )
    )


def _llama_index_openai(base_url: str, api_key: str) -> Embedder:
    from llama_index.embeddings.openai import OpenAIEmbedding

    return _llama_index(OpenAIEmbedding(model=MODEL, api_base=base_url, api_key=api_key))


def _langchain_aimlapi_013(base_url: str, api_key: str) -> Embedder:
    from langchain_aimlapi import AimlapiEmbeddings

    return _langchain(AimlapiEmbeddings(model=MODEL, api_key=api_key, base_url=base_url))


def _langchain_aimlapi_013_without_key(base_url: str, api_key: str) -> Embedder:
    from langchain_aimlapi import AimlapiEmbeddings

    return _langchain(AimlapiEmbeddings(model=MODEL, base_url=base_url))


_OURS = ("aimlapi-embeddings", "httpx")
_LANGCHAIN_OPENAI = ("langchain-openai", "langchain-core", "openai", "httpx", "numpy")

IMPLEMENTATIONS = {
    impl.name: impl
    for impl in (
        Implementation("ours: EmbeddingsClient", "main", True, _ours_core, _OURS),
        Implementation(
            "ours: langchain_aimlapi", "main", True, _ours_langchain, (*_OURS, "langchain-core")
        ),
        Implementation(
            "ours: llama_index_aimlapi",
            "main",
            True,
            _ours_llama_index,
            (*_OURS, "llama-index-core"),
        ),
        Implementation(
            "langchain-openai",
            "peers",
            False,
            lambda url, key: _langchain_openai(url, key, check_ctx=False),
            _LANGCHAIN_OPENAI,
        ),
        Implementation(
            "llama-index-embeddings-openai",
            "peers",
            False,
            _llama_index_openai,
            ("llama-index-embeddings-openai", "llama-index-core", "openai", "httpx", "numpy"),
        ),
        Implementation(
            "langchain-aimlapi 0.1.3",
            "langchain-aimlapi",
            False,
            _langchain_aimlapi_013,
            ("langchain-aimlapi", "langchain-openai", "langchain-core", "openai", "httpx"),
        ),
        Implementation(
            "langchain-openai, check_embedding_ctx_length=True (its default), offline",
            "peers",
            False,
            lambda url, key: _langchain_openai(url, key, check_ctx=True),
            (*_LANGCHAIN_OPENAI, "tiktoken"),
            probe="offline",
        ),
        Implementation(
            "langchain-aimlapi 0.1.3, no API key given",
            "langchain-aimlapi",
            False,
            _langchain_aimlapi_013_without_key,
            ("langchain-aimlapi",),
            probe="no key",
        ),
    )
}
