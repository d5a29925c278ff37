"""Answers a hostile server may give: every one becomes correct vectors or an `AimlapiError`
(retried when the cause may pass), never a raw OverflowError, ValueError, RecursionError or
httpx.DecodingError, and never a wrong vector.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fakes import vector_for
from hostile import Connection, HostileServer, Request, embeddings

from aimlapi_embeddings import (
    AimlapiError,
    BadRequestError,
    EmbeddingResult,
    EmbeddingsClient,
    InternalServerError,
    ModelSpec,
    ResponseError,
)

KEY = "aiml-sk-answers-8d2e"
RETRIES = 1
DEEP = b"[" * 100_000 + b"]" * 100_000


def valid(request: Request, **changes: Any) -> bytes:
    payload = embeddings(request)
    payload.update(changes)
    return json.dumps(payload).encode()


def with_vector(text: str) -> Callable[[Request], bytes]:
    """A valid answer whose first vector is the JSON `text`."""

    def body(request: Request) -> bytes:
        payload = valid(request).decode()
        start = payload.index('"embedding": [') + len('"embedding": ')
        end = payload.index("]", start) + 1
        return (payload[:start] + text + payload[end:]).encode()

    return body


@dataclass
class Case:
    status: int
    body: Callable[[Request], bytes]
    error: type[AimlapiError] | None
    """None: the call succeeds with the right vectors."""
    retried: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""


CASES: dict[str, Case] = {
    "a 400-digit number in a vector": Case(
        200, with_vector("[1" + "0" * 400 + ", 0.5]"), ResponseError, message="too large"
    ),
    "true in a vector": Case(
        200, with_vector("[true, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]"), ResponseError
    ),
    "NaN token counts": Case(
        200, lambda r: valid(r, usage={"prompt_tokens": float("nan"), "total_tokens": 1e999}), None
    ),
    "a 400-digit credit count": Case(200, lambda r: valid(r, usage={"credits": 10**400}), None),
    "JSON nested 100 000 deep in a 200": Case(200, lambda r: DEEP, ResponseError),
    "JSON nested 100 000 deep in a 400": Case(400, lambda r: DEEP, BadRequestError, retried=False),
    "JSON nested 100 000 deep in a 503": Case(503, lambda r: DEEP, InternalServerError),
    "a 200 that is not the gzip it says": Case(
        200, valid, ResponseError, headers={"content-encoding": "gzip"}, message="gzip"
    ),
    "a 503 that is not the gzip it says": Case(
        503, valid, InternalServerError, headers={"content-encoding": "gzip"}
    ),
    "a 200 in an encoding not asked for": Case(
        200, valid, ResponseError, headers={"content-encoding": "br"}, message="'br'"
    ),
    "a gateway error sent as a 200": Case(
        200,
        lambda r: b'{"error": {"message": "quota exceeded for this key", "code": 429}}',
        ResponseError,
        message="quota exceeded for this key",
    ),
}


def run(shell: str, client: EmbeddingsClient, texts: list[str], **options: Any) -> EmbeddingResult:
    if shell == "sync":
        return client.embed(texts, **options)
    return asyncio.run(client.aembed(texts, **options))


@pytest.mark.parametrize("shell", ["sync", "async"])
@pytest.mark.parametrize("name", CASES)
def test_a_hostile_answer_is_an_aimlapi_error_or_the_right_vectors(
    name: str, shell: str, fast_backoff: None
) -> None:
    case = CASES[name]

    def answer(request: Request, connection: Connection) -> None:
        connection.answer(case.status, case.body(request), headers=case.headers)

    with HostileServer(answer) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, max_retries=RETRIES)
        try:
            result = run(shell, client, ["a text"], dimensions=8)
        except AimlapiError as exc:
            error: AimlapiError | None = exc
        else:
            error = None
        finally:
            client.close()
    if case.error is None:
        assert error is None, f"{name}: {error!r}"
        assert result.vectors == [vector_for("a text", 8)]
        assert result.usage.prompt_tokens is None, "a count that is not one is left out"
        assert result.usage.credits is None
        return
    assert isinstance(error, case.error), f"{name}: {error!r}"
    assert case.message in str(error), f"{name}: the message does not say it: {error}"
    attempts = RETRIES + 1 if case.retried else 1
    assert len(server.requests) == attempts, f"{name}: {len(server.requests)} request(s)"


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_finite_values_near_the_float32_maximum_are_taken_as_they_are(shell: str) -> None:
    huge = [3.4e38, -3.4e38, 3.4028235e38, -3.4028235e38, 1e38, 0.0, 3.4e38, 3.4e38]

    def answer(request: Request, connection: Connection) -> None:
        connection.answer(200, with_vector(json.dumps(huge))(request))

    with HostileServer(answer) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, max_retries=0)
        result = run(shell, client, ["a text"], dimensions=8)
        client.close()
    assert result.vectors == [huge]


@pytest.mark.parametrize("shell", ["sync", "async"])
@pytest.mark.parametrize("output", ["list", "numpy"])
def test_values_beyond_float32_are_refused_by_both_outputs(shell: str, output: str) -> None:
    huge = [1.7e308, -1.7e308, 1e308, -1e308, 1.5e308, 0.0, 1.7e308, 1.7e308]

    def answer(request: Request, connection: Connection) -> None:
        connection.answer(200, with_vector(json.dumps(huge))(request))

    with HostileServer(answer) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, max_retries=0)
        with pytest.raises(ResponseError, match="too large for float32"):
            run(shell, client, ["a text"], dimensions=8, output=output)
        client.close()


# ---- a model whose width is not known in advance ---------------------------------------------

ANY_WIDTH = ModelSpec(
    name="in-house-embedder",
    dimensions=None,
    context_tokens=40,
    max_inputs=2,
    max_tokens_per_request=10_000,
)


def width_by_first_letter(request: Request, connection: Connection) -> None:
    """8 numbers for texts that start with "a", 12 for the others."""
    width = 8 if request.texts[0].startswith("a") else 12
    connection.answer(200, embeddings(request, width))


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_answers_of_different_widths_in_one_call_are_an_error_not_mixed_rows(
    shell: str, fast_backoff: None
) -> None:
    with HostileServer(width_by_first_letter) as server:
        client = EmbeddingsClient(
            api_key=KEY, base_url=server.base_url, max_retries=RETRIES, max_concurrency=1
        )
        with pytest.raises(ResponseError, match="12 numbers, expected 8"):
            run(shell, client, ["apple", "avocado", "banana", "blueberry"], model=ANY_WIDTH)
        client.close()


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_pieces_of_one_long_text_in_different_widths_are_an_error_not_a_crash(
    shell: str, fast_backoff: None
) -> None:
    """One text over the context of 40 tokens goes in pieces, one request each (2 per request
    would do, but the pieces that start with "a" and "b" land in different batches)."""
    long_text = "a" * 50 + " " + "b" * 50 + " " + "c" * 50
    with HostileServer(width_by_first_letter) as server:
        client = EmbeddingsClient(
            api_key=KEY, base_url=server.base_url, max_retries=RETRIES, max_concurrency=1
        )
        with pytest.raises(ResponseError, match="12 numbers, expected 8"):
            run(shell, client, [long_text], model=ANY_WIDTH, batch_size=1)
        client.close()


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_a_model_of_unknown_width_keeps_the_width_of_its_answers(shell: str) -> None:
    with HostileServer(width_by_first_letter) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, max_concurrency=1)
        texts = ["banana", "blueberry", "cherry"]
        result = run(shell, client, texts, model=ANY_WIDTH, batch_size=1)
        client.close()
    assert result.vectors == [vector_for(text, 12) for text in texts]
