"""What the emulator remembers about each request, for tests to assert on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aimlapi_embeddings.testing._faults import FaultKind

__all__ = ["RequestRecord"]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the emulator received, and how it answered.

    `inputs` are the texts as sent (a bare string counts as one input); `tokens` the emulator's
    count for each, `token_factor` included; `parameters` every other body field (for example
    `encoding_format`, `dimensions`, `input_type`). `time` is `time.monotonic()` on arrival.
    `fault` names the injected fault, if any; `message` is the error message sent, if any.
    """

    request_id: str
    time: float
    path: str
    status: int
    model: str = ""
    inputs: list[str] = field(default_factory=list)
    input_is_string: bool = False
    """`input` came as one string, not a list."""
    tokens: list[int] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    fault: FaultKind | None = None
    message: str | None = None

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens)
