"""The public surface of the core is pinned: adding a name is a decision, not an accident."""

from __future__ import annotations

import aimlapi_embeddings
import aimlapi_embeddings.ray
import aimlapi_embeddings.testing


def test_core_exports() -> None:
    assert sorted(aimlapi_embeddings.__all__) == sorted(
        [
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
            "Output",
            "OverItemLimit",
            "ModelSpec",
            "ModelStatusWarning",
            "NotFoundError",
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
    )
    for name in aimlapi_embeddings.__all__:
        assert hasattr(aimlapi_embeddings, name), name


def test_every_exported_member_is_importable_from_its_package() -> None:
    for module in (aimlapi_embeddings, aimlapi_embeddings.ray, aimlapi_embeddings.testing):
        for name in getattr(module, "__all__", []):
            assert getattr(module, name) is not None


def test_ray_exports() -> None:
    assert aimlapi_embeddings.ray.__all__ == ["AimlapiEmbedder"]
