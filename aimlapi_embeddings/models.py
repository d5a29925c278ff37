"""Per-model rules as data: widths, `dimensions`, context, batch limits, encoding, input types.

AI/ML API documents no batch limits, so the limits here are ours: conservative, taken from the
upstream vendors' own limits. Every rule that differs between models lives in a `ModelSpec`; the
rest of the package reads specs and never branches on a model's name.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Literal

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
    request; `context_tokens` bounds one input. `single_input` models take `input` as one string,
    not a list. `input_type_style` says how to tell queries from documents.
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

    def __post_init__(self) -> None:
        if self.context_tokens < 1 or self.max_inputs < 1 or self.max_tokens_per_request < 1:
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

    def input_type_fields(self, role: InputRole) -> dict[str, str]:
        """Request fields that tell the model whether it embeds queries or documents."""
        if self.input_type_style == "google":
            return {"task_type": "RETRIEVAL_QUERY" if role == "query" else "RETRIEVAL_DOCUMENT"}
        if self.input_type_style == "voyage" and role == "document":
            # AI/ML API accepts only input_type="document" for Voyage models; a query is sent
            # without one, which Voyage treats as a plain text.
            return {"input_type": "document"}
        return {}


def _openai(name: str, dims: int, *, shortening: bool) -> ModelSpec:
    return ModelSpec(
        name=name,
        dimensions=dims,
        dimensions_range=(1, dims) if shortening else None,
        context_tokens=8191,
        max_inputs=2048,
        max_tokens_per_request=300_000,
        encoding="base64",
        vendor="openai",
    )


def _voyage(name: str, dims: int, context: int, tokens_per_request: int = 120_000) -> ModelSpec:
    return ModelSpec(
        name=name,
        dimensions=dims,
        context_tokens=context,
        max_inputs=128,
        max_tokens_per_request=tokens_per_request,
        input_type_style="voyage",
        vendor="voyage",
    )


def _google(name: str, context: int, status: Status, *, shortening: bool = False) -> ModelSpec:
    return ModelSpec(
        name=name,
        dimensions=768,
        dimensions_range=(1, 768) if shortening else None,
        context_tokens=context,
        max_inputs=250,
        max_tokens_per_request=20_000,
        input_type_style="google",
        status=status,
        vendor="google",
    )


def _together(name: str, dims: int, context: int, *, single: bool = False) -> ModelSpec:
    return ModelSpec(
        name=name,
        dimensions=dims,
        context_tokens=context,
        max_inputs=1 if single else 128,
        max_tokens_per_request=context if single else max(65_536, context * 8),
        status="deprecated",
        single_input=single,
        vendor="together",
    )


def _qwen(name: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        dimensions=1024,
        dimensions_range=(64, 2048),
        context_tokens=8192,
        max_inputs=10,
        max_tokens_per_request=81_920,
        vendor="alibaba",
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
    _google("text-multilingual-embedding-002", 2048, "active", shortening=True),
    _google("textembedding-gecko@001", 3072, "removed"),
    _google("textembedding-gecko@003", 2048, "removed"),
    _google("textembedding-gecko-multilingual@001", 2048, "removed"),
    _together("BAAI/bge-base-en-v1.5", 768, 512),
    _together("BAAI/bge-large-en-v1.5", 1024, 512),
    _together("togethercomputer/m2-bert-80M-32k-retrieval", 768, 32_768),
    _together("togethercomputer/m2-bert-80M-8k-retrieval", 768, 8192, single=True),
    _together("togethercomputer/m2-bert-80M-2k-retrieval", 768, 2048, single=True),
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


def warn_about_model(spec: ModelSpec) -> None:
    """Warn once per process about a deprecated, removed or unknown model."""
    if spec.status == "active" and spec.vendor != "unknown":
        return
    with _warned_lock:
        if spec.name in _warned:
            return
        _warned.add(spec.name)
    if spec.vendor == "unknown":
        warnings.warn(
            f"model {spec.name!r} is not in aimlapi_embeddings' registry; using conservative "
            "generic rules (128 inputs per request, context 8191 tokens, no `dimensions`). "
            "Pass a ModelSpec to describe it exactly.",
            UnknownModelWarning,
            stacklevel=3,
        )
    else:
        warnings.warn(
            f"model {spec.name!r} is {spec.status} on AI/ML API and may stop answering; "
            "consider text-embedding-3-small or another active model.",
            ModelStatusWarning,
            stacklevel=3,
        )
