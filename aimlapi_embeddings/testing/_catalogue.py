"""The model catalogue (`GET /v1/models`) and each model's `docsJson`, in the published shapes.

`GET /v1/models` needs no key and lists every model with `id`, `aliases`, `type`, `info` (with
`contextLength` and `docsJson`, a URL serving the model's OpenAPI description) and `tags`; `?type=`
and `?id=` filter it. The emulator serves the registry's active models this way, with the vendored
request schemas, so that `python -m aimlapi_embeddings.models --check` is tested offline.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote

from aimlapi_embeddings._schema import load_schema
from aimlapi_embeddings.models import MODELS, ModelSpec

__all__ = ["EMBEDDINGS_TYPE", "Catalogue", "PublishedModel"]

EMBEDDINGS_TYPE = "openai/embeddings"
"""The catalogue's `type` (endpoint) of embedding models, as the docs' `docsJson` links name it."""

_DEVELOPERS = {
    "openai": "Open AI",
    "voyage": "Anthropic",
    "google": "Google",
    "alibaba": "Alibaba Cloud",
    "together": "Together AI",
}


@dataclass(frozen=True, slots=True)
class PublishedModel:
    """One catalogue entry: what the API says about a model it serves."""

    id: str
    schema: Mapping[str, Any]
    context_length: int | None = None
    aliases: tuple[str, ...] = ()
    developer: str = "AI/ML API"
    type: str = EMBEDDINGS_TYPE


def _from_registry(spec: ModelSpec) -> PublishedModel:
    assert spec.schema is not None
    base = spec.name.rsplit("/", 1)[-1]
    alias = f"{spec.vendor}/{base}"
    return PublishedModel(
        id=spec.name,
        schema=load_schema(spec.schema),
        context_length=spec.docs_context or spec.context_tokens,
        aliases=(alias if alias != spec.name else base,),
        developer=_DEVELOPERS.get(spec.vendor, spec.vendor),
    )


class Catalogue:
    """The models the emulator publishes; starts as the registry's served models."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, PublishedModel] = {
            spec.name: _from_registry(spec)
            for spec in MODELS.values()
            if spec.status != "removed" and spec.schema is not None
        }

    def publish(self, model: PublishedModel) -> None:
        """Add `model` to the catalogue, or replace the entry with its id."""
        with self._lock:
            self._models[model.id] = model

    def withdraw(self, model_id: str) -> None:
        """Take `model_id` out of the catalogue (as the API does when it stops serving one)."""
        with self._lock:
            self._models.pop(model_id, None)

    def listing(self, origin: str, query: str) -> bytes:
        """The body of `GET /v1/models?<query>`; `origin` is `http://host:port`."""
        wanted = parse_qs(query)
        types = {value for values in wanted.get("type", ()) for value in values.split(",")}
        ids = {value for values in wanted.get("id", ()) for value in values.split(",")}
        with self._lock:
            models = list(self._models.values())
        data = [
            _entry(model, origin)
            for model in models
            if (not types or model.type in types) and (not ids or ids & {model.id, *model.aliases})
        ]
        return json.dumps({"object": "list", "data": data}).encode()

    def docs_json(self, query: str) -> bytes | None:
        """The body of `GET /docs-json?model=...&endpoint=...`, or None for an unknown model."""
        model_id = parse_qs(query).get("model", [""])[0]
        with self._lock:
            model = self._models.get(model_id)
        if model is None:
            return None
        return json.dumps(_openapi(model)).encode()


def _entry(model: PublishedModel, origin: str) -> dict[str, Any]:
    docs = (
        f"{origin}/docs-json?model={quote(model.id, safe='')}&endpoint={quote(model.type, safe='')}"
    )
    info: dict[str, Any] = {"name": model.id, "developer": model.developer, "docsJson": docs}
    if model.context_length is not None:
        info["contextLength"] = model.context_length
    return {
        "id": model.id,
        "aliases": list(model.aliases),
        "type": model.type,
        "info": info,
        "tags": [],
    }


def _openapi(model: PublishedModel) -> dict[str, Any]:
    """The model's OpenAPI description, shaped as the docs' files are (request body only)."""
    return {
        "openapi": "3.0.0",
        "info": {"title": "AI/ML Gateway", "version": "1.0"},
        "servers": [{"url": "https://api.aimlapi.com"}],
        "paths": {
            "/v1/embeddings": {
                "post": {
                    "operationId": "EmbeddingsController_createEmbeddings_v1",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": copy.deepcopy(model.schema)}},
                    },
                    "tags": ["Embeddings"],
                }
            }
        },
    }
