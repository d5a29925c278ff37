"""Every request the client can build, for every model, is valid under the model's published schema.

The bodies are validated by `jsonschema`, an implementation independent of the package's own
validator, with one rule changed to the gateway's: string lengths count UTF-16 code units.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fakes import FakeAPI

from aimlapi_embeddings import (
    MODELS,
    BadRequestError,
    EmbeddingsClient,
    InputTooLongError,
    ModelSpec,
    estimate_tokens,
)
from aimlapi_embeddings._schema import load_index, load_schema, utf16_length, violations
from aimlapi_embeddings.testing import Emulator, embedding_for

pytestmark = pytest.mark.filterwarnings("ignore::aimlapi_embeddings.ModelStatusWarning")

SHARED = Path(__file__).parents[3] / "shared" / "aimlapi-api" / "request-schemas"


def _length_in_utf16(check: str) -> Any:
    def validate(validator: Any, limit: int, instance: object, schema: Any) -> Iterator[Any]:
        if not isinstance(instance, str):
            return
        length = utf16_length(instance)
        if (length > limit) if check == "max" else (length < limit):
            yield jsonschema.ValidationError(f"{length} UTF-16 code units, limit {limit}")

    return validate


GatewayValidator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    {"maxLength": _length_in_utf16("max"), "minLength": _length_in_utf16("min")},
)


def gateway_errors(schema: Any, body: Any) -> list[str]:
    return [error.message for error in GatewayValidator(schema).iter_errors(body)]


# ---- the vendored copy ----------------------------------------------------------------------


def test_the_vendored_schemas_are_the_published_ones_with_their_source() -> None:
    index = load_index()
    assert index["commit"].startswith("f14fa72")
    assert index["source"] == "github.com/aimlapi/api-docs"
    package = resources.files("aimlapi_embeddings") / "schemas"
    readme = (package / "README.md").read_text()
    assert index["commit"] in readme, "the README names the source commit"
    for name in index["schemas"]:
        assert load_schema(name) == json.loads((package / f"{name}.json").read_text())
        if SHARED.is_dir():  # beside a checkout: the copy is the published file, unchanged
            assert (package / f"{name}.json").read_text() == (SHARED / f"{name}.json").read_text()


def test_every_model_with_a_schema_is_served_by_it() -> None:
    by_model = {
        model: name for name, entry in load_index()["schemas"].items() for model in entry["models"]
    }
    for spec in MODELS.values():
        if spec.schema is None:
            assert spec.name not in by_model, f"{spec.name}: its schema is published"
            assert spec.status == "removed", f"{spec.name}: an active model without a schema"
        else:
            assert by_model[spec.name] == spec.schema
            assert load_schema(spec.schema)["properties"]["model"]["enum"].count(spec.name) == 1


# ---- the matrix -----------------------------------------------------------------------------

EMOJI = "\U0001f600"
LENGTHS = (799, 800, 801, 8000, 8001, 50_000)


def matrix_texts() -> list[str]:
    """Texts at every limit, texts whose UTF-16 length is not their length, and blanks."""
    words = itertools.cycle(
        ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    )
    texts = ["short text", "", "   \n\t "]
    for length in LENGTHS:
        text = ""
        while len(text) < length:
            text += next(words) + " "
        texts.append(text[:length])
    # Code points vs UTF-16: 400 emoji are 800 units, 401 are 802 (over Voyage's item limit
    # with only 401 characters); a mixed text straddles the one-string limit the same way.
    texts += [EMOJI * 400, EMOJI * 401, "a" * 799 + EMOJI, "b" * 7999 + EMOJI, EMOJI * 4001]
    texts += ["日本語のテキスト" * 150, "mixed 🙂👍🏽 text " * 70]
    return texts


def dimension_choices(spec: ModelSpec) -> list[int | None]:
    if spec.dimensions_range is None:
        return [None]
    low, high = spec.dimensions_range
    return [None, low, high]


def valid_extra_bodies(spec: ModelSpec) -> list[dict[str, Any]]:
    """No extra field, and one the model's schema lists (what a user would pass)."""
    extras: list[dict[str, Any]] = [{}]
    if spec.input_type_style == "google":
        extras += [{"auto_truncate": True}, {"auto_truncate": False, "title": "A title"}]
    return extras


def cases() -> Iterator[tuple[str, str, int | None, str, str, dict[str, Any]]]:
    for spec in MODELS.values():
        for role, dimensions, long_text, item, extra in itertools.product(
            ("document", "query"),
            dimension_choices(spec),
            ("chunk", "truncate", "error"),
            ("alone", "split"),
            valid_extra_bodies(spec),
        ):
            yield spec.name, role, dimensions, long_text, item, extra


