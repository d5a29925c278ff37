"""Embed a corpus on Ray Data, resumably: passages in, Parquet files of (id, text, vector) out.

    python examples/ray_embed.py ray-demo/passages.jsonl ray-demo/vectors --actors 2

The input is JSONL or Parquet (a file, or a folder of them) with an `id` and a `text` per row;
ids must be unique. Each batch of vectors is written to the output folder as one Parquet file,
whole or not at all (a temporary name, then a rename), under a name made from the batch's ids.
So a run stopped anywhere (Ctrl-C, a killed worker, a lost machine) resumes by running the same
command again: passages whose id is in a finished file are skipped, half-written files are thrown
away, and a batch that Ray runs twice replaces its own file: no id is ever written twice. Do not
run two of them into one folder at the same time (after a hard kill, the old run's Ray workers
stop within a second or two: a new run reads the folder only once its own Ray has started).

Total requests in flight are actors x max-concurrency. With AIMLAPI_API_KEY set this calls the
real AI/ML API; each worker reads the key from its own environment (a local Ray instance inherits
this one's), so Ray never stores it. Without a key it starts the bundled loopback emulator and
says so; its vectors are deterministic stand-ins, not a real model's. On a cluster (RAY_ADDRESS
set), the output folder must be one that every node sees, and every node needs AIMLAPI_API_KEY.
Needs the [ray] extra; from the root of a clone: pip install ".[ray]" (README: Install).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from _shared import MODEL, api_settings, needs_extra

from aimlapi_embeddings.client import DEFAULT_MAX_CONCURRENCY

with needs_extra("ray", example="examples/ray_embed.py"):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import ray
    import ray.data

    from aimlapi_embeddings.ray import AimlapiEmbedder

PART = "part-*.parquet"
TOKENS = "embedding_tokens"
# An actor spends its time waiting on the API: a quarter of a CPU each lets a small machine run
# several next to Ray's readers and writers (measured: see the README's Ray section).
ACTOR_CPUS = 0.25


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, help="JSONL or Parquet: a file or a folder")
    parser.add_argument("output", type=Path, help="the folder of Parquet files (id, text, vector)")
    parser.add_argument("--model", default=MODEL, help=f"embedding model (default {MODEL})")
    parser.add_argument("--actors", type=int, default=2, help="embedding actors (default 2)")
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=DEFAULT_MAX_CONCURRENCY,
        help=f"requests in flight per actor (default {DEFAULT_MAX_CONCURRENCY})",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=512,
        help="passages per batch; a file holds at most this many (default 512)",
    )
    parser.add_argument(
        "--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)"
    )
    return parser.parse_args(argv)


def written_ids(folder: Path) -> tuple[pa.Array | None, int]:
    """The ids of every finished file, and how many files; removes what a stopped run left."""
    for leftover in folder.glob(".*.tmp"):
        leftover.unlink()
    files = sorted(folder.glob(PART))
    if not files:
        return None, 0
    tables = [pq.read_table(file, columns=["id"]) for file in files]
    return pa.concat_tables(tables).column("id").combine_chunks(), len(files)


def drop_written(batch: pa.Table, written: pa.Array) -> pa.Table:
    return batch.filter(pc.invert(pc.is_in(batch["id"], value_set=written.cast(batch["id"].type))))


def write_part(batch: pa.Table, folder: str) -> pa.Table:
    """Write one batch as one file, atomically; a summary row (rows, tokens) for the driver.

    The name comes from the batch's ids, so a batch that Ray runs again (a worker lost after the
    file was written) replaces its own file instead of adding a second copy.
    """
    ids = "\n".join(map(str, batch["id"].to_pylist()))
    name = f"part-{hashlib.sha256(ids.encode()).hexdigest()[:32]}.parquet"
    final = Path(folder) / name
    temporary = final.with_name(f".{name}.{uuid.uuid4().hex}.tmp")
    with temporary.open("wb") as file:
        pq.write_table(batch.select(["id", "text", "vector"]), file)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(final)
    tokens = pc.sum(batch[TOKENS]).as_py() or 0
    return pa.table({"rows": [batch.num_rows], "tokens": [tokens]})


def start_ray(num_cpus: int | None) -> None:
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    if os.environ.get("RAY_ADDRESS"):
        ray.init(**quiet)  # a running cluster: its own resources
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **quiet)
    ray.data.DataContext.get_current().enable_progress_bars = sys.stderr.isatty()


def read_passages(path: Path) -> ray.data.Dataset:
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    if all(file.suffix in (".jsonl", ".json") for file in files):
        dataset = ray.data.read_json([str(file) for file in files])
    else:
        dataset = ray.data.read_parquet(str(path))
    return dataset.select_columns(["id", "text"])


def embed(args: argparse.Namespace, credentials: dict[str, Any]) -> tuple[int, int]:
    """Embed what is not written yet; (passages, tokens) of this run."""
    args.output.mkdir(parents=True, exist_ok=True)
    written, files = written_ids(args.output)
    dataset = read_passages(args.input)
    if written is not None:
        print(f"Resuming: {len(written):,} passages already in {args.output} ({files} files).")
        dataset = dataset.map_batches(
            drop_written, fn_kwargs={"written": written}, batch_format="pyarrow"
        )
    # Blocks of one batch each: a single input file is one block, which one actor would embed
    # alone; and a batch that Ray runs again is then the same batch, written under the same name.
    dataset = dataset.repartition(target_num_rows_per_block=args.batch_size)
    total = args.actors * args.max_concurrency
    print(
        f"Embedding with {args.actors} actors x {args.max_concurrency} requests = {total} in "
        f"flight at most, batches of {args.batch_size}, model {args.model}."
    )
    summaries = dataset.map_batches(
        AimlapiEmbedder,
        fn_constructor_kwargs={
            "model": args.model,
            "output_column": "vector",
            "usage_column": TOKENS,
            "max_concurrency": args.max_concurrency,
            **credentials,
        },
        compute=ray.data.ActorPoolStrategy(size=args.actors),
        num_cpus=ACTOR_CPUS,
        batch_size=args.batch_size,
        batch_format="pyarrow",
    ).map_batches(
        write_part,
        fn_kwargs={"folder": str(args.output)},
        batch_size=args.batch_size,
        batch_format="pyarrow",
    )
    passages = tokens = 0
    for summary in summaries.iter_rows():
        passages += summary["rows"]
        tokens += summary["tokens"]
    return passages, tokens


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    with api_settings(args.model) as (api_key, base_url):
        # A key from the environment stays there (see the docstring); the emulator's is handed on.
        from_environment = bool(os.environ.get("AIMLAPI_API_KEY"))
        credentials = {} if from_environment else {"api_key": api_key, "base_url": base_url}
        started = time.perf_counter()
        start_ray(args.num_cpus)
        running = time.perf_counter()
        try:
            passages, tokens = embed(args, credentials)
            elapsed = time.perf_counter() - running
        except KeyboardInterrupt:
            print(f"\nInterrupted: run the same command again to resume into {args.output}.")
            return 130
        finally:
            ray.shutdown()  # before the emulator, if any, stops
    rate = passages / elapsed if elapsed else 0.0
    print(
        f"Embedded {passages:,} passages in {elapsed:.1f} s: {rate:,.0f} passages/s "
        f"(Ray took {running - started:.1f} s to start, not counted)."
    )
    print(f"Usage, summed over all workers: {tokens:,} tokens.")
    files = sorted(args.output.glob(PART))
    held = sum(pq.read_metadata(file).num_rows for file in files)
    print(f"{args.output} holds {held:,} passages in {len(files)} files.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
