"""Ray Data: `AimlapiEmbedder` embeds a text column with any AI/ML API model.

    import ray.data
    from aimlapi_embeddings.ray import AimlapiEmbedder

    ds = ray.data.read_parquet("passages/").map_batches(
        AimlapiEmbedder,
        fn_constructor_kwargs={"model": "text-embedding-3-small"},
        compute=ray.data.ActorPoolStrategy(size=4),  # `concurrency=4` before Ray 2.51
        batch_size=1024,
    )

Each actor holds one `EmbeddingsClient`, so everything the core does holds here: every per-model
rule, `max_concurrency` requests in flight per actor, retries with backoff, and a 429 slowing all
of that actor's requests. A batch comes back in its own format (pandas, pyarrow or numpy) with two
more columns: the vectors, float32 and never Python floats (pyarrow: a fixed-size list; numpy: a
2-D array; pandas: one float32 array per row), and the tokens the API counted for them.

The token column, not Ray's metrics, is how usage is reported: it travels with the rows, so summing
it over the dataset gives the usage of exactly the vectors that were kept, on any number of workers,
and a batch that Ray runs twice (a worker lost and its task retried) is not counted twice.

This module does not import Ray: the same callable serves Spark's `mapInPandas` or any loop over
DataFrames. It needs numpy, which the `[ray]` extra brings along with Ray Data.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from ._errors import InvalidInputError
from ._extras import missing_extra
from .client import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT,
    EmbeddingsClient,
)
from .models import InputRole, ModelSpec, get_model_spec

try:
    import numpy as np
    import numpy.typing as npt
except ModuleNotFoundError as exc:
    raise missing_extra(exc, extra="ray", needed_by="aimlapi_embeddings.ray") from exc

__all__ = ["AimlapiEmbedder"]

BatchFormat = Literal["pandas", "pyarrow", "numpy"]

# At most this many other columns, and this many characters of each, describe a bad row.
_ROW_COLUMNS = 3
_PREVIEW_CHARS = 40


class AimlapiEmbedder:
    """A Ray Data `map_batches` callable class: one client per actor, float32 vectors out.

    Key init args:
        model: a model id, an alias, or a `ModelSpec`.
        text_column: the column to embed (strings only; a bad value is an `InvalidInputError`
            naming its row).
        output_column: where the vectors go.
        usage_column: where the tokens go: the batch's tokens as the API counted them, shared out
            over its rows by text length so that the column sums to exactly what was billed
            (0 if the API reports none). None leaves it out.
        dimensions, input_type: as in `EmbeddingsClient.embed`.
        max_concurrency, max_retries, timeout: the actor's client; total requests in flight are
            actors x max_concurrency.
        api_key, base_url: default to the worker's environment (`AIMLAPI_API_KEY`,
            `AIMLAPI_BASE_URL`); whatever is passed here is serialised by Ray to every actor.
    """

    def __init__(
        self,
        *,
        model: str | ModelSpec = DEFAULT_MODEL,
        text_column: str = "text",
        output_column: str = "embedding",
        usage_column: str | None = "embedding_tokens",
        dimensions: int | None = None,
        input_type: InputRole = "document",
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> None:
        names = [text_column, output_column, usage_column]
        if len(set(names)) != len(names):
            msg = (
                "text_column, output_column and usage_column must differ, not "
                f"{text_column!r}, {output_column!r}, {usage_column!r}"
            )
            raise ValueError(msg)
        self.spec = model if isinstance(model, ModelSpec) else get_model_spec(model)
        self.text_column = text_column
        self.output_column = output_column
        self.usage_column = usage_column
        self.dimensions = dimensions
        self.input_type = input_type
        self.client = EmbeddingsClient(
            api_key=api_key,
            base_url=base_url,
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            timeout=timeout,
        )
        # The client checks the model, `dimensions` and `input_type` as it will for every batch,
        # and sends nothing for no texts: a bad setting fails here, when the actor starts.
        self.client.embed([], model=self.spec, dimensions=dimensions, input_type=input_type)

    def __repr__(self) -> str:
        return (
            f"AimlapiEmbedder(model={self.spec.name!r}, text_column={self.text_column!r}, "
            f"output_column={self.output_column!r}, usage_column={self.usage_column!r}, "
            f"client={self.client!r})"
        )

    def __call__(self, batch: Any) -> Any:
        """The batch with its vectors and tokens added, in the format it came in."""
        kind = _batch_format(batch)
        texts = _column(batch, kind, self.text_column)
        try:
            # No request for no texts: an empty batch gets an empty (0, width) array.
            result = self.client.embed(
                texts,
                model=self.spec,
                dimensions=self.dimensions,
                input_type=self.input_type,
                output="numpy",
            )
        except InvalidInputError as exc:
            if exc.index is None:
                raise
            raise _at_row(exc, batch, kind, self.text_column) from exc
        usage = result.usage
        tokens = usage.total_tokens if usage.total_tokens is not None else usage.prompt_tokens
        columns: dict[str, Any] = {self.output_column: result.vectors}
        if self.usage_column is not None:
            lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
            columns[self.usage_column] = _apportion(tokens or 0, lengths)
        return _with_columns(batch, kind, columns)


def _apportion(total: int, weights: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """`total` shared out in proportion to `weights` (plus one each, so an empty text gets its
    share too), in whole numbers that sum to exactly `total`: int64 array, one per weight.

    Largest remainders get the units that flooring leaves over; all in integers, so nothing is
    lost to rounding.
    """
    counted = np.asarray(weights, dtype=np.int64) + 1
    if counted.size == 0:
        return np.zeros(0, dtype=np.int64)
    scaled = counted * total
    whole = int(counted.sum())
    shares = scaled // whole
    left_over = total - int(shares.sum())
    if left_over:
        shares[np.argsort(-(scaled % whole), kind="stable")[:left_over]] += 1
    return shares


# -- batch formats: what Ray Data hands a map_batches callable -----------------------------------


def _batch_format(batch: object) -> BatchFormat:
    """Which of Ray Data's batch formats `batch` is in. A batch of a library's type means that
    library is already imported: nothing is imported here."""
    if isinstance(batch, Mapping):
        return "numpy"
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None and isinstance(batch, pyarrow.Table):
        return "pyarrow"
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(batch, pandas.DataFrame):
        return "pandas"
    msg = (
        "AimlapiEmbedder takes a pandas DataFrame, a pyarrow Table or a dict of numpy arrays "
        f'(batch_format="pandas", "pyarrow" or "numpy"), not {type(batch).__name__}'
    )
    raise TypeError(msg)


def _column_names(batch: Any, kind: BatchFormat) -> list[str]:
    if kind == "pyarrow":
        return list(batch.column_names)
    return [str(name) for name in (batch.columns if kind == "pandas" else batch)]


def _column(batch: Any, kind: BatchFormat, name: str) -> list[Any]:
    """The values of column `name` as Python objects (texts are strings: no float is made)."""
    names = _column_names(batch, kind)
    if name not in names:
        msg = (
            f"the batch has no text column {name!r} (its columns: {names}); "
            "set text_column= to the column that holds the texts"
        )
        raise InvalidInputError(msg)
    if kind == "pyarrow":
        return list(batch.column(name).to_pylist())
    if kind == "pandas":
        return list(batch[name].tolist())
    return list(np.asarray(batch[name]).tolist())


def _with_columns(batch: Any, kind: BatchFormat, columns: dict[str, Any]) -> Any:
    """`batch` with `columns` (name: 1-D or 2-D numpy array) added or replaced, same format."""
    if kind == "numpy":
        return {**batch, **columns}
    if kind == "pandas":
        # One float32 row view per vector, over the same block of memory; Ray stores the column
        # as a tensor, Spark's mapInPandas as array<float>.
        return batch.assign(
            **{
                name: list(values) if values.ndim == 2 else values
                for name, values in columns.items()
            }
        )
    import pyarrow as pa

    table = batch
    for name, values in columns.items():
        if values.ndim == 2 and values.shape[1] == 0:
            # No rows, for a model whose width is unknown until it answers: Arrow has no
            # fixed-size list of size 0, and no width to give one.
            array = pa.array([], type=pa.list_(pa.float32()))
        elif values.ndim == 2:
            flat = pa.array(values.reshape(-1))  # zero-copy: the float32 buffer as it is
            array = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
        else:
            array = pa.array(values)
        index = table.schema.get_field_index(name)
        if index >= 0:
            table = table.set_column(index, name, array)
        else:
            table = table.append_column(name, array)
    return table


def _row(batch: Any, kind: BatchFormat, index: int) -> dict[str, Any]:
    if kind == "pyarrow":
        return dict(batch.slice(index, 1).to_pylist()[0])
    if kind == "pandas":
        return dict(batch.iloc[index].to_dict())
    return {name: values[index] for name, values in batch.items()}


def _at_row(
    error: InvalidInputError, batch: Any, kind: BatchFormat, column: str
) -> InvalidInputError:
    """The core's error about `texts[i]`, said of the row: its place and its other columns
    (an id, most often), which is what finds it in a dataset of millions."""
    assert error.index is not None
    others = [
        f"{name}={_preview(value)}"
        for name, value in _row(batch, kind, error.index).items()
        if name != column and isinstance(_scalar(value), (str, int, float, bool, type(None)))
    ][:_ROW_COLUMNS]
    where = f"row {error.index} of this batch" + (f" ({', '.join(others)})" if others else "")
    return type(error)(f"column {column!r}, {where}: {error.message}", index=error.index)


def _scalar(value: Any) -> Any:
    # numpy and pandas scalars (np.int64, np.str_) as the Python values they stand for.
    return value.item() if isinstance(value, np.generic) else value


def _preview(value: Any) -> str:
    text = repr(_scalar(value))
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 3] + "..."
