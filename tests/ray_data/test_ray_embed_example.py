"""examples/ray_embed.py, run as a user runs it: a local Ray instance (2 CPUs, no dashboard)
against the emulator in this process, reached by the Ray workers through AIMLAPI_BASE_URL; its
corpus and vectors in a folder of their own, as the README's commands have them (ray-demo/), and
nothing written into the working directory besides.

Every id is written once with its vector; a run killed mid-way (the driver and every Ray process
at once, as when a machine is lost) resumes and loses and duplicates nothing; a run whose
embedding worker is killed still finishes with nothing lost or doubled.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aimlapi_embeddings.testing import Emulator, embedding_for

# Each test runs the example twice, Ray's start-up included: more than pytest's default allows.
pytestmark = pytest.mark.timeout(600)

EXAMPLE = Path(__file__).parents[2] / "examples" / "ray_embed.py"
MODEL = "text-embedding-3-small"
PASSAGES = 3000
BATCH = 100
RUN_TIMEOUT = 240.0
KILL_TIMEOUT = 120.0
# Ray's own DataContext sets a field it deprecated itself; every other warning is an error.
PYTHON = [sys.executable, "-W", "error", "-W", "ignore::DeprecationWarning:ray.data.context"]

TOPICS = ["bees and honey", "the Eiffel Tower", "coral reefs", "vector databases", "photosynthesis"]


def corpus(id_prefix: str = "") -> dict[object, str]:
    return {
        (f"{id_prefix}{i:05d}" if id_prefix else i): (
            f"Passage {i} is about {TOPICS[i % len(TOPICS)]}, number {i * 7919 % 10007}."
        )
        for i in range(PASSAGES)
    }


@pytest.fixture(scope="module")
def api() -> Iterator[Emulator]:
    with Emulator(latency=0.01) as emulator:
        yield emulator


def environment(api: Emulator | None) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AIMLAPI_") and not name.lower().endswith("_proxy")
    }
    if api is not None:
        env.update(AIMLAPI_API_KEY=api.api_key, AIMLAPI_BASE_URL=api.base_url)
    return env


def command(source: Path, output: Path, *options: str) -> list[str]:
    return [*PYTHON, str(EXAMPLE), str(source), str(output), "--num-cpus", "2", *options]


def run(source: Path, output: Path, api: Emulator | None, *options: str, cwd: Path) -> str:
    finished = subprocess.run(
        command(source, output, "--batch-size", str(BATCH), *options),
        cwd=cwd,
        env=environment(api),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished.stdout


def write_jsonl(path: Path, passages: dict[object, str]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in passages.items()))
    return path


def parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def written_ids(folder: Path) -> list[object]:
    return [
        i for part in parts(folder) for i in pq.read_table(part, columns=["id"])["id"].to_pylist()
    ]


def assert_every_passage_written_once_with_its_vector(
    folder: Path, passages: dict[object, str]
) -> None:
    table = pa.concat_tables(pq.read_table(part) for part in parts(folder))
    ids = table["id"].to_pylist()
    assert len(ids) == len(set(ids)), "an id was written twice"
    assert set(ids) == set(passages), "a passage is missing"
    assert table["text"].to_pylist() == [passages[i] for i in ids]
    column = table["vector"].combine_chunks()
    assert column.type == pa.list_(pa.float32(), 1536)
    vectors = column.values.to_numpy().reshape(len(ids), -1)
    expected = np.array([embedding_for(passages[i], MODEL) for i in ids], dtype=np.float32)
    assert np.array_equal(vectors, expected)
    assert list(folder.glob(".*.tmp")) == [], "a temporary file was left behind"


def billed(api: Emulator, since: int) -> int:
    return sum(record.total_tokens for record in api.requests[since:] if record.status == 200)


def sent_texts(api: Emulator, since: int) -> list[str]:
    return [
        text for record in api.requests[since:] if record.status == 200 for text in record.inputs
    ]


# -- processes of one run: the example starts a session of its own, and Ray's in it ------------


def session_of(sid: int) -> dict[int, str]:
    """pid: command line of every live process in session `sid` (the run's, Ray's included)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (name)": state, ppid, pgrp, session
        if int(fields[3]) == sid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def kill_all(sid: int) -> None:
    deadline = time.monotonic() + KILL_TIMEOUT
    while processes := session_of(sid):
        for pid in processes:
            with contextlib.suppress(ProcessLookupError):  # gone meanwhile
                os.kill(pid, signal.SIGKILL)
        assert time.monotonic() < deadline, f"still alive: {processes}"
        time.sleep(0.1)


