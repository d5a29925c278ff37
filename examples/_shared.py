"""What the examples and notebooks share: a small corpus, questions about it, where to send
requests, and what to say when an example's framework is not installed."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from aimlapi_embeddings._extras import missing_extra

MODEL = os.environ.get("AIMLAPI_MODEL", "text-embedding-3-small")

DOCUMENTS = {
    "eiffel": "The Eiffel Tower is a wrought-iron lattice tower in Paris, France, completed "
    "in 1889 for the World's Fair.",
    "photosynthesis": "Photosynthesis turns sunlight, water and carbon dioxide into glucose and "
    "oxygen inside the leaves of green plants.",
    "python": "The Python programming language emphasises readable code and batteries included.",
    "everest": "Mount Everest, on the border of Nepal and China, is Earth's highest mountain "
    "above sea level.",
    "vector-db": "Vector databases store embeddings and answer nearest-neighbour queries "
    "quickly, which is what retrieval-augmented generation needs.",
    "reef": "The Great Barrier Reef off Australia is the world's largest coral reef system.",
}
QUESTIONS = [
    "Which tower stands in Paris?",
    "How do plants make glucose from sunlight?",
    "Where do I store embeddings for nearest-neighbour search?",
]


EMULATOR_SCORES = (
    "Its vectors are deterministic bags of words, NOT the real model's: texts that share words\n"
    "score higher, so the right passage still comes first, but cosines stay low (about 0.3 for\n"
    "a good match, near 0 for unrelated texts) because a question and its answer share only a\n"
    "few words. A real model compares meaning, and its scores are on a different scale."
)


@contextlib.contextmanager
def needs_extra(extra: str, *, example: str) -> Iterator[None]:
    """Around an example's framework imports: a missing one names the extra that brings it, as
    importing an adapter does, instead of a bare ModuleNotFoundError."""
    try:
        yield
    except ModuleNotFoundError as exc:
        raise missing_extra(exc, extra=extra, needed_by=example) from exc


@contextlib.contextmanager
def api_settings(model: str = MODEL) -> Iterator[tuple[str, str | None]]:
    """(key, base URL): the real API when a key is set, else the loopback emulator, announced."""
    key = os.environ.get("AIMLAPI_API_KEY")
    if key:
        base_url = os.environ.get("AIMLAPI_BASE_URL")
        where = f"the API at {base_url}" if base_url else "the real AI/ML API"
        print(f"Using {where} with model {model} (AIMLAPI_API_KEY is set).\n")
        yield key, base_url
        return
    from aimlapi_embeddings.testing import Emulator

    with Emulator(latency=0.02) as api:
        print(
            "AIMLAPI_API_KEY is not set: using the bundled loopback emulator at "
            f"{api.base_url}.\n{EMULATOR_SCORES}\nSet AIMLAPI_API_KEY to use the real API.\n"
        )
        yield api.api_key, api.base_url
