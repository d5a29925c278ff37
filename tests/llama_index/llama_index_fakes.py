"""An in-process fake of the embeddings endpoint, for httpx.MockTransport: no sockets."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import httpx

from aimlapi_embeddings import get_model_spec
from llama_index_aimlapi import AimlapiEmbedding

API_KEY = "sk-llama-index-test-key-0123456789"
BASE_URL = "https://api.aimlapi.test/v1"


class FakeAPI:
    """The embeddings endpoint for httpx.MockTransport: records every body, no sockets.

    A text's vector is derived from its hash, so equal texts get equal vectors and different
    texts (almost surely) different ones; as wide as the model's vectors, or `dimensions`.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[httpx.Headers] = []
        self.urls: list[str] = []
        self._lock = threading.Lock()

    # Picklable, so that an embedding holding it can be pickled with its transport.
    def __getstate__(self) -> dict[str, Any]:
        return {name: value for name, value in vars(self).items() if name != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state)
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with self._lock:
            self.requests.append(body)
            self.headers.append(request.headers)
            self.urls.append(str(request.url))
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        width = body.get("dimensions") or get_model_spec(body["model"]).dimensions or 8
        data = [
            {"object": "embedding", "index": index, "embedding": vector_for(text, width)}
            for index, text in enumerate(texts)
        ]
        usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
        return httpx.Response(200, json={"object": "list", "data": data, "usage": usage})

    @property
    def inputs(self) -> list[str]:
        """Every text sent, in the order the requests arrived."""
        return [text for body in self.requests for text in _as_list(body["input"])]


def make_embedding(api: FakeAPI, **options: Any) -> AimlapiEmbedding:
    """An AimlapiEmbedding whose requests `api` answers in process."""
    options.setdefault("api_key", API_KEY)
    options.setdefault("base_url", BASE_URL)
    return AimlapiEmbedding(transport=httpx.MockTransport(api), **options)


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def vector_for(text: str, width: int) -> list[float]:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [(digest[i % 32] - 128 + i) / 128 for i in range(width)]
