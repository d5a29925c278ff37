"""The embeddings endpoint's rules: what a valid request is, and what the answers look like.

Pure functions of the request body and the model registry; the server adds HTTP and faults.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

from aimlapi_embeddings._schema import BODY_VALIDATION_ERROR, load_schema, violations
from aimlapi_embeddings.models import MODELS, ModelSpec, get_model_spec
from aimlapi_embeddings.testing._tokens import count_tokens
from aimlapi_embeddings.testing._vectors import Encoding, VectorBank, encode_vector, unit_vector

__all__ = [
    "EmbeddingCall",
    "ParsedRequest",
    "answer_body",
    "answer_format",
    "embedding_for",
    "error_body",
    "parse_request",
]

_ENCODINGS: frozenset[str] = frozenset({"float", "base64"})


class _Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class EmbeddingCall:
    """A valid request, ready to answer."""

    spec: ModelSpec
    inputs: list[str]
    tokens: list[int]
    width: int
    encoding: Encoding


@dataclass(slots=True)
class ParsedRequest:
    """What could be read from a request body, and either the call to answer or why not."""

    model: str = ""
    inputs: list[str] = field(default_factory=list)
    input_is_string: bool = False
    tokens: list[int] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    """What broke the model's published request schema (then the answer is a 400)."""
    call: EmbeddingCall | None = None
    status: int = 200
    message: str | None = None


def parse_request(body: bytes, *, token_factor: float = 1.0) -> ParsedRequest:
    """Read and validate one `POST /embeddings` body, as the gateway and the vendor would.

    First the model: an id the registry does not serve (unknown, or removed from AI/ML API) is a
    404. Then the gateway's check of the body against the model's published request schema: a
    400 "Body validation error!" with a line per problem. Then what the upstream vendor enforces
    (the registry's inputs, tokens per request and context per input) and the answer's format.
    """
    parsed = ParsedRequest()
    try:
        _parse(body, token_factor, parsed)
    except _Rejected as rejected:
        parsed.status, parsed.message = rejected.status, rejected.message
    return parsed


