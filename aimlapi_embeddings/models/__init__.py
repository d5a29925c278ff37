"""Per-model rules as data: widths, `dimensions`, context, batch limits, encoding, input types.

AI/ML API documents no batch limits, so the limits here are ours: conservative, taken from the
upstream vendors' own limits. Every rule that differs between models lives in a `ModelSpec`; the
rest of the package reads specs and never branches on a model's name.
"""

from __future__ import annotations

import difflib
import sys
import threading
import warnings
from dataclasses import dataclass
from types import FrameType
from typing import Any, Literal

__all__ = [
    "MODELS",
    "InputRole",
    "ModelSpec",
    "ModelStatusWarning",
    "UnknownModelWarning",
    "generic_model_spec",
    "get_model_spec",
    "warn_about_model",
]

Encoding = Literal["float", "base64"]
InputTypeStyle = Literal["none", "voyage", "google"]
Status = Literal["active", "deprecated", "removed"]
InputRole = Literal["document", "query"]


class ModelStatusWarning(UserWarning):
    """A deprecated or removed model was asked for: it may stop answering at any time."""


class UnknownModelWarning(UserWarning):
    """A model id outside the registry: conservative generic rules apply."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Everything the package needs to know about one embedding model.

    `dimensions_range` is the inclusive range a user may ask for with `dimensions`; `None` means
    the model takes no `dimensions` parameter. `max_inputs` and `max_tokens_per_request` bound one
    request; `context_tokens` bounds one input (what we plan with; `docs_context` is what AI/ML
    API's docs table says, where it lists the model). `single_input` models take `input` as one
    string, not a list. `input_type_style` says how to tell queries from documents.

    `max_string_chars` and `max_item_chars` are the published schema's limits on `input` as one
    string and on each item of an `input` list, in UTF-16 code units as the gateway counts them
    (None: no limit). `schema` names the model's vendored request schema (`schemas/`), `status`
    and `status_since` its standing in the docs, and `source` where every number comes from.
    """

    name: str
    dimensions: int | None
    context_tokens: int
    max_inputs: int
    max_tokens_per_request: int
    encoding: Encoding = "float"
    dimensions_range: tuple[int, int] | None = None
    input_type_style: InputTypeStyle = "none"
    status: Status = "active"
    single_input: bool = False
    vendor: str = ""
    max_string_chars: int | None = None
    max_item_chars: int | None = None
    docs_context: int | None = None
    status_since: str | None = None
    schema: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        limits = (self.context_tokens, self.max_inputs, self.max_tokens_per_request)
        chars = (self.max_string_chars, self.max_item_chars)
        if min(limits) < 1 or any(limit is not None and limit < 1 for limit in chars):
            msg = f"ModelSpec {self.name!r}: limits must be positive"
            raise ValueError(msg)
        if self.dimensions_range is not None:
            low, high = self.dimensions_range
            if not 1 <= low <= high:
                msg = f"ModelSpec {self.name!r}: bad dimensions_range {self.dimensions_range}"
                raise ValueError(msg)

    def output_width(self, dimensions: int | None) -> int | None:
        """The width of the vectors the API returns, or None when it is not known in advance."""
        return dimensions if dimensions is not None else self.dimensions

    def check_dimensions(self, dimensions: int | None) -> None:
        """Raise `ValueError` unless `dimensions` is None or allowed for this model."""
        if dimensions is None:
            return
        if isinstance(dimensions, bool) or not isinstance(dimensions, int):
            msg = f"dimensions must be an int or None, not {type(dimensions).__name__}"
            raise ValueError(msg)
        if self.dimensions_range is None:
            msg = (
                f"model {self.name!r} does not accept `dimensions`; it always returns "
                f"{self.dimensions or 'its native'}-wide vectors. Leave dimensions=None."
            )
            raise ValueError(msg)
        low, high = self.dimensions_range
        if not low <= dimensions <= high:
            msg = f"model {self.name!r} accepts dimensions from {low} to {high}, not {dimensions}"
            raise ValueError(msg)

    def request_fields(self, role: InputRole, dimensions: int | None = None) -> dict[str, Any]:
        """Every field of a request body but `input`, as the client sends them.

        `model` is the canonical id: it is the one the model's published schema names.
        """
        fields: dict[str, Any] = {"model": self.name, **self.input_type_fields(role)}
        if self.encoding == "base64":
            fields["encoding_format"] = "base64"
        if dimensions is not None:
            fields["dimensions"] = dimensions
        return fields

    def input_type_fields(self, role: InputRole) -> dict[str, str]:
        """Request fields that tell the model whether it embeds queries or documents."""
        if self.input_type_style == "google":
            return {"task_type": "RETRIEVAL_QUERY" if role == "query" else "RETRIEVAL_DOCUMENT"}
        if self.input_type_style == "voyage" and role == "document":
            # AI/ML API accepts only input_type="document" for Voyage models; a query is sent
            # without one, which Voyage treats as a plain text.
            return {"input_type": "document"}
        return {}


