"""Requests per step in the tools users put embeddings into: ours and the OpenAI classes'.

    make tools-table      # .venv-tools/bin/python benchmarks/tools_table.py: results/tools.md

Runs each scenario of tests/tools/tool_scenarios.py (the ones the tools group asserts for our
adapters) once per implementation, each against a fresh emulator and in a fresh folder: our
adapter, and the OpenAI class of the same framework pointed at the same kind of emulator
(langchain-openai's `OpenAIEmbeddings(check_embedding_ctx_length=False)`, which it needs to
work with another API at all, and llama-index-embeddings-openai's `OpenAIEmbedding`), each with
its defaults otherwise. Counts, not timings: the same on every machine, so tests/tools checks
that results/tools.md is what this writes.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "tools.md"
sys.path.insert(0, str(ROOT / "tests" / "tools"))

import tool_scenarios as scenarios  # noqa: E402
from langchain_openai import OpenAIEmbeddings  # noqa: E402
from llama_index.embeddings.openai import OpenAIEmbedding  # noqa: E402

from aimlapi_embeddings.testing import Emulator  # noqa: E402
from langchain_aimlapi import AimlapiEmbeddings  # noqa: E402
from llama_index_aimlapi import AimlapiEmbedding  # noqa: E402

MODEL = scenarios.MODEL
VERSIONS = [
    "aimlapi-embeddings",
    "langchain-core",
    "langchain-classic",
    "langchain-community",
    "faiss-cpu",
    "langchain-chroma",
    "chromadb",
    "langchain-qdrant",
    "qdrant-client",
    "langchain-experimental",
    "llama-index-core",
    "llama-index-vector-stores-chroma",
    "llama-index-vector-stores-qdrant",
    "langchain-openai",
    "llama-index-embeddings-openai",
    "openai",
]


@dataclass(frozen=True)
class Framework:
    title: str
    scenarios: dict[str, Callable[..., scenarios.Run]]
    implementations: dict[str, Callable[[Emulator], Any]]
    """Column heading: builds that embeddings object for an emulator."""


FRAMEWORKS = [
    Framework(
        "LangChain",
        scenarios.LANGCHAIN,
        {
            "ours: `AimlapiEmbeddings`": lambda api: AimlapiEmbeddings(
                model=MODEL, api_key=api.api_key, base_url=api.base_url
            ),
            "langchain-openai `OpenAIEmbeddings`": lambda api: OpenAIEmbeddings(
                model=MODEL,
                api_key=api.api_key,
                base_url=api.base_url,
                check_embedding_ctx_length=False,
            ),
        },
    ),
    Framework(
        "LlamaIndex",
        scenarios.LLAMA_INDEX,
        {
            "ours: `AimlapiEmbedding`": lambda api: AimlapiEmbedding(
                model=MODEL, api_key=api.api_key, base_url=api.base_url
            ),
            "llama-index-embeddings-openai `OpenAIEmbedding`": lambda api: OpenAIEmbedding(
                model=MODEL, api_key=api.api_key, api_base=api.base_url
            ),
        },
    ),
]


def run_once(
    scenario: Callable[..., scenarios.Run], build: Callable[[Emulator], Any]
) -> scenarios.Run:
    """One scenario with one implementation, on a fresh emulator in a fresh folder."""
    with ExitStack() as stack:
        api = stack.enter_context(Emulator(seed=0))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))

        def make() -> Any:
            embeddings = build(api)
            if close := getattr(
                embeddings, "close", None
            ):  # ours: pools closed before the emulator
                stack.callback(close)
            return embeddings

        run = scenario(make, api, folder)
        if api.schema_violations:
            run.wrong.append(f"{api.schema_violations} requests broke the model's schema")
        return run


def measure() -> dict[str, dict[str, dict[str, scenarios.Run]]]:
    """framework title -> tool -> implementation -> its run."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", scenarios.QDRANT_LOCAL_NOTICE, UserWarning)
        return {
            framework.title: {
                tool: {
                    name: run_once(scenario, build)
                    for name, build in framework.implementations.items()
                }
                for tool, scenario in framework.scenarios.items()
            }
            for framework in FRAMEWORKS
        }


def cell(sent: scenarios.Sent) -> str:
    return f"{sent.requests} ({sent.inputs})"


def render(measured: dict[str, dict[str, dict[str, scenarios.Run]]]) -> str:
    lines = [
        "# Requests in the tools users put embeddings into",
        "",
        "Written by `benchmarks/tools_table.py` (`make tools-table`, in `.venv-tools`): do not",
        "edit. Each scenario of `tests/tools/tool_scenarios.py` (the tools group asserts them for",
        "our adapters) ran once with our adapter and once with the OpenAI class of the same",
        f"framework, each against a fresh emulator, model `{MODEL}`, defaults otherwise",
        "(`OpenAIEmbeddings` with `check_embedding_ctx_length=False`, which it needs to work with",
        "another API at all). A cell is the requests the emulator received in that step (texts in",
        "them). The corpus: 6 short passages and 3 questions, or 2,000 one-line passages; the",
        "splitters: one text of 6 sentences on 2 topics.",
        "",
        "With no batch size set, ours cuts a large call into one request per `max_concurrency`",
        "slot (8), sent at once; the OpenAI classes send fixed chunks (1,000 texts in LangChain,",
        "100 in LlamaIndex), one after another in sync code. Set `chunk_size` or",
        "`embed_batch_size` and ours sends those sizes too. Counts only: no timings here.",
        "",
    ]
    for framework, tools in measured.items():
        names = list(next(iter(tools.values())))
        lines += [
            f"## {framework}",
            "",
            f"| tool | step | {' | '.join(names)} |",
            f"|---|---|{'---|' * len(names)}",
        ]
        for tool, runs in tools.items():
            steps = list(runs[names[0]].steps)
            for step in steps:
                cells = [cell(runs[name].steps[step]) for name in names]
                lines.append(f"| {tool} | {step} | {' | '.join(cells)} |")
            totals = [
                cell(
                    scenarios.Sent(
                        sum(sent.requests for sent in runs[name].steps.values()),
                        sum(sent.inputs for sent in runs[name].steps.values()),
                    )
                )
                for name in names
            ]
            lines.append(f"| {tool} | **all steps** | {' | '.join(f'**{t}**' for t in totals)} |")
            right = [
                "yes" if not runs[name].wrong else "; ".join(runs[name].wrong) for name in names
            ]
            lines.append(f"| {tool} | every question found its passage | {' | '.join(right)} |")
        lines.append("")
    lines += [
        "Versions: " + ", ".join(f"{name} {metadata.version(name)}" for name in VERSIONS) + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    RESULTS.write_text(render(measure()))
    print(RESULTS.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