def _parse(body: bytes, token_factor: float, parsed: ParsedRequest) -> None:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Rejected(400, "the request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise _Rejected(400, "the request body must be a JSON object")
    model = payload.get("model")
    raw_input = payload.get("input")
    parsed.parameters = {k: v for k, v in payload.items() if k not in ("model", "input")}
    if not isinstance(model, str) or not model:
        raise _Rejected(400, "`model` is required and must be a string")
    parsed.model = model
    if isinstance(raw_input, str):
        parsed.input_is_string = True
        parsed.inputs = [raw_input]
    elif isinstance(raw_input, list):
        parsed.inputs = [item for item in raw_input if isinstance(item, str)]
    spec = _known_spec(model)
    assert spec.schema is not None  # every served model publishes one
    parsed.violations = violations(load_schema(spec.schema), payload)
    if parsed.violations:
        raise _Rejected(400, "\n".join([BODY_VALIDATION_ERROR, *parsed.violations]))
    texts = _texts(raw_input)  # type: ignore[arg-type]  # the schema made it text
    parsed.tokens = [math.ceil(count_tokens(text) * token_factor) for text in texts]
    _check_input_count(spec, texts)
    encoding = _encoding(parsed.parameters.get("encoding_format"))
    width = _width(spec, parsed.parameters.get("dimensions"))
    _check_limits(spec, parsed.tokens)
    parsed.call = EmbeddingCall(spec, texts, parsed.tokens, width, encoding)


def _texts(raw_input: str | list[str]) -> list[str]:
    """The texts of a body the schema accepted, checked as the upstream vendors check them.

    OpenAI and Voyage embed nothing empty: an empty list or an empty string is their 400, even
    where the gateway's schema lets one through (Voyage's list has no minItems, its items and
    OpenAI's no minLength).
    """
    texts = [raw_input] if isinstance(raw_input, str) else raw_input
    if not texts:
        raise _Rejected(400, "`input` must not be an empty list")
    for index, text in enumerate(texts):
        if not text:
            raise _Rejected(400, f"input[{index}] is an empty string; it cannot be embedded")
    return texts


def _served_spec(model: str) -> ModelSpec | None:
    """The registry's rules for `model` if AI/ML API serves it (known, not removed), else None."""
    spec = get_model_spec(model)
    if spec.name not in MODELS or spec.status == "removed" or spec.schema is None:
        return None
    return spec


def _known_spec(model: str) -> ModelSpec:
    spec = _served_spec(model)
    if spec is None:
        raise _Rejected(404, f"model not found: {model!r} is not an embedding model")
    return spec


def _check_input_count(spec: ModelSpec, texts: list[str]) -> None:
    if len(texts) > spec.max_inputs:
        raise _Rejected(
            400, f"too many inputs: {len(texts)} > {spec.max_inputs} per request for {spec.name}"
        )


def _encoding(value: Any) -> Encoding:
    if value is None or value == "float":
        return "float"
    if value == "base64":
        return "base64"
    raise _Rejected(400, f"`encoding_format` must be one of {sorted(_ENCODINGS)}, not {value!r}")


def _width(spec: ModelSpec, dimensions: Any) -> int:
    assert spec.dimensions is not None  # every registry model has a width
    if dimensions is None:
        return spec.dimensions
    if spec.dimensions_range is None:
        raise _Rejected(400, f"{spec.name} does not support the `dimensions` parameter")
    low, high = spec.dimensions_range
    if isinstance(dimensions, float) and dimensions.is_integer():
        dimensions = int(dimensions)  # JSON has one number type: 256.0 is 256
    if isinstance(dimensions, bool) or not isinstance(dimensions, int):
        raise _Rejected(400, f"`dimensions` must be an integer from {low} to {high}")
    if not low <= dimensions <= high:
        raise _Rejected(
            400, f"`dimensions` must be from {low} to {high} for {spec.name}, not {dimensions}"
        )
    return dimensions


def _check_limits(spec: ModelSpec, tokens: list[int]) -> None:
    # Per-input context first: a text over the context needs splitting, not a smaller batch.
    for index, count in enumerate(tokens):
        if count > spec.context_tokens:
            raise _Rejected(
                400,
                f"input[{index}] is {count} tokens; this model's maximum context length is "
                f"{spec.context_tokens} tokens",
            )
    total = sum(tokens)
    if total > spec.max_tokens_per_request:
        raise _Rejected(
            400,
            f"this request has {total} tokens; the maximum allowed tokens per request is "
            f"{spec.max_tokens_per_request} for {spec.name}",
        )


def _usage(spec: ModelSpec, total: int) -> bytes:
    # Each vendor reports usage its own way, and AI/ML API passes it through.
    if spec.input_type_style == "voyage":
        return b'{"prompt_tokens":null,"total_tokens":%d}' % total
    return b'{"prompt_tokens":%d,"total_tokens":%d}' % (total, total)


def answer_body(call: EmbeddingCall, bank: VectorBank, order: list[int]) -> bytes:
    """The 200 answer: `data` in `order` (each item keeps its own `index`), model and usage."""
    parts = [b'{"object":"list","data":[']
    for position, index in enumerate(order):
        text = call.inputs[index]
        parts.append(
            b'%s{"object":"embedding","index":%d,"embedding":' % (b"," * bool(position), index)
        )
        parts.append(bank.fragment(text, call.width, call.encoding))
        parts.append(b"}")
    model = json.dumps(call.spec.name).encode()
    parts.append(b'],"model":%s,"usage":%s}' % (model, _usage(call.spec, sum(call.tokens))))
    # One join: answers reach megabytes, and every extra copy of them shows in benchmarks.
    return b"".join(parts)


def error_body(status: int, message: str, *, request_id: str, path: str) -> bytes:
    """AI/ML API's error shape."""
    timestamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    return json.dumps(
        {
            "message": message,
            "statusCode": str(status),  # a string, as in the published example ("429")
            "requestId": request_id,
            "path": path,
            "timestamp": timestamp.replace("+00:00", "Z"),
        }
    ).encode()


def answer_format(
    model: str, *, dimensions: int | None = None, encoding_format: Encoding | None = None
) -> tuple[int, Encoding]:
    """The width and encoding of the vectors a request for `model` gets, or `ValueError`.

    `encoding_format` defaults to the one the client uses for `model`.
    """
    try:
        spec = _known_spec(model)
        width = _width(spec, dimensions)
    except _Rejected as rejected:
        raise ValueError(rejected.message) from None
    return width, encoding_format or spec.encoding


def embedding_for(
    text: str,
    model: str,
    *,
    dimensions: int | None = None,
    encoding_format: Encoding | None = None,
) -> list[float]:
    """The vector the emulator answers for `text`, exactly as a client decodes it.

    `encoding_format` defaults to the one the client uses for `model`. For tests that compare a
    client's output with the emulator's; NOT the real model's vector.
    """
    width, encoding = answer_format(model, dimensions=dimensions, encoding_format=encoding_format)
    value = json.loads(encode_vector(unit_vector(text, width), encoding))
    if isinstance(value, str):
        packed = base64.b64decode(value)
        return list(struct.unpack(f"<{len(packed) // 4}f", packed))
    return [float(item) for item in value]
