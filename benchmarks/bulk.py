"""Bulk embedding, side by side in one run: lists, numpy, the stream, and a raw httpx floor.

    .venv/bin/python benchmarks/bulk.py           # about 10 minutes; writes results/bulk.md
    .venv/bin/python benchmarks/bulk.py --quick   # 2,000-20,000 texts, about a minute

Every case runs in a fresh process against one emulator in this process, in two scenarios:
`parallel` (answers after 50 ms + 0.5 ms per input, no cap) and `capped` (100 ms + 1 ms per
input, 8 requests in flight, 429 beyond). Measured per case: wall time of the one call, client
CPU (all threads), the process's peak RSS and its RSS before the call, requests, the most in
flight, inputs sent; and every vector against the emulator's answer for its text (a stream, which
keeps a few chunks only, by every chunk's bounds and a position-weighted checksum, and every 97th
row exactly). The report states each of issue 12's targets against these figures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _bulk_cases import (
    BULK_SCENARIOS,
    CORPUS,
    PATHS,
    QUICK_CORPUS,
    SCENARIOS,
    WIDTH,
    Case,
    Scenario,
    corpus,
    full_cases,
    quick_cases,
)
from _worker import _cpu_seconds
from _workloads import MODEL, WARM_UP_TEXT
from run import (
    EMULATOR_CACHE_BYTES,
    RESULTS,
    _revision,
    cpu_model,
    emulator_counts,
    prime_emulator,
    run_worker,
    settle,
)

from aimlapi_embeddings.testing import Emulator

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_bulk_worker.py"
CORRECT = "all correct, in order"
UNPARSED = "not parsed (the transfer floor)"
MIB = 1024 * 1024
# A stream's checksum is a float64 sum of up to 10^7 terms: exact to about 1e-12 of its size.
CHECKSUM_TOLERANCE = 1e-9


@dataclass(slots=True)
class Result:
    case: Case
    bound: float
    status: str = "ok"
    error: str | None = None
    wall: float | None = None
    cpu: float | None = None
    gc: float | None = None
    rss_before_mib: float | None = None
    peak_rss_mib: float | None = None
    requests: int = 0
    failed_requests: int = 0
    inputs_sent: int = 0
    peak_in_flight: int = 0
    server_cpu: float | None = None
    """CPU seconds of this process during the case: the emulator's, all but its supervision."""
    check: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.check in (CORRECT, UNPARSED)

    @property
    def rate(self) -> float | None:
        return self.case.count / self.wall if self.ok and self.wall else None

    @property
    def array_mib(self) -> float:
        return self.case.count * WIDTH * 4 / MIB


@dataclass(slots=True)
class Expected:
    """The emulator's answer for every corpus text: its fingerprint and its float64 sum."""

    digests: list[str]
    sums: np.ndarray


def prime(api: Emulator, texts: list[str]) -> Expected:
    sums: dict[str, float] = {}

    def keep_sum(text: str, raw: bytes) -> None:
        sums[text] = float(np.frombuffer(raw, dtype="<f4").sum(dtype=np.float64))

    digests = prime_emulator(api, texts, keep_sum)
    return Expected([digests[text] for text in texts], np.array([sums[t] for t in texts]))


def check_rows(digests: list[str], indices: list[int], expected: Expected) -> str:
    if len(digests) != len(indices):
        return f"**WRONG: {len(digests):,} vectors for {len(indices):,} texts**"
    wrong = sum(got != expected.digests[index] for got, index in zip(digests, indices, strict=True))
    return CORRECT if not wrong else f"**WRONG: {wrong:,} of {len(indices):,} vectors differ**"


