"""The registry holds DESIGN.md's table as data; aliases and unknown ids resolve predictably."""

from __future__ import annotations

import warnings

import pytest

from aimlapi_embeddings import (
    MODELS,
    ModelSpec,
    ModelStatusWarning,
    UnknownModelWarning,
    get_model_spec,
)
from aimlapi_embeddings.models import warn_about_model

# DESIGN.md's table ("The API's contract"), row by row: id, width, dimensions range, context,
# inputs, tokens, (one-string, list-item) characters, encoding, input-type style, status and date.
NO_CHARS = (None, None)
VOYAGE_CHARS = (8000, 800)
TABLE = [
    ("text-embedding-3-small", 1536, (1, 1536), 8191, 2048, 300000, NO_CHARS, "base64", "none", "active", None),
    ("text-embedding-3-large", 3072, (1, 3072), 8191, 2048, 300000, NO_CHARS, "base64", "none", "active", None),
    ("text-embedding-ada-002", 1536, None, 8191, 2048, 300000, NO_CHARS, "base64", "none", "active", None),
    ("voyage-large-2-instruct", 1024, None, 16000, 128, 120000, VOYAGE_CHARS, "float", "voyage", "active", None),
    ("voyage-finance-2", 1024, None, 32000, 128, 120000, VOYAGE_CHARS, "float", "voyage", "active", None),
    ("voyage-multilingual-2", 1024, None, 32000, 128, 120000, VOYAGE_CHARS, "float", "voyage", "active", None),
    ("voyage-law-2", 1024, None, 16000, 128, 120000, VOYAGE_CHARS, "float", "voyage", "active", None),
    ("voyage-code-2", 1536, None, 16000, 128, 120000, VOYAGE_CHARS, "float", "voyage", "active", None),
    ("voyage-large-2", 1536, None, 16000, 128, 120000, VOYAGE_CHARS, "float", "voyage", "active", None),
    ("voyage-2", 1024, None, 4000, 128, 320000, VOYAGE_CHARS, "float", "voyage", "active", None),
    ("text-multilingual-embedding-002", 768, (1, 768), 2048, 250, 20000, NO_CHARS, "float", "google", "active", None),
    ("text-embedding-004", 768, (1, 768), 2048, 250, 20000, NO_CHARS, "float", "google", "active", None),
    ("alibaba/qwen-text-embedding-v3", 1024, (64, 2048), 8192, 10, 81920, NO_CHARS, "float", "none", "active", None),
    ("alibaba/qwen-text-embedding-v4", 1024, (64, 2048), 8192, 10, 81920, NO_CHARS, "float", "none", "active", None),
    ("textembedding-gecko@001", 768, None, 3072, 250, 20000, NO_CHARS, "float", "google", "removed", "2025-04-29"),
    ("textembedding-gecko@003", 768, None, 2048, 250, 20000, NO_CHARS, "float", "google", "removed", None),
    ("textembedding-gecko-multilingual@001", 768, None, 2048, 250, 20000, NO_CHARS, "float", "google", "removed", None),
    ("BAAI/bge-large-en-v1.5", 1024, None, 512, 128, 65536, NO_CHARS, "float", "none", "removed", "2026-02-12"),
    ("BAAI/bge-base-en-v1.5", 768, None, 512, 128, 65536, NO_CHARS, "float", "none", "removed", "2026-03-30"),
    ("togethercomputer/m2-bert-80M-32k-retrieval", 768, None, 32768, 128, 262144, NO_CHARS, "float", "none", "removed", "2026-03-30"),
    ("togethercomputer/m2-bert-80M-8k-retrieval", 768, None, 8192, 1, 8192, NO_CHARS, "float", "none", "removed", "2025-06-23"),
    ("togethercomputer/m2-bert-80M-2k-retrieval", 768, None, 2048, 1, 2048, NO_CHARS, "float", "none", "removed", "2025-06-23"),
]  # fmt: skip


def test_the_registry_is_exactly_the_design_table() -> None:
    assert sorted(MODELS) == sorted(row[0] for row in TABLE)


