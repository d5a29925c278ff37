"""`AimlapiEmbedding`: every AI/ML API embedding model as a LlamaIndex `BaseEmbedding`.

The class holds configuration and maps it onto `aimlapi_embeddings.EmbeddingsClient`; batching,
retries, concurrency, long-text handling and input validation all live in that core.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypedDict

import httpx
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic import InstanceOf
from typing_extensions import Self

from aimlapi_embeddings import (
    EmbeddingsClient,
    InputRole,
    LongText,
    OverItemLimit,
    _arguments,
    get_model_spec,
    validate_texts,
)
from aimlapi_embeddings._batching import DEFAULT_OVER_ITEM_LIMIT
from aimlapi_embeddings._migration import LLAMA_INDEX, names_of_fields, translate
from aimlapi_embeddings.client import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT,
    ProgressCallback,
    api_key_secret,
    resolve_base_url,
)
from aimlapi_embeddings.models import warn_about_model

__all__ = ["AimlapiEmbedding"]

# LlamaIndex's own ceiling for embed_batch_size (BaseEmbedding declares le=2048).
MAX_EMBED_BATCH_SIZE = 2048
# The progress bar of the batch call running in this thread or task, if it shows one: the core
# advances it as each request finishes. A context variable, not an attribute, so that calls
# running at once on one object (threads, tasks) each advance their own bar.
_progress_bar: ContextVar[Any] = ContextVar("aimlapi_llama_index_progress_bar", default=None)


class _CallOptions(TypedDict):
    model: str
    dimensions: int | None
    input_type: InputRole
    long_text: LongText
    over_item_limit: OverItemLimit
    batch_size: int | None
    extra_body: dict[str, Any] | None


class AimlapiEmbedding(BaseEmbedding):
    """Embeddings from any AI/ML API model (https://aimlapi.com), for LlamaIndex.

    Setup:
        pip install "aimlapi-embeddings[llama-index]"
        export AIMLAPI_API_KEY="..."

    Key init args (keyword-only):
        model: the model id, e.g. "text-embedding-3-small" (the default) or "voyage-large-2".
        api_key: defaults to the AIMLAPI_API_KEY environment variable.
        base_url (alias api_base): defaults to AIMLAPI_BASE_URL / AIMLAPI_API_BASE, else the
            public API.
        dimensions: shorter vectors, for the models that accept it.
        embed_batch_size: texts per request, as with OpenAIEmbedding (within the model's
            limits). Unset (the default), LlamaIndex's chunks hold the model's inputs per request
            times max_concurrency texts (at most 2048) and the client keeps every request busy.
        additional_kwargs: extra request fields, checked against the model's published schema.
        OpenAIEmbedding's other arguments are mapped, ignored with a warning or refused with
        what to use instead: see the README's migration table.
        max_concurrency, max_retries, timeout, default_headers, long_text, over_item_limit
        ("alone" or "split": texts over Voyage's 800-character list items), allow_insecure_http.

    Instantiate:
        from llama_index.core import Settings
        from llama_index_aimlapi import AimlapiEmbedding

        Settings.embed_model = AimlapiEmbedding(model="text-embedding-3-small")

    Embed:
        vector = embed_model.get_query_embedding("What is RAG?")
        vectors = embed_model.get_text_embedding_batch(["first text", "second text"])

    Async:
        vector = await embed_model.aget_query_embedding("What is RAG?")
        vectors = await embed_model.aget_text_embedding_batch(["first text", "second text"])

    The key is a `SecretStr`: it never appears in `repr()`, `to_dict()` or `to_json()`.
    `from_dict()` / `from_json()` take it from AIMLAPI_API_KEY or an explicit `api_key=`.
    Instances pickle and deep-copy; the copy builds its own connection pools.
    """

    # hide_input_in_errors: a ValidationError would otherwise print the arguments.
    # validate_assignment: a field set later goes through the same checks.
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        protected_namespaces=(),
        arbitrary_types_allowed=True,
        hide_input_in_errors=True,
        validate_assignment=True,
    )

    model_name: str = Field(
        default=DEFAULT_MODEL,
        description="The AI/ML API embedding model id (the `model` init argument).",
    )
    api_key: SecretStr = Field(
        description="The AI/ML API key; defaults to AIMLAPI_API_KEY. Never serialised.",
        exclude=True,
        frozen=True,
    )
    base_url: str = Field(
        description="The API's base URL; defaults to AIMLAPI_BASE_URL, AIMLAPI_API_BASE, "
        "else https://api.aimlapi.com/v1.",
        alias="api_base",
        frozen=True,
    )
    dimensions: int | None = Field(
        default=None,
        description="Width of the returned vectors, for models that can shorten them.",
        ge=1,
    )
    embed_batch_size: int = Field(
        default=MAX_EMBED_BATCH_SIZE,
        description="Texts per request when set, as with OpenAIEmbedding (None in to_dict when "
        "unset); unset, each LlamaIndex chunk holds the model's inputs per request times "
        "max_concurrency texts (at most 2048) and the client keeps every request slot busy.",
        ge=1,
        le=MAX_EMBED_BATCH_SIZE,
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra fields sent in every request body, checked against the model's "
        "published schema.",
    )
    max_concurrency: int = Field(
        default=DEFAULT_MAX_CONCURRENCY,
        description="Requests in flight at once for the whole instance (all threads, tasks and "
        "event loops).",
        ge=1,
        frozen=True,
    )
    max_retries: int = Field(
        default=DEFAULT_MAX_RETRIES,
        description="Retries of a failed request (429, 5xx, timeouts, dropped connections).",
        ge=0,
        frozen=True,
    )
    timeout: float | InstanceOf[httpx.Timeout] | None = Field(
        default=None,
        description="Seconds per request as a whole, or an httpx.Timeout; None: "
        f"{DEFAULT_TIMEOUT.read:g} s ({DEFAULT_TIMEOUT.connect:g} s to connect).",
        frozen=True,
    )
    default_headers: dict[str, str] = Field(
        default_factory=dict,
        description="Extra HTTP headers for every request. Credential-like headers are not "
        "serialised.",
        repr=False,
        frozen=True,
    )
    long_text: LongText = Field(
        default="chunk",
        description='Texts over the model\'s context: "chunk" (embed the pieces and average), '
        '"truncate", or "error".',
    )
    over_item_limit: OverItemLimit = Field(
        default=DEFAULT_OVER_ITEM_LIMIT,
        description="Texts over the model's list-item limit (Voyage: 800 characters): "
        '"alone" sends each as one string in its own request (its exact vector); "split" cuts '
        "them into item-sized pieces that batch with the rest (fewer requests; the vector is "
        "the mean of the pieces).",
    )
    allow_insecure_http: bool = Field(
        default=False,
        description="Allow sending the key over plain http to a host other than this machine.",
        frozen=True,
    )

    _client: EmbeddingsClient = PrivateAttr()
    # The caller's embed_batch_size, texts per request; None: the client plans request sizes.
    _batch_size: int | None = PrivateAttr(default=None)

    def __init__(
        self,
        *,
        model: str | None = None,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        api_base: str | None = None,
        dimensions: int | None = None,
        embed_batch_size: int | None = None,
        additional_kwargs: Mapping[str, Any] | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float | httpx.Timeout | None = None,
        default_headers: Mapping[str, str] | None = None,
        long_text: LongText = "chunk",
        over_item_limit: OverItemLimit = DEFAULT_OVER_ITEM_LIMIT,
        allow_insecure_http: bool = False,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> None:
        """Resolve credentials and model rules; no network I/O.

        `transport` / `async_transport` are handed to the underlying httpx clients (tests,
        proxies). They are not serialised; a pickled copy keeps them only if they pickle.
        Other keyword arguments are `BaseEmbedding`'s own fields (`callback_manager`,
        `num_workers`, `embeddings_cache`, ...) and `model_name`, which `to_dict()` writes.
        """
        try:
            secret = api_key_secret(api_key)
        finally:
            del api_key  # a traceback that prints locals shows the Secret from here on: stars
        model = _pick("model", model, "model_name", kwargs.pop("model_name", None))
        base_url = _pick("base_url", base_url, "api_base", api_base)
        model = _arguments.model_id(DEFAULT_MODEL if model is None else model)
        spec = get_model_spec(model)
        # Surface mistakes where the object is made, not at the first embedding call.
        warn_about_model(spec)
        dimensions = _arguments.dimensions(dimensions)
        spec.check_dimensions(dimensions)
        super().__init__(
            model_name=model,
            api_key=SecretStr(secret.reveal()),
            base_url=resolve_base_url(base_url),
            dimensions=dimensions,
            embed_batch_size=MAX_EMBED_BATCH_SIZE if embed_batch_size is None else embed_batch_size,
            additional_kwargs=additional_kwargs,
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            timeout=timeout,
            default_headers=dict(default_headers or {}),
            long_text=long_text,
            over_item_limit=over_item_limit,
            allow_insecure_http=allow_insecure_http,
            **kwargs,
        )
        if embed_batch_size is None:
            # LlamaIndex's sync path sends one chunk of embed_batch_size texts at a time; a chunk
            # of the model's inputs per request would be one request, and max_concurrency idle.
            self.embed_batch_size = min(
                spec.max_inputs * self.max_concurrency, MAX_EMBED_BATCH_SIZE
            )
        self._batch_size = embed_batch_size
        self._client = EmbeddingsClient(
            api_key=self.api_key,
            base_url=self.base_url,
            max_retries=self.max_retries,
            timeout=self.timeout,
            max_concurrency=self.max_concurrency,
            default_headers=self.default_headers,
            allow_insecure_http=self.allow_insecure_http,
            transport=transport,
            async_transport=async_transport,
        )

    @model_validator(mode="before")
    @classmethod
    def _from_openai_arguments(cls, values: Any) -> Any:
        # OpenAIEmbedding's argument names: mapped, ignored with one warning, or refused with
        # what to use instead (aimlapi_embeddings._migration holds the table).
        if not isinstance(values, dict):
            return values
        return translate(LLAMA_INDEX, values, names_of_fields(cls.model_fields))

    def __setattr__(self, name: str, value: Any) -> None:
        field = type(self).model_fields.get(name)
        if field is not None and field.frozen:
            # pydantic's own "Field is frozen" error quotes the value, which may be the key (or
            # a header's token): this one does not repeat it.
            msg = (
                f"{name} is frozen: the client was built with it. Make a new object, or "
                f"embedding.model_copy(update={{{name!r}: ...}})"
            )
            raise ValueError(msg)
        super().__setattr__(name, value)
        if name == "embed_batch_size":  # set by the caller after construction: texts per request
            self._batch_size = self.embed_batch_size

    # Each argument goes through the core's own check (aimlapi_embeddings._arguments), so a bad
    # value is the same error here as in EmbeddingsClient: no bool for an int, no "8" for 8.

    @field_validator("*", mode="before")
    @classmethod
    def _check_argument(cls, value: object, info: ValidationInfo) -> object:
        name = str(info.field_name)
        return _arguments.check(name, value) if name in _arguments.CHECKED else value

    def close(self) -> None:
        """Close the pooled connections of sync calls; they reopen on the next call."""
        self._client.close()

    async def aclose(self) -> None:
        """Close the running event loop's pooled connections; they reopen on the next call."""
        await self._client.aclose()

    @classmethod
    def class_name(cls) -> str:
        return "AimlapiEmbedding"

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        # pydantic's model_copy sets `update` without validation and keeps this object's client:
        # a new key would stay a plain str, and the old one would still be sent. A copy with
        # changes is made as a new object is: checked, the key a secret, a client of its own.
        if not update:
            return super().model_copy(deep=deep)
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        fields["embed_batch_size"] = self._batch_size
        names_of = names_of_fields(type(self).model_fields)
        for name in update:  # a field updated under its alias (api_base) replaces its value
            for other in names_of.get(name, frozenset()) - {name}:
                fields.pop(other, None)
        try:
            return type(self)(
                **{**fields, **update},
                transport=self._client._transport,
                async_transport=self._client._async_transport,
            )
        finally:
            update = None  # a traceback that prints locals would show a key given in it

    def __setstate__(self, state: dict[str, Any]) -> None:
        # BaseComponent unpickles by re-running __init__ on the fields, which builds a client
        # without the caller's transport; the pickled client, when it could travel, has it.
        super().__setstate__(state)
        private = state.get("__pydantic_private__") or {}
        client = private.get("_client")
        if isinstance(client, EmbeddingsClient):
            self._client = client
        # That __init__ took the chunk size for one the caller set; what the caller set is here.
        self._batch_size = private.get("_batch_size")

    @field_validator("additional_kwargs", mode="before")
    @classmethod
    def _check_additional_kwargs(cls, value: object) -> dict[str, Any]:
        return _arguments.extra_body(value, name="additional_kwargs")

    @field_serializer("embed_batch_size")
    def _serialize_batch_size(self, _: int) -> int | None:
        # None when the client plans request sizes: from_dict() then plans them too.
        return self._batch_size

    @field_serializer("default_headers")
    def _serialize_headers(self, headers: dict[str, str]) -> dict[str, str]:
        # Credential-like headers stay in the live object, out of to_dict/to_json.
        return _arguments.public_headers(headers)

    # -- batch entry points: the whole list is checked before BaseEmbedding cuts it up -----------

    # BaseEmbedding iterates and chunks `texts` itself: a bare string would be embedded letter
    # by letter, and a bad text named by its index within a chunk. So the whole list is checked
    # first. Its progress bar would count texts as they go into a chunk (0, then all of them
    # once the one chunk is answered); ours counts them as the requests carrying them finish.
    # BaseEmbedding still runs the chunks, with its callback and instrumentation events.

    def get_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        checked = validate_texts(texts)
        with _progress(len(checked), show_progress):
            return super().get_text_embedding_batch(checked, False, **kwargs)

    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        checked = validate_texts(texts)
        with _progress(len(checked), show_progress):
            return await super().aget_text_embedding_batch(checked, False, **kwargs)

    # -- the hooks BaseEmbedding calls ------------------------------------------------------------

    def _options(self, input_type: InputRole) -> _CallOptions:
        """The per-call arguments of the core client, read from the fields at call time."""
        return _CallOptions(
            model=self.model_name,
            dimensions=self.dimensions,
            input_type=input_type,
            long_text=self.long_text,
            over_item_limit=self.over_item_limit,
            batch_size=self._batch_size,
            extra_body=self.additional_kwargs or None,
        )

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        options = self._options("document")
        return self._client.embed(texts, **options, on_progress=_advance_bar()).vectors

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        options = self._options("document")
        return (await self._client.aembed(texts, **options, on_progress=_advance_bar())).vectors

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._client.embed([query], **self._options("query")).vectors[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._client.aembed([query], **self._options("query"))).vectors[0]


@contextmanager
def _progress(total: int, show: bool) -> Iterator[None]:
    """A bar over `total` texts for the batch call inside, advanced by its requests."""
    if not show:
        yield
        return
    # tqdm comes with llama-index-core; imported by name, as it ships no type hints.
    tqdm = importlib.import_module("tqdm.auto").tqdm
    with tqdm(total=total, desc="Generating embeddings", unit="text") as bar:
        token = _progress_bar.set(bar)
        try:
            yield
        finally:
            _progress_bar.reset(token)
        bar.update(total - bar.n)  # texts LlamaIndex's embeddings_cache answered, never sent


def _advance_bar() -> ProgressCallback | None:
    """A progress callback for one core call that moves the running batch call's bar."""
    bar = _progress_bar.get()
    if bar is None:
        return None
    reported = 0

    def advance(done: int, _total: int) -> None:
        nonlocal reported
        bar.update(done - reported)
        reported = done

    return advance


def _pick(name: str, value: str | None, other_name: str, other: str | None) -> str | None:
    """One value given under either of two names; both given and different is a mistake."""
    if value is not None and other is not None and value != other:
        msg = f"pass {name}= or {other_name}=, not both ({value!r} != {other!r})"
        raise ValueError(msg)
    return value if value is not None else other
