"""`python -m aimlapi_embeddings.models`: print the registry, or check it against the API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import httpx

from ..client import resolve_base_url
from ._check import check_catalogue, printable
from ._table import markdown_table, text_table


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aimlapi_embeddings.models",
        description="Print the model registry, or check it against AI/ML API's live catalogue.",
    )
    parser.add_argument(
        "--markdown", action="store_true", help="print the table in Markdown (the README's)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="read GET {base_url}/models (no key needed) and each embedding model's docsJson "
        "schema; report models the registry lacks and rules that disagree; exit 1 on drift",
    )
    parser.add_argument(
        "--base-url",
        help="the API base for --check (default: AIMLAPI_BASE_URL, else the public API)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    if not options.check:
        print(markdown_table() if options.markdown else text_table())
        return 0
    base_url = resolve_base_url(options.base_url)
    try:
        report = check_catalogue(base_url)
    except (httpx.HTTPError, ValueError) as exc:  # CatalogueError is a ValueError
        print(printable(f"could not read the catalogue at {base_url}: {type(exc).__name__}: {exc}"))
        return 2
    print("\n".join(report.lines()))
    return 1 if report.drift else 0


if __name__ == "__main__":
    sys.exit(main())
