"""Ours against the peers, side by side in one run, on the bundled loopback emulator.

    .venv/bin/python benchmarks/run.py           # about 5 minutes; writes results/latest.md
    .venv/bin/python benchmarks/run.py --quick   # smaller workloads, about 1 minute
    .venv/bin/python benchmarks/run.py --only ours --only llama   # a subset

Every case (implementation x workload x sync/async) runs in a fresh process, in the peer's own
virtual environment (made under benchmarks/.venvs/ on first use), against one emulator in this
process that answers after 50 ms plus a per-input delay. The emulator's answers are computed and
cached before the first case, so it is never the bottleneck, and they are what each case's
vectors are checked against: count, order and value of every row.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import platform
import select
import signal
import subprocess
import tempfile
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
from _environments import ensure_all
from _implementations import IMPLEMENTATIONS, EnvName, Implementation
from _report import CORRECT, CaseResult, render
from _workloads import (
    FULL,
    MODEL,
    QUICK,
    TIMED_CALL_STARTS,
    WARM_UP_TEXT,
    WIDTH,
    Workload,
    digest_float32,
)

from aimlapi_embeddings.testing import Emulator, embedding_for

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_worker.py"
RESULTS = HERE / "results"
LATENCY = 0.05
# Room for every answer of a run (~8 KiB each) in the emulator's cache.
EMULATOR_CACHE_BYTES = 1 << 30
PRIMING_BATCH = 100
# A worker's imports, client set-up and warm-up call: not timed, but bounded.
SET_UP_TIMEOUT = 120.0
# Loopback must never go through a proxy; the offline probe's proxy leads nowhere.
_NO_PROXY = "127.0.0.1,localhost,::1"
_DEAD_PROXY = "http://127.0.0.1:9"


def prime_emulator(
    api: Emulator, texts: list[str], on_answer: Callable[[str, bytes], None] | None = None
) -> dict[str, str]:
    """Have the emulator encode every answer ahead of time; return each text's fingerprint.

    A first answer costs the emulator ~0.5 ms of pure Python per text: unwarmed, it would be
    the bottleneck of every case. The fingerprints are of what it answers over HTTP (plain
    httpx, no client under test), checked against its public `embedding_for()` on a sample.
    """
    api.configure(latency=0.0, latency_per_input=0.0)
    api.warm(texts, MODEL)
    expected: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {api.api_key}"}
    with httpx.Client(base_url=api.base_url, headers=headers, timeout=60, trust_env=False) as http:
        for start in range(0, len(texts), PRIMING_BATCH):
            batch = texts[start : start + PRIMING_BATCH]
            body = {"model": MODEL, "input": batch, "encoding_format": "base64"}
            answer = http.post("/embeddings", json=body).raise_for_status().json()
            for item in answer["data"]:
                raw = base64.b64decode(item["embedding"])
                expected[batch[item["index"]]] = digest_float32(raw)
                if on_answer is not None:
                    on_answer(batch[item["index"]], raw)
    for text in texts[:: max(1, len(texts) // 20)]:
        if digest_float32(array("f", embedding_for(text, MODEL)).tobytes()) != expected[text]:
            msg = f"the emulator answered {text!r} unlike embedding_for(); fix prime_emulator()"
            raise RuntimeError(msg)
    api.configure(latency=LATENCY)
    api.clear()
    return expected


def check_vectors(digests: list[str], widths: list[int], expected: list[str]) -> str:
    if len(digests) != len(expected):
        return f"**WRONG: {len(digests):,} vectors for {len(expected):,} texts**"
    if widths != [WIDTH]:
        shown = ", ".join(str(width) for width in widths)
        return f"**WRONG: vectors {shown} wide, not {WIDTH}**"
    wrong = sum(got != want for got, want in zip(digests, expected, strict=True))
    if not wrong:
        return CORRECT
    if sorted(digests) == sorted(expected):
        return f"**WRONG ORDER: {wrong:,} rows misplaced**"
    return f"**WRONG: {wrong:,} of {len(expected):,} vectors differ**"


def worker_env(impl: Implementation, scratch: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMLAPI_", "OPENAI_"))}
    for name in ("NO_PROXY", "no_proxy"):
        env[name] = ",".join(filter(None, (env.get(name), _NO_PROXY)))
    if impl.probe == "offline":
        # No route to the internet and an empty tokenizer cache: a fresh machine, offline.
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            env[name] = env[name.lower()] = _DEAD_PROXY
        env["TIKTOKEN_CACHE_DIR"] = str(Path(scratch, "tiktoken-cache"))
    return env


def settle(api: Emulator, timeout: float = 5.0) -> None:
    """Wait for requests of a killed worker to finish, then forget every record."""
    deadline = time.monotonic() + timeout
    while api.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    api.clear()


def supervise(process: subprocess.Popen[bytes], request: bytes, budget: float) -> str | None:
    """Feed a worker its request and wait for it; kill it if its set-up takes over
    SET_UP_TIMEOUT or its timed call over `budget`. Returns what overran, or None."""
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(request)
    process.stdin.close()
    started = wait_for_timed_call(process.stdout.fileno(), SET_UP_TIMEOUT)
    if started is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return "set-up"
    try:
        # Only the timed call counts against the budget; a worker that failed before it is done.
        process.wait(timeout=budget if started else SET_UP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return "timeout"
    finally:
        process.stdout.close()
    return None


def wait_for_timed_call(stdout: int, timeout: float) -> bool | None:
    """True when the worker announced its timed call, False when it closed its stdout without
    announcing it (it failed before), None when neither happened within `timeout`."""
    deadline = time.monotonic() + timeout
    seen = b""
    while (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([stdout], [], [], remaining)
        if not readable:
            return None
        chunk = os.read(stdout, 4096)
        if not chunk:
            return False
        seen += chunk
        if TIMED_CALL_STARTS.encode() in seen:
            return True
    return None


def run_worker(
    command: list[str],
    request: dict[str, Any],
    budget: float,
    env: Callable[[str], dict[str, str]],
) -> tuple[str | None, dict[str, Any]]:
    """Run one worker process on `request` (to which `result_path` is added) in a scratch folder
    (`env` gets its path). Returns what overran (see `supervise`) or None, and what the worker
    wrote, or an "error" with the last lines of its stderr."""
    with tempfile.TemporaryDirectory(prefix="aimlapi-bench-") as scratch:
        result_path = Path(scratch, "result.json")
        stderr_path = Path(scratch, "stderr.txt")
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env(scratch),
                start_new_session=True,
            )
            request = {**request, "result_path": str(result_path)}
            killed = supervise(process, json.dumps(request).encode(), budget)
        if killed is not None:
            return killed, {}
        if result_path.exists():
            return None, json.loads(result_path.read_text())
        tail = " | ".join(stderr_path.read_text(errors="replace").strip().splitlines()[-3:])
        return None, {"error": f"worker exited {process.returncode}: {tail}"}


def emulator_counts(api: Emulator) -> tuple[int, int, int, int]:
    """Requests since the last `settle` (the warm-up call's left out), how many failed, the texts
    of those answered 200, and the most in flight at once."""
    records = [r for r in api.requests if r.inputs != [WARM_UP_TEXT]]
    answered = sum(len(r.inputs) for r in records if r.status == 200)
    return len(records), sum(r.status != 200 for r in records), answered, api.peak_concurrency


def run_case(
    impl: Implementation,
    workload: Workload,
    mode: str,
    python: Path,
    api: Emulator,
    expected: list[str],
) -> CaseResult:
    api.configure(latency_per_input=workload.latency_per_input)
    settle(api)
    result = CaseResult(impl.name, impl.ours, workload.name, mode, "ok", workload.count)
    request = {
        "impl": impl.name,
        "workload": workload.name,
        "mode": mode,
        "base_url": api.base_url,
        "api_key": api.api_key,
    }
    killed, payload = run_worker(
        [str(python), str(WORKER)],
        request,
        workload.budget,
        lambda scratch: worker_env(impl, scratch),
    )
    if killed == "timeout":
        result.status, result.wall = "timeout", workload.budget
        result.error = f"the timed call was not done within the {workload.budget:.0f} s budget"
    elif killed == "set-up":
        result.status = "error"
        result.error = f"imports, set-up and warm-up took over {SET_UP_TIMEOUT:.0f} s; killed"
    else:
        _apply(result, payload, expected)
    result.requests, result.failed_requests, result.texts_answered, result.peak_in_flight = (
        emulator_counts(api)
    )
    return result


def _apply(result: CaseResult, payload: dict[str, Any], expected: list[str]) -> None:
    result.versions = payload.get("versions", {})
    if "error" in payload:
        result.status, result.error = "error", payload["error"]
        return
    result.wall, result.cpu, result.gc = payload["wall"], payload["cpu"], payload["gc"]
    result.peak_rss_delta_mib = payload["peak_rss_delta_mib"]
    result.check = check_vectors(payload["digests"], payload["widths"], expected)


def _revision() -> str:
    """The commit measured: ours are installed editable, so the working tree is what runs."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "an unknown revision"
    return f"commit {described.stdout.strip()}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts(quick: bool, workloads: tuple[Workload, ...]) -> dict[str, str]:
    cpu = cpu_model()
    latencies = ", ".join(f"{w.latency_per_input * 1000:g} ms for {w.name}" for w in workloads)
    budgets = ", ".join(f"{w.budget:.0f} s for {w.name}" for w in workloads)
    return {
        "run": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
        f"`benchmarks/run.py{' --quick' if quick else ''}` at {_revision()}",
        "machine": f"{os.cpu_count()} CPUs ({cpu}), {platform.platform()}",
        "python": f"{platform.python_implementation()} {platform.python_version()} (every venv)",
        "emulator": f"loopback, in the runner's process; {LATENCY * 1000:g} ms per request + per "
        f"input {latencies}; model {MODEL} ({WIDTH} dims, base64 answers), answers pre-computed",
        "method": "one fresh process per case, defaults of every implementation as shipped; one "
        "untimed warm-up call of one text first; wall = the one embed call; CPU = user + system "
        "time of the client process, all threads (in GC: the part spent in the cyclic garbage "
        "collector); peak RSS Δ = kernel peak-RSS mark, reset before the call, minus RSS before "
        "it (N x 1536 Python floats alone take ~N x 48 KiB: ~940 MiB for 20,000); max in flight "
        "= the most requests the emulator served at once; every vector is compared with the "
        f"emulator's answer for its text, in float32; budget for the timed call {budgets}, "
        "imports, set-up and warm-up not counted (a case past it is killed and the bigger "
        "workloads of the same kind, implementation and mode are skipped; its texts/s is then "
        "what the emulator answered within the budget)",
    }


def run_all(
    impls: list[Implementation], workloads: tuple[Workload, ...], pythons: dict[EnvName, Path | str]
) -> list[CaseResult]:
    results: list[CaseResult] = []
    with Emulator(latency=LATENCY, cache_bytes=EMULATOR_CACHE_BYTES) as api:
        started = time.monotonic()
        texts = {w.name: w.texts() for w in workloads}
        answers = prime_emulator(api, [text for group in texts.values() for text in group])
        print(f"emulator primed in {time.monotonic() - started:.0f} s", flush=True)
        for impl in impls:
            python = pythons[impl.env]
            gave_up: set[tuple[str, str]] = set()  # (mode, kind) that already timed out
            for workload in workloads[:1] if impl.probe else workloads:
                for mode in ("sync",) if impl.probe else ("sync", "async"):
                    result = CaseResult(impl.name, impl.ours, workload.name, mode, "ok", 0)
                    if isinstance(python, str):
                        result.status = "unavailable"
                        result.error = f"environment {impl.env!r} could not be made: {python}"
                    elif (mode, workload.kind) in gave_up:
                        result.status = "skipped"
                    else:
                        expected = [answers[text] for text in texts[workload.name]]
                        result = run_case(impl, workload, mode, python, api, expected)
                        if result.status == "timeout":
                            gave_up.add((mode, workload.kind))
                    results.append(result)
                    rate = "" if result.throughput is None else f"{result.throughput:9,.0f}/s"
                    print(
                        f"{impl.name[:40]:40} {workload.name:13} {mode:5} {result.status:7} "
                        f"{rate:12} {result.check}",
                        flush=True,
                    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads (~1 minute)")
    parser.add_argument(
        "--only", action="append", default=[], metavar="TEXT", help="implementations naming TEXT"
    )
    args = parser.parse_args()
    workloads = QUICK if args.quick else FULL
    impls = [
        impl
        for impl in IMPLEMENTATIONS.values()
        if not args.only or any(text.lower() in impl.name.lower() for text in args.only)
    ]
    started = time.monotonic()
    pythons = ensure_all({impl.env for impl in impls})
    print(f"environments ready in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    results = run_all(impls, workloads, pythons)
    print(f"cases ran in {time.monotonic() - started:.0f} s", flush=True)

    facts = machine_facts(args.quick, workloads)
    title = "Embeddings benchmark: ours and peers against the loopback emulator"
    report = render(title, facts, results)
    name = "scratch" if args.only else "quick" if args.quick else "latest"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(report)
    cases = [asdict(r) for r in results]
    (RESULTS / f"{name}.json").write_text(json.dumps({"facts": facts, "cases": cases}, indent=1))
    print()
    print(report)
    print(f"written: {RESULTS / name}.md and .json")


if __name__ == "__main__":
    main()
