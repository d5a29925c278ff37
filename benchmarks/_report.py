"""The markdown report: machine facts, one table per workload, what failed and why."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

CORRECT = "all correct, in order"


@dataclass(slots=True)
class CaseResult:
    impl: str
    ours: bool
    workload: str
    mode: str
    status: str
    """ok, error, timeout, skipped or unavailable."""
    texts: int
    wall: float | None = None
    cpu: float | None = None
    gc: float | None = None
    """Seconds of `cpu` spent in Python's cyclic garbage collector."""
    peak_rss_delta_mib: float | None = None
    requests: int = 0
    peak_in_flight: int = 0
    failed_requests: int = 0
    texts_answered: int = 0
    """Texts in requests the emulator answered 200 (excluding the warm-up)."""
    check: str = ""
    error: str | None = None
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def comparable(self) -> bool:
        """Finished with every vector right, or ran out of time (its rate is then a fair one)."""
        return (self.status == "ok" and self.check == CORRECT) or self.status == "timeout"

    @property
    def throughput(self) -> float | None:
        if self.status == "ok" and self.wall:
            return self.texts / self.wall
        if self.status == "timeout" and self.wall:
            return self.texts_answered / self.wall
        return None


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _row(result: CaseResult) -> list[str]:
    name = f"**{result.impl}**" if result.ours else result.impl
    if result.status in ("skipped", "unavailable"):
        return [name, result.mode, *["-"] * (len(_HEADER) - 3), result.status]
    if result.status == "timeout":
        wall = f"> {result.wall:.0f} (timeout)"
        rate = f"≈ {_number(result.throughput, 0)} ({result.texts_answered:,} done)"
    else:
        wall, rate = _number(result.wall), _number(result.throughput, 0)
    requests = str(result.requests)
    if result.failed_requests:
        requests += f" ({result.failed_requests} failed)"
    check = result.check if result.status == "ok" else f"**{result.status}**"
    return [
        name,
        result.mode,
        wall,
        rate,
        requests,
        str(result.peak_in_flight),
        "-" if result.cpu is None else f"{result.cpu:.2f} ({result.gc or 0:.2f})",
        _number(result.peak_rss_delta_mib, 0),
        check,
    ]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


_HEADER = (
    "implementation",
    "mode",
    "wall s",
    "texts/s",
    "HTTP requests",
    "max in flight",
    "client CPU s (in GC)",
    "peak RSS Δ MiB",
    "vectors",
)


def _speedups(results: Sequence[CaseResult]) -> list[str]:
    lines = []
    for mode in ("sync", "async"):
        done = [r for r in results if r.mode == mode and r.comparable and r.throughput]
        ours = [r for r in done if r.ours and r.status == "ok"]
        peers = [r for r in done if not r.ours]
        if not ours or not peers:
            continue
        best = max(ours, key=lambda r: r.throughput or 0.0)
        peer = max(peers, key=lambda r: r.throughput or 0.0)
        ratio = (best.throughput or 0.0) / (peer.throughput or 1.0)
        lines.append(
            f"- {mode}: fastest of ours ({best.impl}) is **{ratio:.1f}×** the fastest peer "
            f"with correct vectors ({peer.impl})."
        )
    return lines


def render(title: str, facts: dict[str, Any], results: Sequence[CaseResult]) -> str:
    lines = [f"# {title}", ""]
    lines += [f"- **{key}**: {value}" for key, value in facts.items()]
    for workload in dict.fromkeys(r.workload for r in results):
        group = [r for r in results if r.workload == workload]
        lines += ["", f"## {workload}", ""]
        lines += _table(_HEADER, (_row(r) for r in group))
        lines += ["", *_speedups(group)]
    problems = [r for r in results if r.error]
    if problems:
        lines += ["", "## Failures, exactly as raised", ""]
        for r in problems:
            lines.append(f"- **{r.impl}**, {r.workload}, {r.mode}: `{_one_line(r.error or '')}`")
    lines += ["", "## Versions", ""]
    seen: dict[str, dict[str, str]] = {}
    for r in results:
        if r.versions and r.impl not in seen:
            seen[r.impl] = r.versions
    lines += _table(
        ("implementation", "packages"),
        ([impl, ", ".join(f"{k} {v}" for k, v in found.items())] for impl, found in seen.items()),
    )
    return "\n".join(lines) + "\n"


def _one_line(text: str, limit: int = 600) -> str:
    text = " ".join(text.split()).replace("`", "'")
    return text if len(text) <= limit else text[: limit - 3] + "..."
