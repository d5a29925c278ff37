"""An in-process fake of the embeddings endpoint for httpx.MockTransport: no sockets.

Shared by the unit tests and the LlamaIndex adapter's tests (tests/ is on sys.path through the
root conftest).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from aimlapi_embeddings import EmbeddingsClient, get_model_spec
from aimlapi_embeddings._assembly import LIST_ROWS, Assembly, Rows
from aimlapi_embeddings._batching import Plan
from aimlapi_embeddings._response import Usage

API_KEY = "sk-unit-test-key-0123456789"
BASE_URL = "https://api.aimlapi.test/v1"


def vector_for(text: str, width: int) -> list[float]:
    """A deterministic vector per text, exactly representable in float32."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return [((digest[i % 32] + i) % 251 - 125) / 128 for i in range(width)]


Fault = Callable[[httpx.Request], httpx.Response | None]
Refusal = Callable[[dict[str, Any]], httpx.Response | None]


@dataclass
class FakeAPI:
    """Answers like the API; `faults` are consulted in order, one per request, before answering."""

    width: int | None = None
    shuffle: bool = False
    faults: list[Fault] = field(default_factory=list)
    refuse: Refusal | None = None
    """A server rule, asked of every body: an error answer, or None to answer normally."""
    seed: int = 0
    precise: bool = False
    """Answer floats with float64 precision, most not exactly float32 (as a JSON API may)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[httpx.Headers] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(self.seed)

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
            fault = self.faults.pop(0) if self.faults else None
        answer = fault(request) if fault is not None else None
        if answer is None and self.refuse is not None:
            answer = self.refuse(body)
        return answer if answer is not None else self.answer(body)

    @property
    def inputs(self) -> list[str]:
        """Every text sent, in the order the requests arrived."""
        return [text for body in self.requests for text in _as_list(body["input"])]

    def answer(self, body: dict[str, Any]) -> httpx.Response:
        spec = get_model_spec(body["model"])
        width = body.get("dimensions") or self.width or spec.dimensions or 8
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for index, text in enumerate(inputs):
            vector = vector_for(text, width)
            if self.precise:
                vector = [value + (i % 5 - 2) / 3e8 for i, value in enumerate(vector)]
            embedding: object = vector
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(array("f", vector).tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        if self.shuffle:
            with self._lock:
                self._random.shuffle(data)
        usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
        return httpx.Response(200, json={"object": "list", "data": data, "usage": usage})

    def client(self, **options: Any) -> EmbeddingsClient:
        options.setdefault("api_key", API_KEY)
        options.setdefault("base_url", BASE_URL)
        return EmbeddingsClient(transport=httpx.MockTransport(self), **options)


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def error_answer(code: int, message: str = "nope", **headers: str) -> httpx.Response:
    """An answer with status `code` in AI/ML API's error shape."""
    body = {
        "message": message,
        "statusCode": code,
        "requestId": "req-123",
        "path": "/v1/embeddings",
        "timestamp": "2026-11-24T00:00:00Z",
    }
    return httpx.Response(code, json=body, headers=headers)


def status(code: int, message: str = "nope", **headers: str) -> Fault:
    """A fault answering `code` in AI/ML API's error shape."""
    return lambda request: error_answer(code, message, **headers)


def drop(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def html(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="<html><body>Bad gateway</body></html>")


def assemble(plan: Plan, piece_vectors: list[Any], rows: Rows = LIST_ROWS) -> Any:
    """Every text's vector from the vectors of the plan's pieces, batch by batch as a call does."""
    assembly = Assembly(plan, rows, None)
    for batch in plan.batches:
        assembly.add(batch, [piece_vectors[piece] for piece in batch], Usage())
    return assembly.result()
