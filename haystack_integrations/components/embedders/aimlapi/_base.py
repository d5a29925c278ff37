"""What both Haystack embedders share: their configuration, checked at construction, and the
core client built from it on `warm_up`.

The components are a thin layer: batching, concurrency, retries, long texts and every per-model
rule are `aimlapi_embeddings.EmbeddingsClient`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aimlapi_embeddings import LongText, OverItemLimit, _arguments, get_model_spec
from aimlapi_embeddings._batching import DEFAULT_OVER_ITEM_LIMIT
from aimlapi_embeddings._extras import missing_extra
from aimlapi_embeddings.client import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MODEL,
    EmbeddingsClient,
    EmbedOptions,
    check_base_url,
    resolve_base_url,
)
from aimlapi_embeddings.models import InputRole, warn_about_model

try:
    from haystack.utils import Secret
except ModuleNotFoundError as exc:
    raise missing_extra(
        exc, extra="haystack", needed_by="haystack_integrations.components.embedders.aimlapi"
    ) from exc

API_KEY = Secret.from_env_var("AIMLAPI_API_KEY")
_LONG_TEXT = ("chunk", "truncate", "error")
_OVER_ITEM_LIMIT = ("alone", "split")


def _choice(name: str, value: object, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        msg = f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}"
        raise ValueError(msg)
    return value


def _string(name: str, value: object) -> str:
    if not isinstance(value, str):
        msg = f"{name} must be a str, not {type(value).__name__}"
        raise TypeError(msg)
    return value


def http_headers(http_client_kwargs: object) -> dict[str, str] | None:
    """The headers of `http_client_kwargs`, the only key the core takes from it.

    The core builds and pools its own httpx clients (one per event loop, bounded by
    max_concurrency), so the other `httpx.Client` arguments Haystack's OpenAI embedders pass
    through have no client to go to: refused by name rather than silently dropped. Proxies and
    certificates come from the environment (HTTPS_PROXY, SSL_CERT_FILE), for https only.
    """
    if http_client_kwargs is None:
        return None
    if not isinstance(http_client_kwargs, Mapping):
        msg = f"http_client_kwargs must be a dict, not {type(http_client_kwargs).__name__}"
        raise TypeError(msg)
    other = sorted(set(http_client_kwargs) - {"headers"})
    if other:
        msg = (
            f"http_client_kwargs: only 'headers' is supported, not {', '.join(map(repr, other))}; "
            "the client pools its own connections (timeout=, max_retries= and max_concurrency= "
            "are arguments of the embedder; proxies and certificates come from HTTPS_PROXY and "
            "SSL_CERT_FILE)"
        )
        raise ValueError(msg)
    return _arguments.optional_default_headers(http_client_kwargs.get("headers"))


class AimlapiEmbedder:
    """Configuration common to `AimlapiTextEmbedder` and `AimlapiDocumentEmbedder`."""

    _role: InputRole

    # Not __init__: Haystack's @component rebuilds each class, which breaks super() in theirs.
    def _configure(
        self,
        *,
        api_key: Secret,
        model: str,
        dimensions: int | None,
        api_base_url: str | None,
        prefix: str,
        suffix: str,
        timeout: float | None,
        max_retries: int | None,
        http_client_kwargs: dict[str, Any] | None,
        max_concurrency: int,
        long_text: LongText,
        over_item_limit: OverItemLimit,
    ) -> None:
        if not isinstance(api_key, Secret):
            msg = (
                "api_key must be a haystack.utils.Secret, such as "
                f"Secret.from_env_var('AIMLAPI_API_KEY'), not {type(api_key).__name__}"
            )
            raise TypeError(msg)
        self.api_key = api_key
        self.model = _arguments.model_id(model)
        self.dimensions = _arguments.dimensions(dimensions)
        self.api_base_url = api_base_url
        self.prefix = _string("prefix", prefix)
        self.suffix = _string("suffix", suffix)
        self.timeout = None if timeout is None else _arguments.seconds("timeout", timeout)
        self.max_retries = None if max_retries is None else _arguments.max_retries(max_retries)
        self.http_client_kwargs = http_client_kwargs
        self._headers = http_headers(http_client_kwargs)
        self.max_concurrency = _arguments.max_concurrency(max_concurrency)
        self.long_text: LongText = _choice("long_text", long_text, _LONG_TEXT)
        self.over_item_limit: OverItemLimit = _choice(
            "over_item_limit", over_item_limit, _OVER_ITEM_LIMIT
        )
        spec = get_model_spec(self.model)
        warn_about_model(spec)
        spec.check_dimensions(self.dimensions)
        if api_base_url is not None:
            # A plain-http host other than this machine would get the key: refused now.
            check_base_url(resolve_base_url(api_base_url), allow_insecure_http=False)
        self._client: EmbeddingsClient | None = None

    def warm_up(self) -> None:
        """Build the core client (no network I/O); `run` does it too when it was not called."""
        if self._client is None:
            self._client = EmbeddingsClient(
                # Resolved here, not at construction: a pipeline loaded from YAML needs the key
                # only when it runs. Straight into the client, which holds it as a secret.
                api_key=self.api_key.resolve_value(),
                base_url=self.api_base_url,
                max_retries=DEFAULT_MAX_RETRIES if self.max_retries is None else self.max_retries,
                timeout=self.timeout,
                max_concurrency=self.max_concurrency,
                default_headers=self._headers,
            )

    def close(self) -> None:
        """Close the pooled connections of sync runs (the next run opens new ones)."""
        if self._client is not None:
            self._client.close()

    async def close_async(self) -> None:
        """Close the running event loop's pooled connections."""
        if self._client is not None:
            await self._client.aclose()

    def _core(self) -> EmbeddingsClient:
        self.warm_up()
        assert self._client is not None  # built by warm_up
        return self._client

    def _options(self, batch_size: int | None = None) -> EmbedOptions:
        return EmbedOptions(
            model=self.model,
            dimensions=self.dimensions,
            input_type=self._role,
            long_text=self.long_text,
            over_item_limit=self.over_item_limit,
            batch_size=batch_size,
        )

    def _init_parameters(self) -> dict[str, Any]:
        """What `to_dict` writes: the key as its Secret (an env var name; a token refuses to be
        serialised), and no credential-like header."""
        kwargs = self.http_client_kwargs
        if kwargs is not None and self._headers is not None:
            kwargs = {**kwargs, "headers": _arguments.public_headers(self._headers)}
        return {
            "api_key": self.api_key,
            "model": self.model,
            "dimensions": self.dimensions,
            "api_base_url": self.api_base_url,
            "prefix": self.prefix,
            "suffix": self.suffix,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "http_client_kwargs": kwargs,
            "max_concurrency": self.max_concurrency,
            "long_text": self.long_text,
            "over_item_limit": self.over_item_limit,
        }


def meta_of(model: str, usage: Any) -> dict[str, Any]:
    """`meta` as Haystack's OpenAI embedders give it: the model and the tokens of the call."""
    counts = {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.total_tokens}
    if usage.credits is not None:
        counts["credits"] = usage.credits
    return {"model": model, "usage": counts}


__all__ = ["API_KEY", "DEFAULT_MAX_CONCURRENCY", "DEFAULT_MODEL", "DEFAULT_OVER_ITEM_LIMIT"]