@pytest.mark.parametrize("row", TABLE, ids=[row[0] for row in TABLE])
def test_each_model_has_the_design_rules(row: tuple[object, ...]) -> None:
    name, dims, dim_range, context, inputs, tokens, chars, encoding, style, status, since = row
    spec = get_model_spec(str(name))
    assert (spec.name, spec.dimensions, spec.dimensions_range) == (name, dims, dim_range)
    assert (spec.context_tokens, spec.max_inputs, spec.max_tokens_per_request) == (
        context,
        inputs,
        tokens,
    )
    assert (spec.encoding, spec.input_type_style, spec.status) == (encoding, style, status)
    assert (spec.max_string_chars, spec.max_item_chars) == chars
    assert spec.status_since == since
    assert "api-docs f14fa72" in spec.source, "every row cites where its numbers come from"
    assert spec.single_input == (inputs == 1)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("openai/text-embedding-3-small", "text-embedding-3-small"),
        ("OpenAI/Text-Embedding-3-Large", "text-embedding-3-large"),
        ("voyage/voyage-law-2", "voyage-law-2"),
        ("google/text-multilingual-embedding-002", "text-multilingual-embedding-002"),
        ("bge-base-en-v1.5", "BAAI/bge-base-en-v1.5"),
        ("qwen-text-embedding-v4", "alibaba/qwen-text-embedding-v4"),
        ("m2-bert-80M-2k-retrieval", "togethercomputer/m2-bert-80M-2k-retrieval"),
    ],
)
def test_vendor_prefixed_and_bare_ids_are_aliases(alias: str, canonical: str) -> None:
    assert get_model_spec(alias) is MODELS[canonical]


def test_unknown_ids_get_conservative_generic_rules() -> None:
    spec = get_model_spec("someone/new-model")
    assert spec.name == "someone/new-model"
    assert (spec.max_inputs, spec.context_tokens, spec.dimensions_range) == (128, 8191, None)
    assert spec.encoding == "float"
    with pytest.raises(ValueError, match="does not accept `dimensions`"):
        spec.check_dimensions(256)


def test_retired_and_unknown_models_warn_once_per_process() -> None:
    with pytest.warns(ModelStatusWarning, match="removed from AI/ML API on 2026-03-30"):
        warn_about_model(get_model_spec("BAAI/bge-base-en-v1.5"))
    with pytest.warns(ModelStatusWarning, match="removed"):
        warn_about_model(get_model_spec("textembedding-gecko@003"))
    with pytest.warns(UnknownModelWarning):
        warn_about_model(get_model_spec("mystery"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_about_model(get_model_spec("BAAI/bge-base-en-v1.5"))
        warn_about_model(get_model_spec("mystery"))
        warn_about_model(get_model_spec("text-embedding-3-small"))


@pytest.mark.parametrize(
    ("model", "dimensions", "ok"),
    [
        ("text-embedding-3-small", 1, True),
        ("text-embedding-3-small", 1536, True),
        ("text-embedding-3-small", 1537, False),
        ("alibaba/qwen-text-embedding-v3", 64, True),
        ("alibaba/qwen-text-embedding-v3", 2048, True),
        ("alibaba/qwen-text-embedding-v3", 63, False),
        ("text-multilingual-embedding-002", 256, True),
        ("text-embedding-ada-002", 1536, False),
        ("voyage-2", 1024, False),
        ("text-embedding-3-small", True, False),
    ],
)
def test_dimensions_rules(model: str, dimensions: int, ok: bool) -> None:
    spec = get_model_spec(model)
    if ok:
        spec.check_dimensions(dimensions)
    else:
        with pytest.raises(ValueError, match="dimensions"):
            spec.check_dimensions(dimensions)


def test_a_user_can_describe_a_model_with_a_spec() -> None:
    spec = ModelSpec(
        name="my/model", dimensions=10, context_tokens=100, max_inputs=4, max_tokens_per_request=400
    )
    assert spec.output_width(None) == 10
    with pytest.raises(ValueError, match="positive"):
        ModelSpec(
            name="bad", dimensions=1, context_tokens=0, max_inputs=1, max_tokens_per_request=1
        )


def test_a_model_warning_points_at_the_callers_line() -> None:
    from fakes import FakeAPI

    client = FakeAPI().client()
    with pytest.warns(ModelStatusWarning, match="removed from AI/ML API on 2026-02-12") as caught:
        client.embed(["x"], model="BAAI/bge-large-en-v1.5")
    assert caught[0].filename == __file__, f"the warning points at {caught[0].filename}"
    with pytest.warns(UnknownModelWarning, match="not in aimlapi_embeddings' registry") as caught:
        client.embed(["x"], model="someone/new-model")
    assert caught[0].filename == __file__, f"the warning points at {caught[0].filename}"


def test_a_warning_from_a_call_handed_to_a_thread_points_at_the_call_not_at_threading() -> None:
    import concurrent.futures

    from fakes import FakeAPI

    client = FakeAPI().client()
    with (
        pytest.warns(ModelStatusWarning) as caught,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        pool.submit(client.embed, ["x"], model="BAAI/bge-large-en-v1.5").result()
    assert "threading" not in caught[0].filename
    assert caught[0].filename.endswith(("client.py", __file__))
