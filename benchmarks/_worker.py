"""One benchmark case in a fresh process: `python _worker.py < request.json`.

The request names the implementation, workload, mode and emulator. The worker prints
TIMED_CALL_STARTS on stdout as its timed call begins (the runner's budget counts from there).
The result, written as JSON to `request["result_path"]`, holds the measurements, one fingerprint
per returned vector (the runner checks them against the emulator's answers) or the error, and
the package versions.
Standard library only, besides the implementation's own package.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import resource
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from _implementations import IMPLEMENTATIONS, Embedder, Vectors
from _workloads import TIMED_CALL_STARTS, WARM_UP_TEXT, WORKLOADS, row_digest

_STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0) so the peak is the call's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """Wall time, CPU time of the whole process (every thread), the part of it spent in the
    cyclic garbage collector, and the peak RSS growth of a block."""

    wall: float
    cpu: float
    peak_rss_delta_mib: float | None
    rss_before_mib: float | None
    """RSS as the block starts: the interpreter, its imports and what the caller holds."""
    peak_rss_mib: float | None

    def __init__(self) -> None:
        self.gc = 0.0
        self._gc_start = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc += time.perf_counter() - self._gc_start

    def __enter__(self) -> Meter:
        gc.collect()
        gc.callbacks.append(self._on_gc)
        self._exact_peak = _reset_peak_rss()
        self._rss = _status_kib("VmRSS")
        self._cpu = _cpu_seconds()
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.wall = time.perf_counter() - self._start
        self.cpu = _cpu_seconds() - self._cpu
        gc.callbacks.remove(self._on_gc)
        # Without a resettable mark, ru_maxrss is the process's lifetime peak: an upper bound.
        peak = _status_kib("VmHWM") if self._exact_peak else None
        if peak is None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.peak_rss_delta_mib = (peak - self._rss) / 1024 if self._rss is not None else None
        self.rss_before_mib = self._rss / 1024 if self._rss is not None else None
        self.peak_rss_mib = peak / 1024


def announce_timed_call() -> None:
    print(TIMED_CALL_STARTS, flush=True)


def run(embedder: Embedder, mode: str, texts: list[str]) -> tuple[Meter, Vectors]:
    meter = Meter()
    if mode == "sync":
        embedder.sync([WARM_UP_TEXT])
        announce_timed_call()
        with meter:
            vectors = embedder.sync(texts)
        return meter, vectors

    # Warm-up and timed call share one event loop: some async clients pool connections per loop.
    async def warm_then_measure() -> Vectors:
        await embedder.aio([WARM_UP_TEXT])
        announce_timed_call()
        with meter:
            return await embedder.aio(texts)

    return meter, asyncio.run(warm_then_measure())


def versions(distributions: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def main() -> None:
    request = json.load(sys.stdin)
    impl = IMPLEMENTATIONS[request["impl"]]
    texts = WORKLOADS[request["workload"]].texts()
    result: dict[str, Any] = {"versions": versions(impl.distributions)}
    try:
        embedder = impl.build(request["base_url"], request["api_key"])
        meter, vectors = run(embedder, request["mode"], texts)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc(limit=-6)
    else:
        result.update(
            wall=meter.wall,
            cpu=meter.cpu,
            gc=meter.gc,
            peak_rss_delta_mib=meter.peak_rss_delta_mib,
            digests=[row_digest(vector) for vector in vectors],
            widths=sorted({len(vector) for vector in vectors}),
        )
    Path(request["result_path"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