# Where the numbers come from. The request schemas and the docs tables are AI/ML API's own
# (vendored in schemas/, see its README); batch and token budgets are ours, from each upstream
# vendor's published limits, because AI/ML API publishes none.
_DOCS = "AI/ML API docs (api-docs f14fa72, 2026-08-21)"
_OPENAI_LIMITS = "OpenAI: 2,048 inputs and 300,000 tokens per request, 8,191 tokens per input"
_VOYAGE_LIMITS = "Voyage AI: 128 inputs per request, 120,000 tokens (voyage-2: 320,000)"
_GOOGLE_LIMITS = "Vertex AI: 250 inputs and 20,000 tokens per request, 2,048 tokens per input"
_QWEN_LIMITS = (
    "Alibaba Model Studio: 10 inputs per request, 8,192 tokens per input (the docs table's "
    "32,000 is the model's, not the endpoint's)"
)
_TOGETHER_LIMITS = "Together AI: context per model card; 128 inputs per request (ours)"


def _source(schema: str | None, limits: str) -> str:
    contract = f"schemas/{schema}.json" if schema else "no published schema (removed)"
    return f"{contract}; context and status: {_DOCS}; limits: {limits}"


def _openai(name: str, dims: int, *, shortening: bool) -> ModelSpec:
    return ModelSpec(
        name=name,
        dimensions=dims,
        dimensions_range=(1, dims) if shortening else None,
        context_tokens=8191,
        docs_context=8000,
        max_inputs=2048,
        max_tokens_per_request=300_000,
        encoding="base64",
        vendor="openai",
        schema=name,
        source=_source(name, _OPENAI_LIMITS),
    )


def _voyage(name: str, dims: int, context: int, tokens_per_request: int = 120_000) -> ModelSpec:
    return ModelSpec(
        name=name,
        dimensions=dims,
        context_tokens=context,
        docs_context=context,
        max_inputs=128,
        max_tokens_per_request=tokens_per_request,
        max_string_chars=8000,
        max_item_chars=800,
        input_type_style="voyage",
        vendor="voyage",
        schema=name,
        source=_source(name, _VOYAGE_LIMITS),
    )


def _google(
    name: str,
    context: int,
    *,
    schema: str | None,
    docs_context: int | None = None,
    shortening: bool = False,
    status: Status = "active",
    status_since: str | None = None,
) -> ModelSpec:
    return ModelSpec(
        name=name,
        dimensions=768,
        dimensions_range=(1, 768) if shortening else None,
        context_tokens=context,
        docs_context=docs_context,
        max_inputs=250,
        max_tokens_per_request=20_000,
        input_type_style="google",
        status=status,
        status_since=status_since,
        vendor="google",
        schema=schema,
        source=_source(schema, _GOOGLE_LIMITS),
    )


