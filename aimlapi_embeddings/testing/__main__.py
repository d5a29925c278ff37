"""`python -m aimlapi_embeddings.testing`: serve the emulator until interrupted."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
import typing
from collections.abc import Sequence
from types import FrameType

from aimlapi_embeddings.testing._faults import FaultOptions, Faults
from aimlapi_embeddings.testing._server import Emulator

_NOT_REAL = (
    "These are NOT the real models' vectors: deterministic hashed bags of words that are only\n"
    "good for offline tests and demos (texts sharing words are close). Limits, errors and\n"
    "usage follow AI/ML API's rules."
)
_EXAMPLE_BODY = '{"model": "text-embedding-3-small", "input": ["hello world"], "dimensions": 8}'


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aimlapi_embeddings.testing",
        description="A loopback emulator of AI/ML API's POST /v1/embeddings. " + _NOT_REAL,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--api-key", help="the key to accept (default: a random emu-... key)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random faults")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    group = parser.add_argument_group("faults (all off by default)")
    hints = typing.get_type_hints(Faults)
    # One flag per Faults field, so the CLI can never fall behind the settings.
    for field in dataclasses.fields(Faults):
        flag = "--" + field.name.replace("_", "-")
        hint = hints[field.name]
        text = field.metadata["help"]
        if hint is bool:
            group.add_argument(flag, action="store_true", default=None, help=text)
            continue
        if field.default is not None:
            text += f" (default: {field.default})"
        kind = int if int in (typing.get_args(hint) or (hint,)) else float
        group.add_argument(flag, type=kind, help=text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    options = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Faults)
        if getattr(args, field.name) is not None
    }
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        emulator = Emulator(
            api_key=args.api_key,
            host=args.host,
            port=args.port,
            seed=args.seed,
            **typing.cast(FaultOptions, options),
        )
        emulator.start()
    except (ValueError, OSError) as exc:
        parser.error(str(exc))

    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(
        f"AI/ML API emulator serving POST {emulator.url}\n"
        f"  base URL: {emulator.base_url}\n"
        f"  API key:  {emulator.api_key}\n"
        f"{_NOT_REAL}\n\n"
        f"Try it:\n"
        f"  curl -s {emulator.url} -H 'Authorization: Bearer {emulator.api_key}' "
        f"-H 'Content-Type: application/json' -d '{_EXAMPLE_BODY}'\n"
        f"Point the package at it:\n"
        f"  export AIMLAPI_BASE_URL={emulator.base_url} AIMLAPI_API_KEY={emulator.api_key}\n"
        f"What it served so far (POST {emulator.base_url.removesuffix('/v1')}/emulator/stats/reset "
        f"to start again):\n"
        f"  curl -s {emulator.base_url.removesuffix('/v1')}/emulator/stats\n"
        f"Press Ctrl+C to stop.",
        flush=True,
    )
    try:
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stopping.wait(0.5):
            pass
    finally:
        stats = emulator.stats()
        emulator.stop()
    print(f"emulator stopped: {_summary(stats)}", flush=True)
    return 0


def _summary(stats: dict[str, typing.Any]) -> str:
    """One line of what was served, for the terminal the emulator ran in."""
    statuses = ", ".join(f"{count} x {status}" for status, count in stats["by_status"].items())
    return (
        f"{stats['requests']} embedding requests ({statuses or 'none'}), {stats['inputs']} "
        f"inputs and {stats['tokens']} tokens answered, {stats['schema_violations']} schema "
        f"violations, at most {stats['peak_concurrency']} at once"
    )


if __name__ == "__main__":
    sys.exit(main())
