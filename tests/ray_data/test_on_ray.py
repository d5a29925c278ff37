"""`AimlapiEmbedder` in `map_batches` on a local Ray instance (2 CPUs, no dashboard), against
the emulator that runs in this process: the actors reach it on 127.0.0.1 through base_url.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import ray
import ray.data
import ray.exceptions

from aimlapi_embeddings.ray import AimlapiEmbedder
from aimlapi_embeddings.testing import Emulator, embedding_for

# Ray's own DataContext sets a field it deprecated itself, on first use.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

MODEL = "text-embedding-3-small"
DIMS = 32
PASSAGES = [{"id": i, "text": f"passage {i}: bees make honey in hive {i % 17}"} for i in range(400)]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def api() -> Iterator[Emulator]:
    with Emulator(latency=0.01) as emulator:
        yield emulator


def settings(api: Emulator) -> dict[str, Any]:
    return {"model": MODEL, "dimensions": DIMS, "api_key": api.api_key, "base_url": api.base_url}


def vectors_by_id(dataset: ray.data.Dataset) -> dict[int, Any]:
    batch = dataset.take_batch(len(PASSAGES) + 1, batch_format="numpy")
    vectors = batch["embedding"]
    if vectors.dtype == object:  # a fixed-size list column comes out as one array per row
        vectors = np.stack(list(vectors))
    assert vectors.dtype == np.float32
    return dict(zip(batch["id"].tolist(), vectors, strict=True))


@pytest.mark.usefixtures("local_ray")
@pytest.mark.parametrize(
    ("batch_format", "parallelism"),
    [
        ("pyarrow", {"compute": "actors"}),
        ("pandas", {"compute": "actors"}),
        ("numpy", {"concurrency": 2}),  # DESIGN.md's spelling, deprecated since Ray 2.51
    ],
)
def test_every_row_gets_its_vector_and_usage_sums_over_the_workers(
    batch_format: str, parallelism: dict[str, Any], api: Emulator
) -> None:
    api.clear()
    if "compute" in parallelism:
        parallelism = {"compute": ray.data.ActorPoolStrategy(size=2)}
    embedded = (
        ray.data.from_items(PASSAGES)
        .map_batches(
            AimlapiEmbedder,
            fn_constructor_kwargs=settings(api),
            batch_size=64,
            batch_format=batch_format,
            num_cpus=0.25,
            **parallelism,
        )
        .materialize()
    )
    # pyarrow batches: a fixed-size list; pandas and numpy ones: Ray's tensor type. float32 both.
    assert embedded.schema().base_schema.field("embedding").type.value_type == pa.float32()
    got = vectors_by_id(embedded)
    assert sorted(got) == [passage["id"] for passage in PASSAGES]
    for passage in PASSAGES:
        expected = np.float32(embedding_for(passage["text"], MODEL, dimensions=DIMS))
        assert np.array_equal(got[passage["id"]], expected)
    # Summed over both actors' rows, the column is exactly what the API counted.
    billed = sum(record.total_tokens for record in api.requests if record.status == 200)
    assert embedded.sum("embedding_tokens") == billed > 0


@pytest.mark.usefixtures("local_ray")
def test_a_bad_row_fails_the_run_with_its_row_named(api: Emulator) -> None:
    rows = [{"id": i, "text": None if i == 70 else f"text {i}"} for i in range(100)]
    dataset = ray.data.from_items(rows).map_batches(
        AimlapiEmbedder,
        fn_constructor_kwargs=settings(api),
        compute=ray.data.ActorPoolStrategy(size=1),
        batch_size=50,
        num_cpus=0.25,
    )
    with pytest.raises(ray.exceptions.RayTaskError) as raised:
        dataset.materialize()
    assert "InvalidInputError: column 'text', row 20 of this batch (id=70)" in str(raised.value)