def _together(
    name: str,
    dims: int,
    context: int,
    *,
    removed_since: str,
    schema: str | None = None,
    single: bool = False,
) -> ModelSpec:
    return ModelSpec(
        name=name,
        dimensions=dims,
        context_tokens=context,
        max_inputs=1 if single else 128,
        max_tokens_per_request=context if single else max(65_536, context * 8),
        status="removed",
        status_since=removed_since,
        single_input=single,
        vendor="together",
        schema=schema,
        source=_source(schema, _TOGETHER_LIMITS),
    )


def _qwen(name: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        dimensions=1024,
        dimensions_range=(64, 2048),
        context_tokens=8192,
        docs_context=32_000,
        max_inputs=10,
        max_tokens_per_request=81_920,
        vendor="alibaba",
        schema=name.rsplit("/", 1)[-1],
        source=_source(name.rsplit("/", 1)[-1], _QWEN_LIMITS),
    )


_SPECS: tuple[ModelSpec, ...] = (
    _openai("text-embedding-3-small", 1536, shortening=True),
    _openai("text-embedding-3-large", 3072, shortening=True),
    _openai("text-embedding-ada-002", 1536, shortening=False),
    _voyage("voyage-large-2-instruct", 1024, 16_000),
    _voyage("voyage-finance-2", 1024, 32_000),
    _voyage("voyage-multilingual-2", 1024, 32_000),
    _voyage("voyage-law-2", 1024, 16_000),
    _voyage("voyage-code-2", 1536, 16_000),
    _voyage("voyage-large-2", 1536, 16_000),
    _voyage("voyage-2", 1024, 4_000, tokens_per_request=320_000),
    _google(
        "text-multilingual-embedding-002",
        2048,
        schema="text-multilingual-embedding-002",
        docs_context=2000,
        shortening=True,
    ),
    # Served (the gateway publishes its schema) but missing from the docs' public table.
    _google("text-embedding-004", 2048, schema="text-embedding-004", shortening=True),
    # The docs moved gecko@001 to "no longer supported" on 2025-04-29 and list @003 and the
    # multilingual one as gone without a date; their schema is still published.
    _google(
        "textembedding-gecko@001",
        3072,
        schema="textembedding-gecko",
        status="removed",
        status_since="2025-04-29",
    ),
    _google("textembedding-gecko@003", 2048, schema="textembedding-gecko", status="removed"),
    _google(
        "textembedding-gecko-multilingual@001",
        2048,
        schema="textembedding-gecko",
        status="removed",
    ),
    _together("BAAI/bge-base-en-v1.5", 768, 512, removed_since="2026-03-30", schema="bge-base-en"),
    _together(
        "BAAI/bge-large-en-v1.5", 1024, 512, removed_since="2026-02-12", schema="bge-large-en"
    ),
    _together(
        "togethercomputer/m2-bert-80M-32k-retrieval",
        768,
        32_768,
        removed_since="2026-03-30",
        schema="m2-bert-80M-retrieval",
    ),
    _together(
        "togethercomputer/m2-bert-80M-8k-retrieval",
        768,
        8192,
        removed_since="2025-06-23",
        single=True,
    ),
    _together(
        "togethercomputer/m2-bert-80M-2k-retrieval",
        768,
        2048,
        removed_since="2025-06-23",
        single=True,
    ),
    _qwen("alibaba/qwen-text-embedding-v3"),
    _qwen("alibaba/qwen-text-embedding-v4"),
)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}
"""The registry: every model AI/ML API serves for embeddings, by canonical id."""


def _build_aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for spec in _SPECS:
        base = spec.name.rsplit("/", 1)[-1]
        for alias in (base, f"{spec.vendor}/{base}"):
            aliases.setdefault(alias.lower(), spec.name)
        aliases[spec.name.lower()] = spec.name
    return aliases


# Vendor-prefixed and bare ids resolve to the same rules: "openai/text-embedding-3-small",
# "bge-base-en-v1.5", "qwen-text-embedding-v3". Lookup ignores case.
_ALIASES = _build_aliases()


