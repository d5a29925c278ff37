"""Chroma 1.x: every AI/ML API embedding model as a registered Chroma embedding function.

    import aimlapi_embeddings.chroma  # registers "aimlapi": do this before reopening a collection
    from aimlapi_embeddings.chroma import AimlapiEmbeddingFunction

    collection = client.create_collection(
        "passages", embedding_function=AimlapiEmbeddingFunction(model_name="voyage-large-2")
    )

Chroma keeps the function's name and configuration (`get_config`) in the collection, so that a
persisted collection opens later without the function being passed again: `build_from_config`
makes it from that configuration. The configuration names the environment variable holding the
key (`api_key_env_var`), never the key. Documents and queries go through the core client with
numpy output, so every per-model rule, retry and the concurrency bound are the core's; queries
carry the model's query input type where it has one (Google's `task_type`).

Needs the `[chroma]` extra. Chroma is imported here only: importing `aimlapi_embeddings` does not.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from typing import Any

from . import _arguments
from ._extras import missing_extra
from .client import (
    API_KEY_ENV,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MODEL,
    EmbeddingsClient,
)
from .models import InputRole, get_model_spec, warn_about_model

try:
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
    from chromadb.utils.embedding_functions import register_embedding_function
except ModuleNotFoundError as exc:
    raise missing_extra(exc, extra="chroma", needed_by="aimlapi_embeddings.chroma") from exc

__all__ = ["AimlapiEmbeddingFunction"]

NAME = "aimlapi"
# What the collection stores, and the kind of each value; anything else in a stored
# configuration is refused by validate_config.
_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "model_name": (str,),
    "api_base": (str, type(None)),
    "dimensions": (int, type(None)),
    "default_headers": (dict, type(None)),
    "api_key_env_var": (str,),
    "max_concurrency": (int,),
    "max_retries": (int,),
    "timeout": (int, float, type(None)),
}
# A collection's vectors were made by one model at one width: these cannot change under it.
_FIXED = ("model_name", "dimensions")


# Chroma builds the function of a reopened collection again from its configuration for every
# query: functions of the same settings and key share one client, and so its pooled
# connections, instead of each opening its own. Keyed by a digest of the key, never the key;
# the oldest goes when there are more (a dropped client closes its pool).
_CLIENTS_KEPT = 8
_clients: dict[tuple[str, str], EmbeddingsClient] = {}
_clients_lock = threading.Lock()


def _client_for(key: str, **settings: Any) -> EmbeddingsClient:
    identity = (
        json.dumps(settings, sort_keys=True, default=str),
        hashlib.sha256(key.encode()).hexdigest(),
    )
    with _clients_lock:
        client = _clients.get(identity)
        if client is None:
            client = EmbeddingsClient(api_key=key, **settings)  # checks the key, then holds it
            if len(_clients) >= _CLIENTS_KEPT:
                del _clients[next(iter(_clients))]
            _clients[identity] = client
        return client


@register_embedding_function
class AimlapiEmbeddingFunction(EmbeddingFunction[Documents]):  # type: ignore[misc]
    """AI/ML API embeddings for Chroma; the constructor mirrors `OpenAIEmbeddingFunction`.

    Args:
        api_key: the key; defaults to the environment variable named by `api_key_env_var`.
            Not stored in the collection: a reopened collection reads that variable.
        model_name: an AI/ML API model id (default text-embedding-3-small).
        api_base: the API root; defaults to AIMLAPI_BASE_URL, else the public API.
        dimensions: shorter vectors, for the models that accept it.
        default_headers: extra HTTP headers; credential-like ones are not stored.
        api_key_env_var: the variable holding the key (default AIMLAPI_API_KEY).
        max_concurrency, max_retries, timeout: as `EmbeddingsClient` takes them (timeout in
            seconds, stored as given).
    """

    def __init__(
        self,
        api_key: str | None = None,
        model_name: str = DEFAULT_MODEL,
        api_base: str | None = None,
        dimensions: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        api_key_env_var: str = API_KEY_ENV,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float | None = None,
    ) -> None:
        self._configure(
            model_name=model_name,
            api_base=api_base,
            dimensions=dimensions,
            default_headers=default_headers,
            api_key_env_var=api_key_env_var,
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            timeout=timeout,
        )
        # Made now, so that a missing key is an error where the function is made. The key goes
        # straight into the client, which holds it as a secret: no attribute of this object
        # holds it, so Chroma cannot store it and repr() cannot show it.
        self._client: EmbeddingsClient | None = self._connect(api_key)

    def _configure(
        self,
        *,
        model_name: str,
        api_base: str | None,
        dimensions: int | None,
        default_headers: Mapping[str, str] | None,
        api_key_env_var: str,
        max_concurrency: int,
        max_retries: int,
        timeout: float | None,
    ) -> None:
        if not isinstance(api_key_env_var, str) or not api_key_env_var:
            msg = "api_key_env_var must name an environment variable, such as 'AIMLAPI_API_KEY'"
            raise ValueError(msg)
        self.model_name = _arguments.model_id(model_name)
        self.api_base = api_base
        self.dimensions = _arguments.dimensions(dimensions)
        self.default_headers = _arguments.optional_default_headers(default_headers)
        self.api_key_env_var = api_key_env_var
        self.max_concurrency = _arguments.max_concurrency(max_concurrency)
        self.max_retries = _arguments.max_retries(max_retries)
        self.timeout = None if timeout is None else _arguments.seconds("timeout", timeout)
        spec = get_model_spec(self.model_name)
        warn_about_model(spec)
        spec.check_dimensions(self.dimensions)
        self._client = None

    def _connect(self, api_key: str | None) -> EmbeddingsClient:
        """The client for these settings and the key given, else the key in the variable."""
        if api_key is None and not os.environ.get(self.api_key_env_var, "").strip():
            msg = (
                f"no AI/ML API key: pass api_key=... or set the {self.api_key_env_var} "
                "environment variable (keys: https://aimlapi.com/app/keys)"
            )
            raise ValueError(msg)
        return _client_for(
            api_key if api_key is not None else os.environ[self.api_key_env_var],
            base_url=self.api_base,
            max_retries=self.max_retries,
            timeout=self.timeout,
            max_concurrency=self.max_concurrency,
            default_headers=self.default_headers,
        )

    def _core(self) -> EmbeddingsClient:
        if self._client is None:  # built from a stored configuration: the key from now on
            self._client = self._connect(None)
        return self._client

    def __repr__(self) -> str:
        return (
            f"AimlapiEmbeddingFunction(model_name={self.model_name!r}, "
            f"api_base={self.api_base!r}, dimensions={self.dimensions!r})"
        )

    def __call__(self, input: Documents) -> Embeddings:
        """Embed documents: one float32 vector per text, in order."""
        return self._embed(input, "document")

    def embed_query(self, input: Documents) -> Embeddings:
        """Embed search queries, with the model's query input type where it has one."""
        return self._embed(input, "query")

    def _embed(self, texts: Documents, role: InputRole) -> Embeddings:
        result = self._core().embed(
            texts,
            model=self.model_name,
            dimensions=self.dimensions,
            input_type=role,
            output="numpy",
        )
        return list(result.vectors)  # float32 rows of one array, as Chroma 1.x takes them

    def close(self) -> None:
        """Close the pooled connections now rather than when the function is dropped."""
        if self._client is not None:
            self._client.close()

    # -- Chroma's protocol: name, spaces, configuration --------------------------------------

    def is_legacy(self) -> bool:
        # Chroma's own test builds the function again from its configuration, on every read:
        # that needs the key's variable, which a key passed as api_key= does not set (each read
        # then warned that the function could not be rebuilt). Every method is implemented.
        return False

    @staticmethod
    def name() -> str:
        return NAME

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "l2", "ip"]

    def get_config(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "api_base": self.api_base,
            "dimensions": self.dimensions,
            "default_headers": _arguments.public_headers(self.default_headers) or None,
            "api_key_env_var": self.api_key_env_var,
            "max_concurrency": self.max_concurrency,
            "max_retries": self.max_retries,
            "timeout": self.timeout,
        }

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> AimlapiEmbeddingFunction:
        # Chroma calls this whenever it reads a collection's schema, adds and counts included:
        # the key is read from its variable only when the function first embeds, so a process
        # without it can still open, count and read the collection.
        AimlapiEmbeddingFunction.validate_config(config)
        defaults = {"api_base": None, "dimensions": None, "default_headers": None,
                    "max_concurrency": DEFAULT_MAX_CONCURRENCY,
                    "max_retries": DEFAULT_MAX_RETRIES, "timeout": None}  # fmt: skip
        function = AimlapiEmbeddingFunction.__new__(AimlapiEmbeddingFunction)
        function._configure(**{**defaults, **config})
        return function

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        """A stored configuration this class can be built from, or a ValueError saying why."""
        if not isinstance(config, dict):
            msg = f"an aimlapi configuration is a dict, not {type(config).__name__}"
            raise ValueError(msg)
        unknown = sorted(set(config) - set(_CONFIG_TYPES))
        if unknown:
            msg = f"an aimlapi configuration has no {', '.join(map(repr, unknown))}"
            raise ValueError(msg)
        for name in ("model_name", "api_key_env_var"):
            if name not in config:
                msg = f"an aimlapi configuration needs {name!r}"
                raise ValueError(msg)
        for name, value in config.items():
            kinds = _CONFIG_TYPES[name]
            if isinstance(value, bool) or not isinstance(value, kinds):
                expected = " or ".join(
                    "None" if kind is type(None) else kind.__name__ for kind in kinds
                )
                msg = (
                    f"aimlapi configuration: {name} must be {expected}, not {type(value).__name__}"
                )
                raise ValueError(msg)

    def validate_config_update(
        self, old_config: dict[str, Any], new_config: dict[str, Any]
    ) -> None:
        for name in _FIXED:
            if name in new_config and new_config[name] != old_config.get(name):
                msg = (
                    f"the collection's vectors were made with {name}={old_config.get(name)!r}; "
                    f"it cannot change to {new_config[name]!r}, as old and new vectors would not "
                    "compare: embed into a new collection instead"
                )
                raise ValueError(msg)
