"""Issue 18's planner, timed side by side in one run: planned requests against the old 512 cap,
the raw transfer floor, and langchain-openai against the LangChain adapter.

    .venv/bin/python benchmarks/planner.py    # about 10 minutes; writes results/planner-times.md

Three server shapes, each answering with one emulator in this process and clients at
max_concurrency 8: `capped` (100 ms + 1 ms per input, 8 in flight, 429 beyond: issue 18's
targets), `uncapped` (the same costs, no cap) and `tokens` (100 ms + 0.03 ms per token, 8 in
flight, over passages of two lengths: every eighth about 1,200 characters). In each: ours with
numpy output on 20,000 and 100,000 passages and with lists on 20,000, once planned (batch size
unset) and once in requests of 512 texts (what the planner sent before issue 18), and the raw
transfer floor (`fetch`: the same number of requests, answers read and dropped unparsed).
Then, capped, 20,000 passages: the LangChain adapter and `langchain-openai`'s
`OpenAIEmbeddings(check_embedding_ctx_length=False)` with their defaults, sync and async.
Every case runs in a fresh process (`_bulk_worker.py`, `_worker.py`) and every vector is checked.
Requests per call for sizes from 10 to 100,000 (pure planning): `planner_requests.py`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import sys
import time

from _bulk_cases import SCENARIOS, Case, corpus
from _environments import ensure_all
from _implementations import IMPLEMENTATIONS
from _report import CaseResult
from _workloads import MODEL, WORKLOADS
from bulk import Expected, Result, _n, _table, configure, prime, run_case
from run import EMULATOR_CACHE_BYTES, RESULTS, _revision, cpu_model
from run import run_case as run_peer_case

from aimlapi_embeddings import get_model_spec
from aimlapi_embeddings._batching import plan_requests
from aimlapi_embeddings.testing import Emulator

SHAPES = ("capped", "uncapped", "tokens")
SIZES = {20_000: ("numpy", "list", "fetch"), 100_000: ("numpy", "fetch")}
OLD_CAP = 512
CORPUS_SIZE = 100_000
SLOTS = 8
# Issue 18's targets, capped: wall / server bound of ours, planned.
TARGETS = {("numpy", 20_000): 1.15, ("numpy", 100_000): 1.15, ("list", 20_000): 1.45}
PEERS = ("ours: langchain_aimlapi", "langchain-openai")
PEER_SPEEDUP = 6.0


def planned_size(texts: list[str]) -> int:
    """Texts per request of the floor that sends as many requests as our planner."""
    plan = plan_requests(texts, get_model_spec(MODEL), max_concurrency=SLOTS)
    return math.ceil(len(texts) / len(plan.batches))


def cases() -> list[Case]:
    found = []
    for shape in SHAPES:
        texts = corpus(CORPUS_SIZE, SCENARIOS[shape].corpus)
        for count, paths in SIZES.items():
            for path in paths:
                new = planned_size(texts[:count]) if path == "fetch" else None
                found.append(Case(shape, path, count, batch_size=new))
                found.append(Case(shape, path, count, batch_size=OLD_CAP))
    return found


def planner(case: Case) -> str:
    return f"old: {OLD_CAP} a request" if case.batch_size == OLD_CAP else "planned"


def run_peers(api: Emulator, expected: Expected) -> list[CaseResult]:
    """The LangChain adapter and langchain-openai on the capped server, 20,000 passages."""
    capped = SCENARIOS["capped"]
    configure(api, capped)
    pythons = ensure_all({IMPLEMENTATIONS[name].env for name in PEERS})
    # The same 20,000 passages as the bulk corpus's first (text i is the same function of i).
    workload = dataclasses.replace(
        WORKLOADS["20,000 short"], latency_per_input=capped.latency_per_input, budget=120
    )
    digests = expected.digests[: workload.count]
    results = []
    for name in PEERS:
        python = pythons[IMPLEMENTATIONS[name].env]
        if isinstance(python, str):
            sys.exit(f"no environment for {name}: {python}")
        for mode in ("sync", "async"):
            result = run_peer_case(IMPLEMENTATIONS[name], workload, mode, python, api, digests)
            results.append(result)
            print(f"capped: {name} {mode}: {result.status} {result.wall} s {result.check}")
    return results


def _ratio(result: Result) -> float | None:
    return result.wall / result.bound if result.ok and result.wall else None


def _find(results: list[Result], shape: str, path: str, count: int, old: bool) -> Result | None:
    for r in results:
        key = (r.case.scenario, r.case.path, r.case.count, r.case.batch_size == OLD_CAP)
        if key == (shape, path, count, old):
            return r
    return None


def _verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def targets(results: list[Result], peers: list[CaseResult]) -> list[str]:
    rows = []
    for (path, count), most in TARGETS.items():
        found = _find(results, "capped", path, count, old=False)
        ratio = None if found is None else _ratio(found)
        measured = "-" if ratio is None else f"{ratio:.2f}x"
        rows.append(
            [
                f"capped, {count:,}, {path}",
                f"wall <= {most} x server bound",
                measured,
                _verdict(ratio is not None and ratio <= most),
            ]
        )
    for mode in ("sync", "async"):
        walls = {r.impl: r.wall for r in peers if r.mode == mode and r.status == "ok"}
        ours, theirs = (walls.get(name) for name in PEERS)
        speedup = theirs / ours if ours and theirs else None
        rows.append(
            [
                f"capped, 20,000, {mode}",
                f"langchain-openai >= {PEER_SPEEDUP:g}x slower than the LangChain adapter",
                "-" if speedup is None else f"{theirs:.2f} s vs {ours:.2f} s: {speedup:.1f}x",
                _verdict(speedup is not None and speedup >= PEER_SPEEDUP),
            ]
        )
    return _table(["case", "target", "measured", "verdict"], rows)


def shape_table(results: list[Result], shape: str) -> list[str]:
    header = [
        "path",
        "texts",
        "requests",
        "wall s",
        "server bound s",
        "wall / bound",
        "client CPU s",
        "peak RSS MiB",
        "requests (429s)",
        "max in flight",
        "vectors",
    ]
    rows = []
    for r in results:
        if r.case.scenario != shape:
            continue
        rows.append(
            [
                f"`{r.case.path}`",
                f"{r.case.count:,}",
                planner(r.case),
                _n(r.wall) if r.status == "ok" else f"**{r.status}**",
                _n(r.bound),
                _n(_ratio(r)),
                _n(r.cpu),
                _n(r.peak_rss_mib, 0),
                f"{r.requests} ({r.failed_requests})",
                str(r.peak_in_flight),
                r.check if r.status == "ok" else (r.error or "")[:120],
            ]
        )
    return _table(header, rows)


def peer_table(peers: list[CaseResult]) -> list[str]:
    header = ["implementation", "mode", "wall s", "requests", "max in flight", "vectors"]
    rows = [
        [
            r.impl,
            r.mode,
            _n(r.wall) if r.status == "ok" else f"**{r.status}**",
            str(r.requests),
            str(r.peak_in_flight),
            r.check if r.status == "ok" else (r.error or "")[:120],
        ]
        for r in peers
    ]
    return _table(header, rows)


def render(results: list[Result], peers: list[CaseResult]) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = [
        "# The planner, timed: planned requests, the old 512 cap, the floor and a peer (issue 18)",
        "",
        f"- **run**: {now:%Y-%m-%d %H:%M UTC}, `benchmarks/planner.py` at {_revision()}",
        f"- **machine**: {os.cpu_count()} CPUs ({cpu_model()}), {platform.platform()}; "
        "shared with other work",
        f"- **python**: {platform.python_implementation()} {platform.python_version()}",
        f"- **model**: {MODEL} (1536 dims, base64 answers), emulator in the runner's process",
        "- **method**: as `bulk.md`: one fresh process per case after one untimed warm-up "
        "call; wall = the one call; server bound = the time of every input (or token) spread "
        "over 8 requests at once, plus one request's fixed time; `planned` = batch size unset; "
        f"`old` = batch_size={OLD_CAP}, the requests the planner sent before; `fetch` = raw "
        "httpx, 8 threads, as many requests, answers read and dropped: the transfer floor",
        "",
        "## Targets",
        "",
        *targets(results, peers),
    ]
    for shape in SHAPES:
        lines += ["", f"## `{shape}`: {SCENARIOS[shape].describe()}", ""]
        lines += shape_table(results, shape)
    lines += ["", "## LangChain: the adapter and langchain-openai, `capped`, 20,000 passages", ""]
    lines += peer_table(peers)
    lines += ["", "What each shape prefers, and the memory cost of larger requests: "]
    lines += ["`planner-notes.md`.", ""]
    return "\n".join(lines)


def main() -> None:
    started = time.monotonic()
    results: list[Result] = []
    with Emulator(cache_bytes=EMULATOR_CACHE_BYTES) as api:
        expected = {kind: prime(api, corpus(CORPUS_SIZE, kind)) for kind in ("passages", "mixed")}
        print(f"emulator primed in {time.monotonic() - started:.0f} s", flush=True)
        for case in cases():
            scenario = SCENARIOS[case.scenario]
            configure(api, scenario)
            result = run_case(api, case, expected[scenario.corpus], CORPUS_SIZE)
            results.append(result)
            print(
                f"{case.name:60} {result.status:6} {_n(result.wall):>7} s "
                f"{_n(_ratio(result)):>5}x {result.requests:5} requests  {result.check}",
                flush=True,
            )
        peers = run_peers(api, expected["passages"])
    report = render(results, peers)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "planner-times.md").write_text(report)
    rows = [{**dataclasses.asdict(r), "case": dataclasses.asdict(r.case)} for r in results]
    rows += [dataclasses.asdict(r) for r in peers]
    (RESULTS / "planner-times.json").write_text(json.dumps(rows, indent=1, default=str))
    print(report)
    print(f"written: {RESULTS / 'planner-times.md'} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
