"""The pure decisions shared by both shells: retry or not, how long to wait, which error."""

from __future__ import annotations

import email.utils

import pytest

from aimlapi_embeddings import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from aimlapi_embeddings._response import make_status_error
from aimlapi_embeddings._secret import Secret
from aimlapi_embeddings._transport import (
    MAX_RETRY_DELAY,
    overflow_kind,
    retry_delay,
    server_retry_after,
    should_retry_status,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (409, True),
        (422, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_which_statuses_are_retried(status: int, retried: bool) -> None:
    assert should_retry_status(status) is retried


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": email.utils.formatdate(NOW + 3, usegmt=True)}, 3.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "x", "retry-after": "1"}, 1.0),
        ({}, None),
    ],
)
def test_server_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert server_retry_after(headers, now=NOW) == expected


@pytest.mark.parametrize(
    ("attempt", "headers", "low", "high"),
    [
        (0, None, 0.375, 0.5),
        (1, None, 0.75, 1.0),
        (3, None, 3.0, 4.0),
        (10, None, MAX_RETRY_DELAY * 0.75, MAX_RETRY_DELAY),
        (1100, None, MAX_RETRY_DELAY * 0.75, MAX_RETRY_DELAY),  # 2.0**1100 overflows
        (0, {"retry-after": "7"}, 7.0, 7.0 * 1.25),
        (0, {"retry-after-ms": "20"}, 0.02, 0.02 * 1.25),
        (0, {"retry-after": "0"}, 0.0, 0.0),
        (2, {"retry-after": "3600"}, 1.5, 2.0),  # absurd: backoff instead
        (2, {"retry-after": "-5"}, 1.5, 2.0),  # absurd: backoff instead
        (0, {"retry-after": email.utils.formatdate(NOW + 3, usegmt=True)}, 3.0, 3.0 * 1.25),
    ],
)
def test_retry_delay(attempt: int, headers: dict[str, str] | None, low: float, high: float) -> None:
    for draw in (0.0, 0.5, 0.999):
        delay = retry_delay(attempt, headers, jitter=lambda draw=draw: draw, now=NOW)
        assert low <= delay <= high


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (307, APIStatusError),
        (418, APIStatusError),
    ],
)
def test_status_errors_map_onto_the_tree(status: int, error_type: type) -> None:
    error = make_status_error(status, "Reason", b'{"message": "m"}', {}, Secret("sk-x"))
    assert type(error) is error_type
    assert error.status_code == status


def test_both_error_body_shapes_and_the_request_id() -> None:
    aiml = (
        b'{"message": "Insufficient credits", "statusCode": 403, "requestId": "r-1",'
        b' "path": "/v1/embeddings", "timestamp": "2026-01-01T00:00:00Z"}'
    )
    error = make_status_error(403, "Forbidden", aiml, {}, Secret("sk-x"))
    assert str(error) == "403 Forbidden: Insufficient credits (request id r-1)"
    assert error.request_id == "r-1"
    openai = b'{"error": {"message": "bad input", "type": "invalid_request_error"}}'
    error = make_status_error(400, "Bad Request", openai, {"x-request-id": "r-2"}, Secret("sk-x"))
    assert str(error) == "400 Bad Request: bad input (request id r-2)"
    listed = b'{"message": ["input must be a string", "model is required"], "statusCode": 400}'
    assert "input must be a string; model is required" in str(
        make_status_error(400, "Bad Request", listed, {}, Secret("sk-x"))
    )
    html = make_status_error(502, "Bad Gateway", b"<html>upstream down</html>", {}, Secret("sk-x"))
    assert "upstream down" in str(html)


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (400, "This model's maximum context length is 8192 tokens", "tokens"),
        (400, "input[3] is 9000 tokens; this model's maximum context length is 8191", "tokens"),
        (400, "The max allowed tokens per submitted batch is 120000", "tokens"),
        (400, "too many inputs: 300 > 250 per request", "inputs"),
        (400, "batch size is invalid, it should not be larger than 10", "inputs"),
        (400, "Range of input length should be [1, 8192]", "tokens"),
        (413, "Request too long", "tokens"),
        (400, "dimensions must be at most 1536", None),
        (401, "maximum context length", None),
    ],
)
def test_overflow_is_recognised_from_the_servers_message(
    status: int, message: str, kind: str | None
) -> None:
    error = make_status_error(
        status, "Bad Request", f'{{"message": "{message}"}}'.encode(), {}, Secret("sk-secret")
    )
    assert overflow_kind(error) == kind
