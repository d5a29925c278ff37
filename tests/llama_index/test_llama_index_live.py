"""AimlapiEmbedding against the real AI/ML API: run only when AIMLAPI_API_KEY is set.

Each test spends a few hundred tokens of the cheapest model, with shortened vectors.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from llama_index.core import Document, Settings, VectorStoreIndex

from llama_index_aimlapi import AimlapiEmbedding

pytestmark = pytest.mark.live

CORPUS = {
    "eiffel": "The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
    "photosynthesis": "Photosynthesis lets green plants turn sunlight into chemical energy.",
    "sourdough": "Sourdough bread rises thanks to wild yeast in the starter.",
}
QUESTIONS = {
    "Which landmark stands in the French capital?": "eiffel",
    "How do plants get energy from light?": "photosynthesis",
    "What leavens a naturally fermented loaf?": "sourdough",
}


@pytest.fixture
def embedding(live_api_key: str) -> Iterator[AimlapiEmbedding]:
    model = AimlapiEmbedding(api_key=live_api_key, dimensions=256)
    yield model
    model.close()


def cosine(left: list[float], right: list[float]) -> float:
    dot = sum(a * b for a, b in zip(left, right, strict=True))
    return dot / (math.hypot(*left) * math.hypot(*right))


async def test_live_sync_async_batch_single_agree(embedding: AimlapiEmbedding) -> None:
    texts = list(CORPUS.values())
    batch = embedding.get_text_embedding_batch(texts)
    assert [len(vector) for vector in batch] == [256] * len(texts)
    async_batch = await embedding.aget_text_embedding_batch(texts)
    single = embedding.get_text_embedding(texts[0])
    # The real model is not bit-for-bit deterministic across requests; it is this close.
    for left, right in zip(batch, async_batch, strict=True):
        assert cosine(left, right) > 0.99
    assert cosine(batch[0], single) > 0.99
    assert cosine(batch[0], await embedding.aget_query_embedding(texts[0])) > 0.99


@pytest.mark.usefixtures("restore_settings")
def test_live_index_retrieves_the_right_document(embedding: AimlapiEmbedding) -> None:
    Settings.embed_model = embedding
    index = VectorStoreIndex.from_documents(
        [Document(text=text, id_=name) for name, text in CORPUS.items()]
    )
    retriever = index.as_retriever(similarity_top_k=1)
    for question, name in QUESTIONS.items():
        (hit,) = retriever.retrieve(question)
        assert hit.node.ref_doc_id == name
