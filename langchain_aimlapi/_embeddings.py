"""`AimlapiEmbeddings`: every AI/ML API embedding model as a LangChain `Embeddings`.

The class holds configuration and maps it onto `aimlapi_embeddings.EmbeddingsClient`; batching,
concurrency, retries, long texts and input checks all happen in that core, once.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from langchain_core.embeddings import Embeddings
from langchain_core.load.serializable import Serializable
from langchain_core.utils import secret_from_env
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    InstanceOf,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from aimlapi_embeddings import (
    EmbeddingsClient,
    LongText,
    OverItemLimit,
    _arguments,
    get_model_spec,
)
from aimlapi_embeddings._batching import DEFAULT_OVER_ITEM_LIMIT
from aimlapi_embeddings._extras import missing_extra
from aimlapi_embeddings._migration import LANGCHAIN, names_of_fields, translate
from aimlapi_embeddings.client import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MODEL,
    EmbedOptions,
    ProgressCallback,
    api_key_secret,
    resolve_base_url,
)
from aimlapi_embeddings.models import InputRole, warn_about_model

__all__ = ["AimlapiEmbeddings"]

# Argument names besides the fields: a model_kwargs entry by one of these names is a mistake.
_OTHER_ARGUMENT_NAMES = frozenset(
    {"api_key", "model_name", "aimlapi_api_base"} | {row.name for row in LANGCHAIN.arguments}
)
# The names a key may arrive under, each wrapped in a SecretStr before anything else sees it.
_KEY_NAMES = ("api_key", "aimlapi_api_key", "openai_api_key")


@functools.cache
def _field_names(cls: type[BaseModel]) -> dict[str, str]:
    """Each name `cls`'s fields accept, mapped to its field's own name."""
    return {
        name: next(field for field in names if field in cls.model_fields)
        for name, names in names_of_fields(cls.model_fields).items()
    }


def _tqdm_class() -> Any:
    # Imported by name: tqdm is optional and ships no type hints.
    try:
        module = importlib.import_module("tqdm.auto")
    except ImportError as exc:
        raise missing_extra(exc, extra="progress", needed_by="show_progress_bar=True") from exc
    return module.tqdm


class AimlapiEmbeddings(Serializable, Embeddings):
    """AI/ML API embedding models (OpenAI, Voyage, Google, Qwen, BGE, ...) for LangChain.

    Large calls are split into requests under each model's limits and sent in parallel, with
    retries; vectors come back one per text, in input order. It is a drop-in for
    `OpenAIEmbeddings(base_url=...)` and for the older `langchain-aimlapi` class: their argument
    names (`aimlapi_api_key`, `aimlapi_api_base`, `chunk_size`, `request_timeout`,
    `model_kwargs`, `default_headers`) are accepted too. That older distribution ships a package
    of the same name, `langchain_aimlapi`: uninstall it first (the README says why).

    Setup:
        Install the package and set your key (https://aimlapi.com/app/keys):

        ```bash
        pip install "aimlapi-embeddings[langchain]"
        export AIMLAPI_API_KEY="your-key"
        ```

    Key init args — embedding params:
        model: str
            Model id, e.g. `"text-embedding-3-small"` (default), `"voyage-large-2"`,
            `"text-multilingual-embedding-002"`. Vendor-prefixed ids are aliases.
        dimensions: int | None
            Shorter vectors, for models that support it (text-embedding-3-*, Qwen, Google).
        batch_size: int | None
            Cap on texts per request (alias `chunk_size`); by default the client picks sizes that
            keep every parallel request busy within the model's limits.
        long_text: "chunk" | "truncate" | "error"
            What to do with a text longer than the model's context.
        over_item_limit: "alone" | "split"
            Texts over the model's list-item limit (Voyage: 800 characters): each sent alone
            as one string (default, exact vector), or cut into pieces that batch (fewer
            requests; the vector is the mean of the pieces).
        model_kwargs: dict
            Extra fields sent in every request body.

    Key init args — client params:
        api_key: SecretStr | None
            Defaults to the `AIMLAPI_API_KEY` environment variable (alias `aimlapi_api_key`).
        base_url: str | None
            Defaults to `AIMLAPI_BASE_URL`, then `AIMLAPI_API_BASE`, then
            `https://api.aimlapi.com/v1` (alias `aimlapi_api_base`).
        max_concurrency: int
            Requests in flight at once for this instance: all its threads, tasks and event
            loops together, sync and async.
        max_retries: int
            Retries of a failed request (429, 5xx, timeouts, dropped connections).
        timeout: float | httpx.Timeout | None
            Per request, in seconds (alias `request_timeout`); `None` means 60 s, 10 s to connect.
        show_progress_bar: bool
            A tqdm bar over the texts of each call (needs `tqdm`).

    Instantiate:
        ```python
        from langchain_aimlapi import AimlapiEmbeddings

        embeddings = AimlapiEmbeddings(model="text-embedding-3-small")
        ```

    Embed:
        ```python
        vectors = embeddings.embed_documents(["Paris is in France.", "Rome is in Italy."])
        query_vector = embeddings.embed_query("Where is Paris?")
        ```

        `embed_query` tells models that distinguish queries from documents which one it sends
        (Google's `task_type`), so retrieval quality matches the vendor's recommendation.

    Async:
        ```python
        vectors = await embeddings.aembed_documents(["Paris is in France."])
        query_vector = await embeddings.aembed_query("Where is Paris?")
        ```

        The async methods run on an `httpx.AsyncClient` of the running loop, never a thread;
        the sync methods also work inside a running event loop, e.g. in Jupyter.
    """

    model: str = Field(
        default=DEFAULT_MODEL,
        validation_alias=AliasChoices("model", "model_name"),
        description="AI/ML API model id.",
    )
    aimlapi_api_key: SecretStr | None = Field(
        alias="api_key",
        default_factory=secret_from_env("AIMLAPI_API_KEY", default=None),
        description="API key; defaults to AIMLAPI_API_KEY.",
    )
    base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("base_url", "aimlapi_api_base"),
        description="API root; defaults to AIMLAPI_BASE_URL, AIMLAPI_API_BASE, the public API.",
    )
    dimensions: int | None = Field(
        default=None, description="Output width, for models that accept `dimensions`."
    )
    batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Most texts per request; None lets the client choose within model limits.",
    )
    max_concurrency: int = Field(
        default=DEFAULT_MAX_CONCURRENCY,
        ge=1,
        description="Requests in flight at once for the whole instance (all threads, tasks and "
        "event loops).",
    )
    max_retries: int = Field(
        default=DEFAULT_MAX_RETRIES, ge=0, description="Retries per failed request."
    )
    timeout: float | InstanceOf[httpx.Timeout] | None = Field(
        default=None,
        description="Seconds per request, or an httpx.Timeout; None: 60 s (10 s to connect).",
    )
    default_headers: dict[str, str] | None = Field(
        default=None,
        description="Extra HTTP headers sent with every request. Credential-like headers are "
        "not serialised.",
        repr=False,
    )
    model_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra fields sent in every request body."
    )
    show_progress_bar: bool = Field(
        default=False, description="Show a tqdm progress bar over the texts of each call."
    )
    long_text: LongText = Field(
        default="chunk",
        description='Texts over the context: "chunk" (mean of pieces), "truncate" or "error".',
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
    )

    # hide_input_in_errors: a ValidationError would otherwise print the arguments, key included.
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        protected_namespaces=(),
        hide_input_in_errors=True,
    )

    # The core client and the settings it was built from: rebuilt when a field it depends on
    # changes after construction (attribute assignment, model_copy(update=...)). No lock: two
    # threads racing after such a change each build a working client and one is dropped.
    _client: EmbeddingsClient | None = PrivateAttr(default=None)
    _client_settings: dict[str, Any] | None = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        # A key given as a str is wrapped before it goes any further: the frames of pydantic's
        # and LangChain's __init__ keep their arguments as locals, which tracebacks that print
        # locals (pytest --showlocals, Sentry, rich) would show on any configuration error.
        for name in _KEY_NAMES:
            if isinstance(kwargs.get(name), str):
                kwargs[name] = SecretStr(kwargs[name])
            elif callable(kwargs.get(name)):
                # OpenAIEmbeddings takes a function that returns the key; the key is read once.
                msg = (
                    f"{name}= takes the key itself, not a function that returns it: pass {name}=f()"
                )
                raise TypeError(msg)
        super().__init__(**kwargs)

    # -- LangChain serialization -----------------------------------------------------------------

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        # The public package, not the private module: dumps survive moving code between modules.
        return ["langchain_aimlapi"]

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"aimlapi_api_key": "AIMLAPI_API_KEY"}

    @property
    def lc_attributes(self) -> dict[str, Any]:
        # dumps/dumpd write these over the fields': headers that hold a credential stay out.
        if not self.default_headers:
            return {}
        return {"default_headers": _arguments.public_headers(self.default_headers)}

    @field_serializer("default_headers")
    def _serialize_headers(self, headers: dict[str, str] | None) -> dict[str, str] | None:
        return None if headers is None else _arguments.public_headers(headers)

    # -- a key set after construction is a secret too, and the one sent -------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        # Our other names for a field (api_key, chunk_size, ...) set that field, as they do in
        # the constructor; model_copy(update=...) comes through here too.
        name = _field_names(type(self)).get(name, name)
        if name == "aimlapi_api_key" and value is not None and not isinstance(value, SecretStr):
            if not isinstance(value, str):
                # Kept as it came, bytes would print in repr and dumps.
                msg = f"aimlapi_api_key must be a str or a SecretStr, not {type(value).__name__}"
                raise TypeError(msg)
            value = SecretStr(value)
        super().__setattr__(name, value)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        # pydantic's model_copy sets `update` without validation: a key would stay a plain str.
        # Set one by one instead, as assignments; the core client follows the new settings.
        copy = super().model_copy(deep=deep)
        try:
            for name, value in (update or {}).items():
                setattr(copy, name, value)
        finally:
            # A traceback that prints locals would show a key given in `update`.
            update = value = None
        return copy

    # -- validation: every configuration mistake surfaces here, before any request --------------

    @model_validator(mode="before")
    @classmethod
    def _from_openai_arguments(cls, values: Any) -> Any:
        # OpenAIEmbeddings' argument names: mapped, ignored with one warning, or refused with
        # what to use instead (aimlapi_embeddings._migration holds the table).
        if not isinstance(values, dict):
            return values
        return translate(LANGCHAIN, values, names_of_fields(cls.model_fields))

    # Each argument goes through the core's own check (aimlapi_embeddings._arguments), so a bad
    # value is the same error here as in EmbeddingsClient: no bool for an int, no "8" for 8.

    @field_validator("*", mode="before")
    @classmethod
    def _check_argument(cls, value: object, info: ValidationInfo) -> object:
        name = str(info.field_name)
        return _arguments.check(name, value) if name in _arguments.CHECKED else value

    @field_validator("model_kwargs", mode="before")
    @classmethod
    def _check_model_kwargs(cls, value: object) -> dict[str, Any]:
        arguments = set(cls.model_fields) | _OTHER_ARGUMENT_NAMES
        for key in value if isinstance(value, dict) else ():
            if key in arguments and key not in _arguments.RESERVED_REQUEST_FIELDS:
                msg = f"{key!r} is an AimlapiEmbeddings argument; pass {key}=..., not model_kwargs"
                raise ValueError(msg)
            if key in arguments:
                msg = (
                    f"model_kwargs may not set {key!r}: the client sets it per model and per "
                    f"call; pass {key}=... to AimlapiEmbeddings instead"
                )
                raise ValueError(msg)
        return _arguments.extra_body(value, name="model_kwargs")

    @model_validator(mode="after")
    def _validate_configuration(self) -> Self:
        spec = get_model_spec(self.model)
        warn_about_model(spec)
        spec.check_dimensions(self.dimensions)
        if self.show_progress_bar:
            _tqdm_class()
        # Resolve the environment now, so the object says what it will use and a dump carries it.
        # (No local variable holds the key: a traceback that prints locals would show it.)
        self.aimlapi_api_key = SecretStr(api_key_secret(self.aimlapi_api_key).reveal())
        self.base_url = resolve_base_url(self.base_url)
        self._core()  # the core checks the URL scheme and the limits; no network I/O
        return self

    # -- the core client -------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {
            # Kept as SecretStr (which compares by value) so that vars() never shows the key.
            "api_key": self.aimlapi_api_key,
            "base_url": self.base_url,
            "max_retries": self.max_retries,
            "timeout": self.timeout,
            "max_concurrency": self.max_concurrency,
            "default_headers": dict(self.default_headers or {}),
            "allow_insecure_http": self.allow_insecure_http,
        }

    def _core(self) -> EmbeddingsClient:
        settings = self._settings()
        if self._client is None or settings != self._client_settings:
            self._client = EmbeddingsClient(**settings)  # the key stays a SecretStr
            self._client_settings = settings
        return self._client

    def _options(self, input_type: InputRole) -> EmbedOptions:
        return EmbedOptions(
            model=self.model,
            dimensions=self.dimensions,
            input_type=input_type,
            long_text=self.long_text,
            over_item_limit=self.over_item_limit,
            batch_size=self.batch_size,
            extra_body=self.model_kwargs or None,
        )

    @contextmanager
    def _progress(self) -> Iterator[ProgressCallback | None]:
        if not self.show_progress_bar:
            yield None
            return
        # The total comes with the first report: `texts` may be any iterable, and the core
        # checks it before anything is counted or sent.
        with _tqdm_class()(total=None, unit="text", desc="Embedding") as bar:

            def advance(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            yield advance

    def close(self) -> None:
        """Close the pooled connections of sync calls now rather than at garbage collection.

        Optional: the next call opens a new pool. Useful before stopping a local server, or in
        services that create and drop many embedders.
        """
        if self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        """Close the running event loop's pooled connections (`asyncio.run` closes them too)."""
        if self._client is not None:
            await self._client.aclose()

    # -- Embeddings ------------------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents: one vector per text, in order, in parallel requests.

        Args:
            texts: The texts to embed; empty strings get a valid vector too.

        Returns:
            One vector per text.

        Raises:
            aimlapi_embeddings.AimlapiError: the API failed after retries, or a text is invalid.
        """
        with self._progress() as on_progress:
            result = self._core().embed(texts, **self._options("document"), on_progress=on_progress)
        return result.vectors

    def embed_query(self, text: str) -> list[float]:
        """Embed one search query, with the query input type where the model has one."""
        return self._core().embed([text], **self._options("query")).vectors[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async `embed_documents`, on the running event loop's connection pool."""
        with self._progress() as on_progress:
            result = await self._core().aembed(
                texts, **self._options("document"), on_progress=on_progress
            )
        return result.vectors

    async def aembed_query(self, text: str) -> list[float]:
        """Async `embed_query`."""
        result = await self._core().aembed([text], **self._options("query"))
        return result.vectors[0]
