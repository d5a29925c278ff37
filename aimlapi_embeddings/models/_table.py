"""The registry as a table: plain text for a terminal, Markdown for the README."""

from __future__ import annotations

from collections.abc import Iterable

from . import MODELS, ModelSpec

__all__ = ["COLUMNS", "markdown_table", "rows", "text_table"]

COLUMNS = (
    "model",
    "dims",
    "`dimensions`",
    "context",
    "inputs/request",
    "tokens/request",
    "chars: string / item",
    "encoding",
    "query vs document",
    "status",
)

_ROLES = {
    "none": "-",
    "voyage": 'input_type "document" (queries: none)',
    "google": "task_type RETRIEVAL_QUERY / _DOCUMENT",
}


def _limit(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _row(spec: ModelSpec) -> tuple[str, ...]:
    dimensions = "no"
    if spec.dimensions_range is not None:
        dimensions = f"{spec.dimensions_range[0]}..{spec.dimensions_range[1]}"
    status = f"{spec.status} {spec.status_since}" if spec.status_since else spec.status
    return (
        spec.name,
        str(spec.dimensions),
        dimensions,
        f"{spec.context_tokens:,}",
        f"{spec.max_inputs:,}",
        f"{spec.max_tokens_per_request:,}",
        f"{_limit(spec.max_string_chars)} / {_limit(spec.max_item_chars)}",
        spec.encoding,
        _ROLES[spec.input_type_style],
        status,
    )


def rows(specs: Iterable[ModelSpec] | None = None) -> list[tuple[str, ...]]:
    """One row per model: active ones first, each group in the registry's order."""
    specs = list(MODELS.values() if specs is None else specs)
    return [_row(spec) for spec in sorted(specs, key=lambda spec: spec.status != "active")]


def text_table(specs: Iterable[ModelSpec] | None = None) -> str:
    table = [COLUMNS, *rows(specs)]
    widths = [max(len(row[column].strip("`")) for row in table) for column in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.strip("`").ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(specs: Iterable[ModelSpec] | None = None) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(specs)]
    return "\n".join(lines)
