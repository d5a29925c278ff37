"""Every AI/ML API embedding model, batched, parallel, retried and checked.

from aimlapi_embeddings import EmbeddingsClient
result = EmbeddingsClient().embed(["first text", "second text"], model="text-embedding-3-small")
result.vectors  # one vector per text, in input order
"""

from ._assembly import Output
from ._batching import LongText, OverItemLimit, estimate_tokens, validate_texts
from ._errors import (
    AimlapiError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InputTooLongError,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
)
from ._migration import IgnoredArgumentWarning
from ._version import __version__
from .client import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    EmbeddingChunk,
    EmbeddingResult,
    EmbeddingsClient,
    Usage,
)
from .models import (
    MODELS,
    InputRole,
    ModelSpec,
    ModelStatusWarning,
    UnknownModelWarning,
    get_model_spec,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "MODELS",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AimlapiError",
    "AuthenticationError",
    "BadRequestError",
    "EmbeddingChunk",
    "EmbeddingResult",
    "EmbeddingsClient",
    "IgnoredArgumentWarning",
    "InputRole",
    "InputTooLongError",
    "InternalServerError",
    "InvalidInputError",
    "LongText",
    "ModelSpec",
    "ModelStatusWarning",
    "NotFoundError",
    "Output",
    "OverItemLimit",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseError",
    "UnknownModelWarning",
    "Usage",
    "__version__",
    "estimate_tokens",
    "get_model_spec",
    "validate_texts",
]
