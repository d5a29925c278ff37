"""Migration, as a user does it: constructor calls from the OpenAI classes' own docs and tests,
run once with the OpenAI class and once with the import swapped, both against one emulator.

The vectors must be the same; the requests are counted for each. Where the call sets a batch
size, ours sends exactly as many requests as the peer (texts per request mean the same); where it
does not, the peer sends its default batches one after another and ours plans for the call.

`python tests/migration/test_from_openai.py` prints the table of request counts.
"""

from __future__ import annotations

import asyncio
import gc
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from langchain_openai import OpenAIEmbeddings
from llama_index.embeddings.openai import OpenAIEmbedding

from aimlapi_embeddings import IgnoredArgumentWarning
from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings
from llama_index_aimlapi import AimlapiEmbedding

TEXTS = [
    f"Passage {i}: {'the river ' * (i % 7)}crosses city {i % 41} near the {i % 13} bridges."
    for i in range(1200)
]
QUERY = "which bridges cross the river near city 7?"


@dataclass(frozen=True)
class Case:
    name: str
    framework: str  # "langchain" or "llama-index"
    arguments: dict[str, Any]
    batch_size: int | None  # what the call sets as texts per request, if anything

    def make(self, cls: Any, api: Emulator) -> Any:
        if self.framework == "langchain":
            # check_embedding_ctx_length=False: without it the peer tokenises with tiktoken,
            # which downloads its files, and sends token ids no AI/ML API model accepts.
            where = {"base_url": api.base_url, "api_key": api.api_key}
            return cls(**where, check_embedding_ctx_length=False, **self.arguments)
        return cls(api_base=api.base_url, api_key=api.api_key, **self.arguments)


CASES = [
    # langchain-openai's docstring and integration tests.
    Case("lc docstring", "langchain", {"model": "text-embedding-3-large"}, None),
    Case("lc dimensions", "langchain", {"model": "text-embedding-3-large", "dimensions": 1024}, None),
    Case("lc chunk_size", "langchain", {"model": "text-embedding-3-small", "chunk_size": 100, "max_retries": 2, "request_timeout": 30}, 100),
    Case("lc tiktoken off", "langchain", {"model": "text-embedding-ada-002", "tiktoken_enabled": False, "embedding_ctx_length": 8191}, None),
    Case("lc headers", "langchain", {"model": "text-embedding-3-small", "default_headers": {"X-Team": "search"}, "model_kwargs": {}}, None),
    # llama-index-embeddings-openai's README and tests.
    Case("li readme", "llama-index", {"model": "text-embedding-3-small"}, None),
    Case("li batch", "llama-index", {"model": "text-embedding-3-small", "embed_batch_size": 42}, 42),
    Case("li dimensions", "llama-index", {"model": "text-embedding-3-large", "dimensions": 512}, None),
    Case("li mode", "llama-index", {"mode": "similarity", "model": "text-embedding-ada-002", "max_retries": 3, "timeout": 30.0}, None),
    Case("li workers", "llama-index", {"model": "text-embedding-3-small", "embed_batch_size": 100, "num_workers": 2, "reuse_client": False}, 100),
]  # fmt: skip
PEER = {"langchain": OpenAIEmbeddings, "llama-index": OpenAIEmbedding}
OURS = {"langchain": AimlapiEmbeddings, "llama-index": AimlapiEmbedding}


def embed_all(embeddings: Any, *, asynchronous: bool) -> tuple[list[list[float]], list[float]]:
    """Every text and the query, the way each framework's users call it."""
    if isinstance(embeddings, OpenAIEmbeddings | AimlapiEmbeddings):
        if asynchronous:

            async def both() -> tuple[list[list[float]], list[float]]:
                return await embeddings.aembed_documents(TEXTS), await embeddings.aembed_query(
                    QUERY
                )

            return asyncio.run(both())
        return embeddings.embed_documents(TEXTS), embeddings.embed_query(QUERY)
    if asynchronous:

        async def both_li() -> tuple[list[list[float]], list[float]]:
            documents = await embeddings.aget_text_embedding_batch(TEXTS)
            return documents, await embeddings.aget_query_embedding(QUERY)

        return asyncio.run(both_li())
    return embeddings.get_text_embedding_batch(TEXTS), embeddings.get_query_embedding(QUERY)


@dataclass
class Run:
    vectors: list[list[float]]
    query: list[float]
    requests: int


def run(api: Emulator, make: Callable[[], Any], *, asynchronous: bool) -> Run:
    before = len(api.requests)
    vectors, query = embed_all(make(), asynchronous=asynchronous)
    assert all(record.status == 200 for record in api.requests[before:])
    return Run(vectors, query, len(api.requests) - before)


def both(case: Case, api: Emulator, *, asynchronous: bool) -> tuple[Run, Run]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the peer's own warnings are not ours to judge
        peer = run(api, lambda: case.make(PEER[case.framework], api), asynchronous=asynchronous)
        gc.collect()  # the peer's dropped clients warn of their sockets here, not in our run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = run(api, lambda: case.make(OURS[case.framework], api), asynchronous=asynchronous)
    unexpected = [w for w in caught if not issubclass(w.category, IgnoredArgumentWarning)]
    assert unexpected == [], [str(w.message) for w in unexpected]
    return peer, ours


@pytest.fixture(scope="module")
def api() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_swapping_the_import_gives_the_peers_vectors(
    case: Case, asynchronous: bool, api: Emulator
) -> None:
    peer, ours = both(case, api, asynchronous=asynchronous)
    assert len(ours.vectors) == len(peer.vectors) == len(TEXTS)
    # Both decode the same float32 numbers from the same answers.
    np.testing.assert_allclose(ours.vectors, peer.vectors, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.query, peer.query, rtol=1e-6, atol=1e-7)
    if case.batch_size is not None:
        # Texts per request mean the same: as many requests (one more is the query, on both).
        assert ours.requests == peer.requests == math.ceil(len(TEXTS) / case.batch_size) + 1


def main() -> None:
    print("| case | peer requests | ours | peer requests (async) | ours (async) |")
    print("|---|---|---|---|---|")
    with Emulator() as emulator:
        for case in CASES:
            counts = []
            for asynchronous in (False, True):
                peer, ours = both(case, emulator, asynchronous=asynchronous)
                counts += [peer.requests, ours.requests]
            print(f"| {case.name}: {case.arguments} | " + " | ".join(map(str, counts)) + " |")


if __name__ == "__main__":
    main()
