"""The contract issue's "done when": 2,000 documents of 500-20,000 characters embed with every
active model, through the emulator, in input order, with zero schema violations."""

from __future__ import annotations

import random

import pytest

from aimlapi_embeddings import MODELS, EmbeddingsClient, ModelSpec
from aimlapi_embeddings._batching import Plan, combine, plan_requests
from aimlapi_embeddings.testing import Emulator, embedding_for

ACTIVE = [spec for spec in MODELS.values() if spec.status == "active"]
WORDS = [
    "retrieval",
    "vector",
    "index",
    "chunk",
    "passage",
    "query",
    "answer",
    "model",
    "token",
    "batch",
    "river",
    "harbour",
    "lantern",
    "meadow",
    "glacier",
    "canyon",
    "orchard",
    "日本語",
    "テキスト",
    "naïve",
    "café",
    "🙂",
    "👍🏽",
    "Ελληνικά",
]


def documents(count: int = 2000, seed: int = 9) -> list[str]:
    """Distinct documents of 500 to 20,000 characters, some with emoji, accents and CJK."""
    rng = random.Random(seed)
    texts = []
    for number in range(count):
        length = rng.randint(500, 20_000)
        words = [f"doc{number}"]
        size = len(words[0])
        while size < length:
            words.append(rng.choice(WORDS))
            size += len(words[-1]) + 1
        texts.append(" ".join(words)[:length])
    return texts


DOCUMENTS = documents()


# Vectors are checked at these positions (the first, the last, and 300 drawn): a batch answered
# out of place moves at least a whole batch, which 300 of 2,000 draws cannot all miss.
CHECKED = sorted({0, len(DOCUMENTS) - 1, *random.Random(3).sample(range(len(DOCUMENTS)), 300)})


def expected(spec: ModelSpec, plan: Plan, index: int) -> list[float]:
    """Text `index`'s vector from the emulator's vectors of the pieces the planner cut it into."""
    pieces = [plan.pieces[piece] for piece in plan.spans[index]]
    parts = [embedding_for(piece, spec.name) for piece in pieces]
    return parts[0] if len(parts) == 1 else combine(parts, list(map(len, pieces)))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("spec", ACTIVE, ids=[spec.name for spec in ACTIVE])
def test_two_thousand_real_sized_documents_embed_in_order_with_zero_violations(
    spec: ModelSpec,
) -> None:
    with Emulator() as api:
        client = EmbeddingsClient(api_key=api.api_key, base_url=api.base_url, max_concurrency=8)
        result = client.embed(DOCUMENTS, model=spec.name)
        records = api.requests
        violations = api.schema_violations
    assert violations == 0, [record.message for record in records if record.status == 400][:3]
    assert all(record.status == 200 for record in records)
    assert len(result.vectors) == len(DOCUMENTS)
    plan = plan_requests(DOCUMENTS, spec)
    wrong = [
        index
        for index in CHECKED
        if result.vectors[index] != pytest.approx(expected(spec, plan, index), abs=1e-6)
    ]
    assert not wrong, f"vectors of texts{wrong[:5]} are not theirs (lost, moved or corrupted)"
    if spec.max_item_chars:
        alone = [record for record in records if record.input_is_string]
        assert alone, "no text over the item limit went alone as one string"
        assert all(len(record.inputs) == 1 for record in alone)
