"""`AimlapiDocumentEmbedder`: Haystack Documents with their embeddings, for a document store."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from aimlapi_embeddings import (
    AimlapiError,
    BadRequestError,
    EmbeddingChunk,
    InvalidInputError,
    LongText,
    OverItemLimit,
    Usage,
    _arguments,
)
from aimlapi_embeddings._extras import missing_extra
from aimlapi_embeddings._stream import StreamProgress

from ._base import (
    API_KEY,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MODEL,
    DEFAULT_OVER_ITEM_LIMIT,
    AimlapiEmbedder,
    meta_of,
)

try:
    from haystack import Document, component, default_from_dict, default_to_dict
    from haystack.utils import Secret, deserialize_secrets_inplace
except ModuleNotFoundError as exc:
    raise missing_extra(
        exc, extra="haystack", needed_by="haystack_integrations.components.embedders.aimlapi"
    ) from exc

__all__ = ["AimlapiDocumentEmbedder"]

logger = logging.getLogger(__name__)


def _refused(error: AimlapiError, sent: int) -> range | tuple[int, ...]:
    """Positions, in one pass's texts, that `error` says cannot be embedded: those of a refused
    request (400) or the one invalid text. Any other error leaves no reason to expect the rest
    to succeed: every text not yet delivered."""
    if isinstance(error, BadRequestError) and error.indices:
        return error.indices
    if isinstance(error, InvalidInputError) and error.index is not None:
        return (error.index,)
    return range(error.resume_from or 0, sent)


class _Job:
    """The documents' texts over one or more passes of the core's stream: vectors as chunks
    arrive, the texts left after a failure, and which failed. Shared by run and run_async."""

    def __init__(self, texts: list[str], bar: Any) -> None:
        self.texts = texts
        self.vectors: list[list[float] | None] = [None] * len(texts)
        self.pending = list(range(len(texts)))
        self.failed: list[int] = []
        self.usage = Usage()
        self._bar = bar

    def batch(self) -> list[str]:
        """The texts of the next pass: all of them, then those left after a failure."""
        return [self.texts[index] for index in self.pending]

    def progress(self) -> StreamProgress:
        settled = len(self.texts) - len(self.pending)

        def advance(done: int, _total: int | None) -> None:
            self._bar.update(settled + done - self._bar.n)

        return advance

    def take(self, chunk: EmbeddingChunk[list[list[float]]]) -> None:
        for offset, vector in enumerate(chunk.vectors):
            self.vectors[self.pending[chunk.start + offset]] = vector
        self.usage += chunk.usage

    def failed_with(self, error: AimlapiError) -> bool:
        """Record what `error` refused; whether another pass should embed what is left."""
        delivered = error.resume_from or 0
        refused = {self.pending[position] for position in _refused(error, len(self.pending))}
        self.failed.extend(sorted(refused))
        self.pending = [index for index in self.pending[delivered:] if index not in refused]
        # Each further pass drops at least one text, so passes end; a failure that names no
        # text (the API down, a bad key) ends them at once.
        return bool(refused) and bool(self.pending)


@component
class AimlapiDocumentEmbedder(AimlapiEmbedder):
    """Embeds Documents with an AI/ML API model; the constructor mirrors `OpenAIDocumentEmbedder`.

    It embeds as *documents* (models that tell them from queries get the document input type),
    all of a run's documents in one call of the core client: parallel requests sized within the
    model's limits, retried, one vector per document in order. Documents come back as copies;
    the input is not changed. A document whose content is None or empty is embedded as the empty
    string (with its meta fields), as Haystack's embedders do.

    Args:
        api_key, model, dimensions, api_base_url, prefix, suffix, timeout, max_retries,
            http_client_kwargs, max_concurrency, long_text, over_item_limit: as for
            `AimlapiTextEmbedder`.
        batch_size: most texts per request; None (default) lets the client size requests
            within the model's limits.
        progress_bar: a tqdm bar over the documents.
        meta_fields_to_embed: meta fields embedded with the content, before it.
        embedding_separator: what joins those fields and the content.
        raise_on_failure: False (default, as OpenAIDocumentEmbedder): a request that fails
            after retries leaves its documents without embedding, logged by id, and the others
            are still embedded (a failure naming no document, such as a bad key, leaves every
            document not yet embedded). True: the `AimlapiError` is raised.
    """

    _role = "document"

    def __init__(
        self,
        api_key: Secret = API_KEY,
        model: str = DEFAULT_MODEL,
        dimensions: int | None = None,
        api_base_url: str | None = None,
        prefix: str = "",
        suffix: str = "",
        batch_size: int | None = None,
        progress_bar: bool = True,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        timeout: float | None = None,
        max_retries: int | None = None,
        http_client_kwargs: dict[str, Any] | None = None,
        *,
        raise_on_failure: bool = False,
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
        self.batch_size = _arguments.batch_size(batch_size)
        self.progress_bar = _arguments.flag("progress_bar", progress_bar)
        fields = list(meta_fields_to_embed or [])
        if not all(isinstance(field, str) for field in fields):
            msg = "meta_fields_to_embed must be a list of meta field names (str)"
            raise TypeError(msg)
        self.meta_fields_to_embed = fields
        if not isinstance(embedding_separator, str):
            msg = f"embedding_separator must be a str, not {type(embedding_separator).__name__}"
            raise TypeError(msg)
        self.embedding_separator = embedding_separator
        self.raise_on_failure = _arguments.flag("raise_on_failure", raise_on_failure)

    def to_dict(self) -> dict[str, Any]:
        """The component as Haystack serialises it: the key's variable name, never the key."""
        data: dict[str, Any] = default_to_dict(
            self,
            **self._init_parameters(),
            batch_size=self.batch_size,
            progress_bar=self.progress_bar,
            meta_fields_to_embed=self.meta_fields_to_embed,
            embedding_separator=self.embedding_separator,
            raise_on_failure=self.raise_on_failure,
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AimlapiDocumentEmbedder:
        """The component `to_dict` described."""
        data = {**data, "init_parameters": dict(data.get("init_parameters", {}))}
        deserialize_secrets_inplace(data["init_parameters"], keys=["api_key"])
        embedder: AimlapiDocumentEmbedder = default_from_dict(cls, data)
        return embedder

    def _texts(self, documents: object) -> list[str]:
        if not isinstance(documents, list) or not all(
            isinstance(document, Document) for document in documents
        ):
            msg = (
                "AimlapiDocumentEmbedder expects a list of Documents as input; to embed a "
                "string, use AimlapiTextEmbedder"
            )
            raise TypeError(msg)
        texts = []
        for document in documents:
            fields = [
                str(document.meta[key])
                for key in self.meta_fields_to_embed
                if document.meta.get(key) is not None
            ]
            joined = self.embedding_separator.join([*fields, document.content or ""])
            texts.append(self.prefix + joined + self.suffix)
        return texts

    @contextmanager
    def _job(self, documents: list[Document]) -> Iterator[_Job]:
        texts = self._texts(documents)
        tqdm = importlib.import_module("tqdm.auto").tqdm  # haystack-ai's own dependency
        with tqdm(
            total=len(texts), disable=not self.progress_bar, desc="Calculating embeddings"
        ) as bar:
            yield _Job(texts, bar)

    def _failed(self, job: _Job, documents: list[Document], error: AimlapiError) -> bool:
        if self.raise_on_failure:
            raise error
        before = len(job.failed)
        go_on = job.failed_with(error)
        ids = ", ".join(documents[index].id for index in job.failed[before:])
        logger.error("Failed embedding of documents %s caused by %s", ids, error)
        return go_on

    def _output(self, job: _Job, documents: list[Document]) -> dict[str, Any]:
        embedded = [
            replace(document) if vector is None else replace(document, embedding=vector)
            for document, vector in zip(documents, job.vectors, strict=True)
        ]
        return {"documents": embedded, "meta": meta_of(self.model, job.usage)}

    @component.output_types(documents=list[Document], meta=dict[str, Any])  # type: ignore[untyped-decorator]
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """Embed documents: `{"documents": copies with .embedding, "meta": {"model", "usage"}}`.

        Raises:
            aimlapi_embeddings.AimlapiError: with raise_on_failure=True, a request failed after
                retries.
        """
        with self._job(documents) as job:
            while job.pending:
                stream = self._core().embed_stream(
                    job.batch(), on_progress=job.progress(), **self._options(self.batch_size)
                )
                try:
                    for chunk in stream:
                        job.take(chunk)
                except AimlapiError as error:
                    if not self._failed(job, documents, error):
                        break
                else:
                    break
        return self._output(job, documents)

    @component.output_types(documents=list[Document], meta=dict[str, Any])  # type: ignore[untyped-decorator]
    async def run_async(self, documents: list[Document]) -> dict[str, Any]:
        """`run` on the running event loop's connection pool."""
        with self._job(documents) as job:
            while job.pending:
                stream = self._core().aembed_stream(
                    job.batch(), on_progress=job.progress(), **self._options(self.batch_size)
                )
                try:
                    async for chunk in stream:
                        job.take(chunk)
                except AimlapiError as error:
                    if not self._failed(job, documents, error):
                        break
                else:
                    break
        return self._output(job, documents)