def check_stream(payload: dict[str, Any], indices: list[int], expected: Expected) -> str:
    chunks = payload["chunks"]
    starts = [start for start, _, _ in chunks]
    ends = [start + count for start, count, _ in chunks]
    if starts != [0, *ends[:-1]] or (ends[-1] if ends else 0) != len(indices):
        return "**WRONG: chunks are not consecutive, or do not cover the input**"
    order = np.asarray(indices)
    for start, count, checksum in chunks:
        positions = np.arange(start + 1, start + count + 1, dtype=np.float64)
        want = float(np.dot(positions, expected.sums[order[start : start + count]]))
        if not math.isclose(checksum, want, rel_tol=CHECKSUM_TOLERANCE, abs_tol=1e-6):
            return f"**WRONG: the chunk at {start:,} has rows missing, moved or changed**"
    samples = payload["samples"]
    wrong = sum(expected.digests[indices[int(i)]] != got for i, got in samples.items())
    if wrong:
        return f"**WRONG: {wrong} of {len(samples)} sampled rows differ**"
    return CORRECT


def worker_env(scratch: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIMLAPI_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"  # loopback, never a proxy
    return env


def configure(api: Emulator, scenario: Scenario) -> None:
    api.configure(
        latency=scenario.latency,
        latency_per_input=scenario.latency_per_input,
        latency_per_token=scenario.latency_per_token,
        max_concurrent=scenario.max_concurrent,
    )


def run_case(api: Emulator, case: Case, expected: Expected, corpus_size: int) -> Result:
    scenario = SCENARIOS[case.scenario]
    result = Result(case, scenario.lower_bound(case.count))
    settle(api)
    request = {
        "case": asdict(case),
        "corpus_size": corpus_size,
        "max_concurrency": scenario.concurrency,
        "base_url": api.base_url,
        "api_key": api.api_key,
    }
    started = _cpu_seconds()
    killed, payload = run_worker([sys.executable, str(WORKER)], request, case.budget(), worker_env)
    result.server_cpu = _cpu_seconds() - started
    if killed is not None:
        result.status, result.error = killed, f"{killed}: killed past its budget"
    elif "error" in payload:
        result.status, result.error = "error", payload["error"]
    else:
        for name in ("wall", "cpu", "gc", "rss_before_mib", "peak_rss_mib"):
            setattr(result, name, payload[name])
        indices = case.indices(corpus_size)
        if "received" in payload:
            result.check = UNPARSED
        elif "digests" in payload:
            result.check = check_rows(payload["digests"], indices, expected)
        else:
            result.check = check_stream(payload, indices, expected)
    result.requests, result.failed_requests, result.inputs_sent, result.peak_in_flight = (
        emulator_counts(api)
    )
    if scenario.latency_per_token:  # the bound counts the tokens the emulator answered
        tokens = sum(
            record.total_tokens
            for record in api.requests
            if record.status == 200 and record.inputs != [WARM_UP_TEXT]
        )
        result.bound = scenario.lower_bound(case.count, tokens)
    return result


# ---- the report --------------------------------------------------------------------------------


def _n(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def scenario_table(results: list[Result]) -> list[str]:
    header = [
        "path",
        "texts",
        "wall s",
        "texts/s",
        "server bound s",
        "wall / bound",
        "client CPU s (GC)",
        "emulator CPU s",
        "list CPU / this",
        "RSS before MiB",
        "peak RSS MiB",
        "(peak - before) / array",
        "requests (failed)",
        "max in flight",
        "inputs sent",
        "vectors",
    ]
    rows = []
    for r in results:
        lists = _find(results, r.case.scenario, "list", r.case.count)
        list_cpu = lists.cpu if lists is not None else None
        grown = None
        if r.peak_rss_mib is not None and r.rss_before_mib is not None:
            grown = (r.peak_rss_mib - r.rss_before_mib) / r.array_mib
        repeats = f" ({r.case.repeats:.0%} repeats)" if r.case.repeats else ""
        rows.append(
            [
                f"`{r.case.path}`{repeats}",
                f"{r.case.count:,}",
                _n(r.wall) if r.status == "ok" else f"**{r.status}**",
                _n(r.rate, 0),
                _n(r.bound),
                _n(r.wall / r.bound if r.wall else None),
                f"{_n(r.cpu)} ({_n(r.gc)})",
                _n(r.server_cpu),
                _n(list_cpu / r.cpu if list_cpu and r.cpu else None, 1),
                _n(r.rss_before_mib, 0),
                _n(r.peak_rss_mib, 0),
                _n(grown),
                f"{r.requests} ({r.failed_requests})",
                str(r.peak_in_flight),
                f"{r.inputs_sent:,}",
                r.check if r.status == "ok" else (r.error or "")[:120],
            ]
        )
    return _table(header, rows)


def _find(results: list[Result], scenario: str, path: str, count: int) -> Result | None:
    """The correct result of a case without repeats, if there is one."""
    for r in results:
        same = (r.case.scenario, r.case.path, r.case.count) == (scenario, path, count)
        if same and not r.case.repeats and r.ok:
            return r
    return None


def growth_table(results: list[Result], scenario: str) -> list[str]:
    counts = sorted({r.case.count for r in results if r.case.scenario == scenario})
    header = ["path", *[f"{count:,} texts: wall s / CPU s / peak RSS MiB" for count in counts]]
    rows = []
    for path in PATHS:
        found = [_find(results, scenario, path, count) for count in counts]
        cells = [
            "-" if r is None else f"{r.wall:.2f} / {r.cpu:.2f} / {r.peak_rss_mib:.0f}"
            for r in found
        ]
        if any(r is not None for r in found):
            rows.append([f"`{path}`", *cells])
    return _table(header, rows)


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**not met**")


def targets(results: list[Result]) -> list[str]:
    """Issue 12's targets, each against the figures of this run."""
    rows: list[list[str]] = []
    for scenario in SCENARIOS:
        counts = sorted({r.case.count for r in results if r.case.scenario == scenario})
        for count in counts:
            numpy_ = _find(results, scenario, "numpy", count)
            lists = _find(results, scenario, "list", count)
            if numpy_ is None or count < 10_000:
                continue
            where = f"{scenario}, {count:,}"
            if lists is not None and lists.cpu and numpy_.cpu:
                ratio = lists.cpu / numpy_.cpu
                rows.append(
                    [where, "numpy CPU <= list CPU / 3", f"{ratio:.1f}x less", _verdict(ratio >= 3)]
                )
            assert numpy_.wall is not None
            ratio = numpy_.wall / numpy_.bound
            rows.append(
                [where, "numpy wall <= 1.3 x server bound", f"{ratio:.2f}x", _verdict(ratio <= 1.3)]
            )
            if numpy_.peak_rss_mib is not None and numpy_.rss_before_mib is not None:
                allowed = numpy_.rss_before_mib + 1.3 * numpy_.array_mib
                rows.append(
                    [
                        where,
                        "numpy peak RSS <= RSS before + 1.3 x array",
                        f"{numpy_.peak_rss_mib:,.0f} MiB (allowed {allowed:,.0f})",
                        _verdict(numpy_.peak_rss_mib <= allowed),
                    ]
                )
        million = _find(results, scenario, "stream", 1_000_000)
        if million is not None and million.peak_rss_mib is not None:
            rows.append(
                [
                    f"{scenario}, 1,000,000",
                    "stream peak RSS < 400 MB",
                    f"{million.peak_rss_mib * MIB / 1e6:,.0f} MB",
                    _verdict(million.peak_rss_mib * MIB < 400e6),
                ]
            )
            numpys = [_find(results, scenario, "numpy", r.case.count) for r in results]
            largest = max(filter(None, numpys), key=lambda r: r.case.count, default=None)
            if largest is not None and largest.rate and million.rate:
                ratio = largest.rate / million.rate
                rows.append(
                    [
                        f"{scenario}, 1,000,000",
                        f"stream throughput within 1.2x of numpy ({largest.case.count:,})",
                        f"{million.rate:,.0f} vs {largest.rate:,.0f} texts/s ({ratio:.2f}x)",
                        _verdict(ratio <= 1.2),
                    ]
                )
    for r in results:
        if r.case.repeats and r.status == "ok":
            distinct = r.case.distinct
            saved = 1 - r.inputs_sent / r.case.count
            rows.append(
                [
                    f"{r.case.scenario}, {r.case.count:,}",
                    f"{r.case.repeats:.0%} repeated texts send {r.case.repeats:.0%} fewer inputs",
                    f"{r.inputs_sent:,} sent for {r.case.count:,} texts "
                    f"({distinct:,} distinct): {saved:.0%} fewer",
                    _verdict(r.inputs_sent == distinct and r.ok),
                ]
            )
    return _table(["case", "target", "measured", "verdict"], rows)


def machine_facts(quick: bool, corpus_size: int) -> dict[str, str]:
    cpu = cpu_model()
    scenarios = "; ".join(f"`{name}`: {SCENARIOS[name].describe()}" for name in BULK_SCENARIOS)
    return {
        "run": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
        f"`benchmarks/bulk.py{' --quick' if quick else ''}` at {_revision()}",
        "machine": f"{os.cpu_count()} CPUs ({cpu}), {platform.platform()}; shared with other work",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "emulator": f"loopback, in the runner's process, answers pre-computed; model {MODEL} "
        f"({WIDTH} dims, base64); {scenarios}",
        "corpus": f"{corpus_size:,} distinct passages of about {CORPUS.chars} characters; a case "
        "of more texts cycles through them (1,000,000 = ten times over, so the emulator serves "
        "cached answers; no stream window meets a repeat)",
        "paths": "; ".join(f"`{path}`: {what}" for path, what in PATHS.items()),
        "method": "one fresh process per case, after one untimed warm-up call; wall = the one "
        "call (a stream: until its last chunk); client CPU = user + system time of the process, "
        "all threads (in GC: the cyclic collector's share); RSS before = the process with its "
        "imports and its texts as the call starts; peak RSS = the kernel's high-water mark "
        "during the call (reset before it); array = texts x 1536 x 4 bytes; server bound = "
        "inputs x per-input time / 8 + one request's fixed time",
    }


def render(facts: dict[str, str], results: list[Result]) -> str:
    lines = ["# Bulk embedding: lists, numpy, streams and a raw floor", ""]
    lines += [f"- **{key}**: {value}" for key, value in facts.items()]
    lines += ["", "## Targets (issue 12)", "", *targets(results)]
    for scenario in SCENARIOS:
        group = [r for r in results if r.case.scenario == scenario]
        if not group:
            continue
        lines += ["", f"## `{scenario}`: {SCENARIOS[scenario].describe()}", ""]
        lines += scenario_table(group)
        lines += ["", f"Growth, `{scenario}`:", "", *growth_table(results, scenario)]
    lines += ["", "What limits the targets not met, measured: see `bulk-notes.md`.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small cases (about a minute)")
    parser.add_argument(
        "--only", action="append", default=[], metavar="TEXT", help="cases naming TEXT"
    )
    args = parser.parse_args()
    cases = quick_cases() if args.quick else full_cases()
    cases = [c for c in cases if not args.only or any(t in c.name for t in args.only)]
    corpus_size = QUICK_CORPUS if args.quick else CORPUS.count
    results: list[Result] = []
    with Emulator(cache_bytes=EMULATOR_CACHE_BYTES) as api:
        started = time.monotonic()
        expected = prime(api, corpus(corpus_size))
        print(f"emulator primed with {corpus_size:,} answers in {time.monotonic() - started:.0f} s")
        for case in cases:
            configure(api, SCENARIOS[case.scenario])
            result = run_case(api, case, expected, corpus_size)
            results.append(result)
            print(
                f"{case.name:48} {result.status:7} {_n(result.wall):>8} s "
                f"{_n(result.cpu):>7} CPU s {_n(result.peak_rss_mib, 0):>7} MiB  {result.check}",
                flush=True,
            )
    report = render(machine_facts(args.quick, corpus_size), results)
    name = "bulk-scratch" if args.only else "bulk-quick" if args.quick else "bulk"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(report)
    rows = [{**asdict(r), "case": asdict(r.case)} for r in results]
    (RESULTS / f"{name}.json").write_text(json.dumps(rows, indent=1, default=str))
    print()
    print(report)
    print(f"written: {RESULTS / name}.md and .json")


if __name__ == "__main__":
    main()