def generic_model_spec(name: str) -> ModelSpec:
    """Conservative rules for a model id the registry does not know."""
    return ModelSpec(
        name=name,
        dimensions=None,
        context_tokens=8191,
        max_inputs=128,
        max_tokens_per_request=100_000,
        vendor="unknown",
    )


def get_model_spec(name: str) -> ModelSpec:
    """The rules for `name` (canonical id or alias); generic rules for an unknown id."""
    canonical = _ALIASES.get(name.strip().lower())
    return MODELS[canonical] if canonical is not None else generic_model_spec(name)


_warned: set[str] = set()
_warned_lock = threading.Lock()


# Frames of these modules are ours or a framework's: a warning points past them, at the line of
# the caller's own code that asked for the model.
_OUR_MODULES = (
    "aimlapi_embeddings",
    "langchain_aimlapi",
    "llama_index_aimlapi",
    "llama_index.embeddings.aimlapi",
    "haystack_integrations.components.embedders.aimlapi",
)
_LIBRARY_MODULES = (
    *_OUR_MODULES,
    "chromadb",
    "haystack",
    "langchain_core",
    "langchain_classic",
    "langchain",
    "llama_index.core",
    "llama_index_instrumentation",
    "pydantic",
    "asyncio",
    "concurrent.futures",
    "threading",
    "contextvars",
)


def _caller_stacklevel() -> int:
    """The `stacklevel` that makes a warning name the first frame outside the libraries.

    With no such frame (a call handed straight to a thread pool), the outermost frame of this
    package's own: the call into it, not a line of `threading`.
    """
    frame: FrameType | None = sys._getframe(1)
    level = outermost_ours = 1
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not _is_one_of(module, _LIBRARY_MODULES):
            return level
        if _is_one_of(module, _OUR_MODULES):
            outermost_ours = level
        frame = frame.f_back
        level += 1
    return outermost_ours


def _is_one_of(module: str, names: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in names)


def nearest_model_ids(name: str, most: int = 3) -> list[str]:
    """The registry's ids (canonical, or the alias that is closer) nearest to a mistyped `name`."""
    typed = name.strip().lower()
    close = difflib.get_close_matches(typed, _ALIASES, n=most * 3, cutoff=0.75)
    return list(dict.fromkeys(_ALIASES[alias] for alias in close))[:most]


def model_status_note(spec: ModelSpec) -> str | None:
    """One sentence on a model that is not simply active, or None."""
    if spec.vendor == "unknown":
        nearest = nearest_model_ids(spec.name)
        hint = f"did you mean {' or '.join(map(repr, nearest))}? " if nearest else ""
        return (
            f"model {spec.name!r} is not in aimlapi_embeddings' registry: {hint}"
            "(`python -m aimlapi_embeddings.models` lists the models it knows). Conservative "
            f"generic rules apply ({spec.max_inputs} inputs per request, context "
            f"{spec.context_tokens} tokens, no `dimensions`); pass a ModelSpec to describe it"
        )
    if spec.status == "active":
        return None
    when = f" on {spec.status_since}" if spec.status_since else ""
    if spec.status == "removed":
        return (
            f"model {spec.name!r} was removed from AI/ML API{when} (its docs list it as no longer "
            "supported): the request is still sent, but expect 404 or 400; "
            f"{DEFAULT_ACTIVE_MODEL} and the other active models are listed by "
            "`python -m aimlapi_embeddings.models`"
        )
    return (
        f"model {spec.name!r} is deprecated on AI/ML API{when} and may stop answering; "
        f"consider {DEFAULT_ACTIVE_MODEL} or another active model"
    )


DEFAULT_ACTIVE_MODEL = "text-embedding-3-small"


def warn_about_model(spec: ModelSpec) -> None:
    """Warn once per process about a deprecated, removed or unknown model, at the caller's line."""
    note = model_status_note(spec)
    if note is None:
        return
    with _warned_lock:
        if spec.name in _warned:
            return
        _warned.add(spec.name)
    category = UnknownModelWarning if spec.vendor == "unknown" else ModelStatusWarning
    warnings.warn(note, category, stacklevel=_caller_stacklevel())