def wait_for_parts(folder: Path, count: int, run: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + KILL_TIMEOUT
    while len(parts(folder)) < count:
        assert run.poll() is None, "the run ended before it could be stopped mid-way"
        assert time.monotonic() < deadline, f"fewer than {count} files after {KILL_TIMEOUT} s"
        time.sleep(0.05)


@contextlib.contextmanager
def started_slowly(
    api: Emulator, source: Path, output: Path, files: int, log: Path
) -> Iterator[subprocess.Popen[str]]:
    """The example in a session of its own against a slowed emulator, once it has written
    `files` files. On the way out every process of that session is killed: a run still going,
    Ray and all, as when a machine is lost, or whatever a finished run left behind."""
    api.configure(latency=0.25)
    try:
        with log.open("w") as sink:
            running = subprocess.Popen(
                command(source, output, "--batch-size", str(BATCH), "--actors", "2"),
                cwd=log.parent,
                env=environment(api),
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        try:
            wait_for_parts(output, files, running)
            yield running
        finally:
            kill_all(running.pid)
            running.wait(timeout=KILL_TIMEOUT)
    finally:
        api.configure(latency=0.01)


# -- the tests --------------------------------------------------------------------------------


def test_a_corpus_is_written_once_and_a_rerun_sends_nothing(api: Emulator, tmp_path: Path) -> None:
    passages = corpus()
    folder = tmp_path / "ray-demo"  # the README's: ray-demo/passages.jsonl in, ray-demo/vectors out
    folder.mkdir()
    source = write_jsonl(folder / "passages.jsonl", passages)
    output = folder / "vectors"
    since = len(api.requests)

    first = run(source, output, api, "--actors", "2", "--max-concurrency", "4", cwd=tmp_path)
    assert f"Using the API at {api.base_url} with model {MODEL}" in first
    assert "2 actors x 4 requests = 8 in flight at most, batches of 100" in first
    assert re.search(rf"Embedded {PASSAGES:,} passages in [\d.]+ s: [\d,]+ passages/s", first)
    # The usage printed is the sum over every worker of what the API counted.
    assert f"Usage, summed over all workers: {billed(api, since):,} tokens." in first
    assert_every_passage_written_once_with_its_vector(output, passages)
    assert all(pq.read_metadata(part).num_rows <= BATCH for part in parts(output))

    # Again, without a key: the example's own emulator, which must not be asked for anything.
    again = run(source, output, None, cwd=tmp_path)
    assert "using the bundled loopback emulator" in again
    assert f"Resuming: {PASSAGES:,} passages already in {output}" in again
    assert "Embedded 0 passages" in again
    assert_every_passage_written_once_with_its_vector(output, passages)
    # Only in the folders named on the command line: nothing in the working directory.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ray-demo"]
    assert sorted(path.name for path in folder.iterdir()) == ["passages.jsonl", "vectors"]


def test_a_run_killed_mid_way_resumes_losing_and_doubling_nothing(
    api: Emulator, tmp_path: Path
) -> None:
    passages = corpus(id_prefix="doc-")  # string ids, from Parquet this time
    source = tmp_path / "passages.parquet"
    pq.write_table(pa.table({"id": list(passages), "text": list(passages.values())}), source)
    output = tmp_path / "vectors"

    with started_slowly(api, source, output, 3, tmp_path / "run.log") as stopped:
        pass  # killed mid-way, on the way out
    assert stopped.returncode == -signal.SIGKILL
    before = written_ids(output)
    assert 0 < len(before) < PASSAGES
    # What a write cut short leaves behind: never read, removed on resume.
    (output / ".part-cut-short.parquet.0123.tmp").write_bytes(b"PAR1 half a file")

    since = len(api.requests)
    resumed = run(source, output, api, "--actors", "2", cwd=tmp_path)
    assert f"Resuming: {len(before):,} passages already in {output}" in resumed
    assert f"Embedded {PASSAGES - len(before):,} passages" in resumed
    assert_every_passage_written_once_with_its_vector(output, passages)
    # Only what was missing was sent again.
    missing = {passages[i] for i in set(passages) - set(before)}
    assert set(sent_texts(api, since)) == missing


def test_a_worker_killed_mid_run_costs_nothing(api: Emulator, tmp_path: Path) -> None:
    passages = corpus()
    source = write_jsonl(tmp_path / "passages.jsonl", passages)
    output = tmp_path / "vectors"

    log = tmp_path / "run.log"
    with started_slowly(api, source, output, 2, log) as running:
        actors = [
            pid
            for pid, cmdline in session_of(running.pid).items()
            if cmdline.startswith("ray::MapWorker(MapBatches(AimlapiEmbedder))")
        ]
        assert actors, "no embedding actor found to kill"
        os.kill(actors[0], signal.SIGKILL)
        api.configure(latency=0.01)
        running.wait(timeout=RUN_TIMEOUT)
    output_text = log.read_text()
    assert running.returncode == 0, output_text
    assert f"Embedded {PASSAGES:,} passages" in output_text
    assert_every_passage_written_once_with_its_vector(output, passages)