def test_every_request_of_the_matrix_is_valid_under_the_model_schema() -> None:
    texts = matrix_texts()
    checked = 0
    invalid: list[str] = []
    refused_early = 0
    for model, role, dimensions, long_text, item, extra in cases():
        spec = MODELS[model]
        api = FakeAPI()
        client = api.client(max_concurrency=4)
        options: dict[str, Any] = {
            "model": model,
            "input_type": role,
            "dimensions": dimensions,
            "long_text": long_text,
            "over_item_limit": item,
            "extra_body": extra,
        }
        fits = [
            text
            for text in texts
            if estimate_tokens(text) <= spec.context_tokens
            and (spec.max_string_chars is None or utf16_length(text) <= spec.max_string_chars)
        ]
        if long_text == "error" and len(fits) < len(texts):
            # A text over the model's limits is refused before any request; then the rest.
            with pytest.raises(InputTooLongError):
                client.embed(texts, **options)
            assert not api.requests
            refused_early += 1
            result = client.embed(fits, **options)
        else:
            result = client.embed(texts, **options)
        assert len(result.vectors) >= 1
        if spec.schema is None:
            continue  # removed long ago; nothing is published to check against
        schema = load_schema(spec.schema)
        for body in api.requests:
            checked += 1
            problems = gateway_errors(schema, body)
            if problems:
                invalid.append(f"{model} {options}: {problems[:2]}")
            assert violations(schema, body) == [], "the package's validator disagrees"
    assert not invalid, f"{len(invalid)} invalid bodies, first: {invalid[:3]}"
    assert refused_early > 0, "long_text='error' never met a text over the limits"
    assert checked > 1_200, f"only {checked} bodies checked: the matrix is thinner than it looks"


@pytest.mark.parametrize("spec", [MODELS["voyage-2"], MODELS["voyage-law-2"]], ids=lambda s: s.name)
def test_voyage_texts_between_the_limits_go_alone_as_one_string(spec: ModelSpec) -> None:
    texts = ["short", "y" * 801, EMOJI * 401, "z" * 800, "w" * 8000, "v" * 8001]
    api = FakeAPI()
    api.client().embed(texts, model=spec.name)
    strings = [body["input"] for body in api.requests if isinstance(body["input"], str)]
    lists = [body["input"] for body in api.requests if isinstance(body["input"], list)]
    # Over 800 and within 8,000 UTF-16 units: alone, whole. Over 8,000: cut into pieces that
    # fit (8,000 + 1 characters), each sent as its length allows.
    assert sorted(strings) == sorted(["y" * 801, EMOJI * 401, "w" * 8000, "v" * 8000])
    assert lists == [["short", "z" * 800, "v"]], "texts within 800 characters are batched"


def test_split_mode_cuts_texts_over_the_item_limit_into_pieces_that_batch() -> None:
    texts = ["short", "word " * 400, "x" * 8000]
    api = FakeAPI()
    api.client().embed(texts, model="voyage-large-2", over_item_limit="split")
    assert all(isinstance(body["input"], list) for body in api.requests)
    assert all(utf16_length(piece) <= 800 for piece in api.inputs)
    assert len(api.requests) == 1, "every piece fits one request of 128 inputs"
    assert "".join(api.inputs[1:4]) == "word " * 400  # 2,000 characters in three pieces
    assert len(api.inputs) == 1 + 3 + 10


def test_extra_body_fields_the_schema_refuses_are_refused_before_any_request() -> None:
    api = FakeAPI()
    client = api.client()
    with pytest.raises(ValueError, match=r"Unrecognized key.*'user'") as info:
        client.embed(["x"], model="text-embedding-3-small", extra_body={"user": "me"})
    assert "text-embedding-3-small" in str(info.value)
    with pytest.raises(ValueError, match="task_type"):
        client.embed(["x"], model="text-embedding-004", extra_body={"task_type": "NOPE"})
    with pytest.raises(ValueError, match="input_type"):
        client.embed(["x"], model="voyage-2", extra_body={"input_type": "query"})
    # Fields the client sets itself are not extra_body's to change (a `dimensions` there would
    # make answers of a width the client does not expect, after a billed request).
    for field in ("dimensions", "encoding_format", "model", "input", "task_type"):
        with pytest.raises(ValueError, match=f"may not set '{field}'"):
            client.embed(["x"], model="text-embedding-3-small", extra_body={field: 256})
    assert api.requests == []


def test_aliases_are_sent_as_the_canonical_id_the_schema_names() -> None:
    api = FakeAPI()
    result = api.client().embed(["x"], model="openai/text-embedding-3-small")
    assert api.requests[0]["model"] == "text-embedding-3-small" == result.model
    assert not gateway_errors(load_schema("text-embedding-3-small"), api.requests[0])


# ---- the package's validator against jsonschema ---------------------------------------------

