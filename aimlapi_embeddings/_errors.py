"""The error tree. Every failure the package raises is an `AimlapiError`.

    AimlapiError
    ├── InvalidInputError (also ValueError)      a bad text, by index, before any request
    │   └── InputTooLongError                    over the context with long_text="error"
    ├── APIConnectionError                       no answer: refused, dropped, reset
    │   └── APITimeoutError                      no answer in time
    ├── APIStatusError                           the API answered with an error status
    │   ├── BadRequestError                      400
    │   ├── AuthenticationError                  401
    │   ├── PermissionDeniedError                403 (also: out of credits)
    │   ├── NotFoundError                        404
    │   ├── RateLimitError                       429
    │   └── InternalServerError                  5xx
    └── ResponseError                            a 200 whose body is not a valid embeddings answer

Configuration mistakes (no key, bad `dimensions`, plain http) raise `ValueError` (a wrong value)
or `TypeError` (a wrong kind) at construction or before the first request.
Messages carry the status, the server's message and its request id; never the key, in any form
a server may have echoed it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AimlapiError",
    "AuthenticationError",
    "BadRequestError",
    "InputTooLongError",
    "InternalServerError",
    "InvalidInputError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseError",
]


class AimlapiError(Exception):
    """Base of every error this package raises."""

    resume_from: int | None = None
    """Set by `embed_stream()`: the index of the first text it did not deliver."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle by the state in __dict__ so subclasses with extra attributes survive a trip to
        # another process (multiprocessing, Ray) without re-running their __init__.
        return (_rebuild_error, (type(self), self.message, self.__dict__))


def _rebuild_error(cls: type[AimlapiError], message: str, state: dict[str, Any]) -> AimlapiError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class InvalidInputError(AimlapiError, ValueError):
    """A text that cannot be embedded; `index` is its position in the input list."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class InputTooLongError(InvalidInputError):
    """A text over the model's context while long_text="error"."""


class APIConnectionError(AimlapiError):
    """The API could not be reached, or the connection broke before an answer."""


class APITimeoutError(APIConnectionError):
    """The API did not answer within the timeout."""


class ResponseError(AimlapiError):
    """The API answered 200 with a body that is not a valid embeddings answer."""


class APIStatusError(AimlapiError):
    """The API answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        body: object = None,
        indices: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        self.indices = indices
        """For a 400: the input positions of the texts in the refused request."""


class BadRequestError(APIStatusError):
    """400: the request was refused as invalid; `indices` names the texts it carried.

    AI/ML API answers "Body validation error!" and a detail line when a body breaks the model's
    published schema; the message carries both.
    """


class AuthenticationError(APIStatusError):
    """401: the key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model, or the account is out of credits."""


class NotFoundError(APIStatusError):
    """404: no such model or endpoint."""


class RateLimitError(APIStatusError):
    """429: too many requests; retried with backoff until retries are spent."""


class InternalServerError(APIStatusError):
    """5xx: the API failed; retried with backoff until retries are spent."""
