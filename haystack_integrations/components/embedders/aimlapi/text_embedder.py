"""`AimlapiTextEmbedder`: a query (or any one string) to one vector, for an embedding retriever."""

from __future__ import annotations

from typing import Any

from aimlapi_embeddings import LongText, OverItemLimit
from aimlapi_embeddings._extras import missing_extra

from ._base import (
    API_KEY,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MODEL,
    DEFAULT_OVER_ITEM_LIMIT,
    AimlapiEmbedder,
    meta_of,
)

try:
    from haystack import component, default_from_dict, default_to_dict
    from haystack.utils import Secret, deserialize_secrets_inplace
except ModuleNotFoundError as exc:
    raise missing_extra(
        exc, extra="haystack", needed_by="haystack_integrations.components.embedders.aimlapi"
    ) from exc

__all__ = ["AimlapiTextEmbedder"]


@component
class AimlapiTextEmbedder(AimlapiEmbedder):
    """Embeds a string with an AI/ML API model; the constructor mirrors `OpenAITextEmbedder`.

    It embeds as a *query*: models that tell queries from documents (Google's `task_type`) get
    the query type, so pair it with `AimlapiDocumentEmbedder` on the same model.

    Args:
        api_key: the key, as a Secret (default: the `AIMLAPI_API_KEY` environment variable).
        model: an AI/ML API model id (default text-embedding-3-small).
        dimensions: shorter vectors, for the models that accept it.
        api_base_url: the API root; defaults to AIMLAPI_BASE_URL, else the public API.
        prefix, suffix: added around the text.
        timeout: seconds per request (None: 60 s, 10 s to connect).
        max_retries: retries of a failed request (None: 4).
        http_client_kwargs: only `{"headers": {...}}`, sent with every request; the client pools
            its own connections, so other httpx arguments are refused by name.
        max_concurrency: requests in flight at once for this component.
        long_text: a text over the model's context: "chunk" (mean of pieces), "truncate" or
            "error".
        over_item_limit: texts over the model's list-item limit (Voyage: 800 characters):
            "alone" (its own request, exact vector) or "split".
    """

    _role = "query"

    def __init__(
        self,
        api_key: Secret = API_KEY,
        model: str = DEFAULT_MODEL,
        dimensions: int | None = None,
        api_base_url: str | None = None,
        prefix: str = "",
        suffix: str = "",
        timeout: float | None = None,
        max_retries: int | None = None,
        http_client_kwargs: dict[str, Any] | None = None,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        long_text: LongText = "chunk",
        over_item_limit: OverItemLimit = DEFAULT_OVER_ITEM_LIMIT,
    ) -> None:
        self._configure(
            api_key=api_key,
            model=model,
            dimensions=dimensions,
            api_base_url=api_base_url,
            prefix=prefix,
            suffix=suffix,
            timeout=timeout,
            max_retries=max_retries,
            http_client_kwargs=http_client_kwargs,
            max_concurrency=max_concurrency,
            long_text=long_text,
            over_item_limit=over_item_limit,
        )

    def to_dict(self) -> dict[str, Any]:
        """The component as Haystack serialises it: the key's variable name, never the key."""
        data: dict[str, Any] = default_to_dict(self, **self._init_parameters())
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AimlapiTextEmbedder:
        """The component `to_dict` described."""
        data = {**data, "init_parameters": dict(data.get("init_parameters", {}))}
        deserialize_secrets_inplace(data["init_parameters"], keys=["api_key"])
        embedder: AimlapiTextEmbedder = default_from_dict(cls, data)
        return embedder

    def _text(self, text: object) -> list[str]:
        if not isinstance(text, str):
            msg = (
                "AimlapiTextEmbedder expects a string as input; to embed a list of Documents, "
                f"use AimlapiDocumentEmbedder (got {type(text).__name__})"
            )
            raise TypeError(msg)
        return [self.prefix + text + self.suffix]

    @component.output_types(embedding=list[float], meta=dict[str, Any])  # type: ignore[untyped-decorator]
    def run(self, text: str) -> dict[str, Any]:
        """Embed one string: `{"embedding": [...], "meta": {"model", "usage"}}`.

        Raises:
            aimlapi_embeddings.AimlapiError: the API failed after retries.
        """
        texts = self._text(text)
        result = self._core().embed(texts, **self._options())
        return {"embedding": result.vectors[0], "meta": meta_of(self.model, result.usage)}

    @component.output_types(embedding=list[float], meta=dict[str, Any])  # type: ignore[untyped-decorator]
    async def run_async(self, text: str) -> dict[str, Any]:
        """`run` on the running event loop's connection pool."""
        texts = self._text(text)
        result = await self._core().aembed(texts, **self._options())
        return {"embedding": result.vectors[0], "meta": meta_of(self.model, result.usage)}