BAD_BODIES = [
    {"model": "voyage-2", "input": ["y" * 801]},
    {"model": "voyage-2", "input": EMOJI * 4001},
    {"model": "voyage-2", "input": ""},
    {"model": "voyage-2", "input": ["x"], "input_type": "query"},
    {"model": "voyage-2", "input": [1, 2]},
    {"model": "voyage-2"},
    {"model": "text-embedding-3-small", "input": []},
    {"model": "text-embedding-3-small", "input": ["x"], "user": "u"},
    {"model": "text-embedding-3-small", "input": ["x"], "dimensions": "8"},
    {"model": "text-embedding-3-small", "input": ["x"], "dimensions": True},
    {"model": "text-embedding-3-small", "input": ["x"], "encoding_format": "int8"},
    {"model": "alibaba/qwen-text-embedding-v3", "input": ["x"], "dimensions": 63},
    {"model": "alibaba/qwen-text-embedding-v3", "input": ["x"], "dimensions": 64.5},
    {"model": "text-embedding-004", "input": ["x"], "auto_truncate": "yes"},
    {"model": "openai/text-embedding-3-small", "input": ["x"]},
]
GOOD_BODIES = [
    {"model": "voyage-2", "input": ["y" * 800, EMOJI * 400, ""]},
    {"model": "voyage-2", "input": EMOJI * 4000, "input_type": "document"},
    {"model": "text-embedding-3-small", "input": "x", "dimensions": 8, "encoding_format": "float"},
    {"model": "alibaba/qwen-text-embedding-v3", "input": ["x"], "dimensions": 2048},
    {"model": "text-embedding-004", "input": ["x"], "task_type": "CLUSTERING", "title": "t"},
]


@pytest.mark.parametrize("body", BAD_BODIES + GOOD_BODIES)
def test_the_package_validator_agrees_with_jsonschema(body: dict[str, Any]) -> None:
    name = body["model"].removeprefix("openai/").removeprefix("alibaba/")
    schema = load_schema(name)
    assert bool(violations(schema, body)) == bool(gateway_errors(schema, body)), body
    assert bool(violations(schema, body)) == (body in BAD_BODIES)


# ---- the gateway's 400, as the client meets it ----------------------------------------------


def test_a_body_validation_error_is_a_bad_request_naming_the_texts_of_that_request() -> None:
    # A user-described spec that gets Voyage's input types wrong: the gateway refuses the body.
    wrong = ModelSpec(
        name="text-embedding-3-small",
        dimensions=1536,
        context_tokens=8191,
        max_inputs=3,
        max_tokens_per_request=300_000,
        input_type_style="voyage",
    )
    texts = [f"text number {index}" for index in range(7)]
    with Emulator() as api:
        client = EmbeddingsClient(api_key=api.api_key, base_url=api.base_url, max_concurrency=1)
        with pytest.raises(BadRequestError) as info:
            client.embed(texts, model=wrong, batch_size=3)
        records = api.requests
    error = info.value
    assert error.status_code == 400
    assert "Body validation error!" in error.message
    assert "Unrecognized key(s) in object: 'input_type'" in error.message
    assert error.indices == (0, 1, 2)
    assert "texts[0..2]" in error.message
    assert len(records) == 1, "a 400 is not retried"


def test_a_text_the_gateway_calls_too_long_is_split_not_failed() -> None:
    # A spec that does not know Voyage's 800-character items: the gateway's schema refuses the
    # list, the client splits it until every item fits, and each text gets its vector.
    unaware = ModelSpec(
        name="voyage-2",
        dimensions=1024,
        context_tokens=4000,
        max_inputs=128,
        max_tokens_per_request=320_000,
        input_type_style="voyage",
    )
    texts = ["short one", "word " * 300, "another short one"]
    with Emulator() as api:
        client = EmbeddingsClient(api_key=api.api_key, base_url=api.base_url)
        result = client.embed(texts, model=unaware)
        refused = [record for record in api.requests if record.status == 400]
        sent = [text for record in api.requests if record.status == 200 for text in record.inputs]
    assert refused, "the gateway never refused: the case tests nothing"
    assert all("at most 800 character(s)" in (record.message or "") for record in refused)
    assert len(result.vectors) == 3
    assert result.vectors[0] == pytest.approx(embedding_for("short one", "voyage-2"), abs=1e-6)
    assert all(utf16_length(text) <= 800 for text in sent)


def test_a_400_names_every_blank_text_that_shared_the_stand_in() -> None:
    with Emulator() as api:
        api.fail_next(400, message="Body validation error!\nString must be longer at input.1")
        client = EmbeddingsClient(api_key=api.api_key, base_url=api.base_url)
        with pytest.raises(BadRequestError) as info:
            client.embed(["a", "", "b", "   "], model="voyage-2")
    assert info.value.indices == (0, 1, 2, 3)


def test_a_list_over_the_schema_item_count_is_halved_not_failed() -> None:
    message = "Body validation error!\nArray must contain at most 2 element(s) at input"
    with Emulator() as api:
        api.fail_next(400, message=message)
        client = EmbeddingsClient(api_key=api.api_key, base_url=api.base_url)
        result = client.embed(["one", "two", "three", "four"], model="voyage-2")
        sizes = [len(record.inputs) for record in api.requests]
    assert sizes == [4, 2, 2]
    assert result.vectors[3] == pytest.approx(embedding_for("four", "voyage-2"), abs=1e-6)


def test_the_long_text_error_counts_as_the_gateway_counts_and_says_so() -> None:
    with pytest.raises(InputTooLongError, match=r"8002 UTF-16 code units \(4001 characters\)"):
        FakeAPI().client().embed([EMOJI * 4001], model="voyage-2", long_text="error")
