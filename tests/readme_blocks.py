"""The README's code blocks, found and run as a user would run them. Standard library only.

Shared by tests/test_readme.py (in the project's environment) and tests/install_check.py (in
fresh environments that have only the wheel and one extra), so both run the same blocks the
same way: each Python block is a complete program, run in a scratch folder against the
emulator that the README's own command starts, with AIMLAPI_BASE_URL / AIMLAPI_API_KEY set as
the README says.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import select
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# The port the README's emulator commands use; tests serve on a free one instead.
README_PORT = "8765"
EMULATOR_COMMAND = "python -m aimlapi_embeddings.testing"
START_TIMEOUT = 30.0
RUN_TIMEOUT = 120.0

# Imports (a module or a package above it) that only an extra of this distribution brings, and
# that extra.
_EXTRA_OF_MODULE = {
    "langchain_aimlapi": "langchain",
    "langchain_core": "langchain",
    "llama_index_aimlapi": "llama-index",
    "llama_index": "llama-index",
    "numpy": "numpy",
    "aimlapi_embeddings.ray": "ray",
    "aimlapi_embeddings.chroma": "chroma",
    "chromadb": "chroma",
    "haystack_integrations.components.embedders.aimlapi": "haystack",
    "haystack": "haystack",
    "ray": "ray",
}
# A block is run unless the line above its fence says why not: <!-- not run: needs pyspark -->
_FENCE = re.compile(
    r"(?:^<!-- not run: ([^\n]+?) -->\n)?^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL
)
# Ray writes its own log lines to stderr, Python's and its C++ core's; they are all a Ray block
# may write there (a Python warning or a traceback still fails it).
_RAY_LOG_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\s+[A-Z]+ \S+:\d+ -- "
    r"|\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z] \d+ \d+\] \S+:\d+: "
)


@dataclass(frozen=True, slots=True)
class Block:
    language: str
    code: str
    line: int
    """Where the block starts in the README, for messages."""
    not_run: str | None = None
    """Why the tests do not run it, as the README says above it; None: they run it."""

    @property
    def extras(self) -> frozenset[str]:
        """The extras of this distribution that the block's imports need."""
        modules = set()
        for node in ast.walk(ast.parse(self.code)):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules.add(node.module)
        return frozenset(
            _EXTRA_OF_MODULE[prefix]
            for module in modules
            for prefix in _prefixes(module)
            if prefix in _EXTRA_OF_MODULE
        )

    def unexpected_stderr(self, stderr: str) -> str:
        """What the block wrote to stderr that a reader should not see: everything, but for
        Ray's own log lines in a block that uses Ray."""
        if "ray" not in self.extras:
            return stderr
        return "".join(
            line for line in stderr.splitlines(keepends=True) if not _RAY_LOG_LINE.match(line)
        )

    def __str__(self) -> str:
        return f"README.md line {self.line} ({self.language})"


def _prefixes(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


def all_blocks(language: str) -> list[Block]:
    text = README.read_text()
    return [
        Block(match[2], match[3], text.count("\n", 0, match.start(2)) + 1, match[1])
        for match in _FENCE.finditer(text)
        if match[2] == language
    ]


def blocks(language: str) -> list[Block]:
    """The README's blocks in `language` that the tests run."""
    return [block for block in all_blocks(language) if block.not_run is None]


def pip_install_extras(block: Block) -> list[str]:
    """The extras that a bash block's `pip install` commands install (comments left out)."""
    found = []
    for line in block.code.splitlines():
        command = line.split("#", 1)[0]
        if "pip install" in command:
            found += [
                extra
                for group in re.findall(r"\[([\w,-]+)\]", command)
                for extra in group.split(",")
            ]
    return found


def notebook_command(notebook: str) -> str:
    """The README's command that runs examples/`notebook` headless, from its examples table."""
    (command,) = re.findall(rf"`(jupyter [^`]*examples/{re.escape(notebook)})`", README.read_text())
    return command


def clean_environment(bin_dir: Path) -> dict[str, str]:
    """This process's environment with `bin_dir` first on PATH, as an activated virtual
    environment has it, and nothing of AI/ML API or proxies from the machine."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AIMLAPI_") and not name.lower().endswith("_proxy")
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(bin_dir.parent)
    return env


@dataclass(frozen=True, slots=True)
class Served:
    base_url: str
    api_key: str
    port: str


@contextlib.contextmanager
def readme_emulator(bin_dir: Path) -> Iterator[Served]:
    """The README's emulator command, run as written but on a free port, until the block ends."""
    (command,) = [
        line
        for block in blocks("bash")
        for line in block.code.splitlines()
        if line.startswith(EMULATOR_COMMAND)
    ]
    argv = shlex.split(command.split("#", 1)[0].replace(f"--port {README_PORT}", "--port 0"))
    process = subprocess.Popen(
        argv,
        env=clean_environment(bin_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        banner = read_until(process.stdout.fileno(), "Press Ctrl+C to stop.", START_TIMEOUT)
        base_url = re.search(r"base URL: (http://[^:]+:(\d+)/v1)", banner)
        api_key = re.search(r"API key:\s+(\S+)", banner)
        if base_url is None or api_key is None:
            msg = f"no base URL or key in the emulator's banner:\n{banner}"
            raise RuntimeError(msg)
        yield Served(base_url[1], api_key[1], base_url[2])
    finally:
        process.terminate()
        process.wait(timeout=START_TIMEOUT)
        process.stdout.close()


def read_until(fd: int, marker: str, timeout: float) -> str:
    """What a process wrote to `fd` up to and including `marker`, waiting at most `timeout`."""
    deadline = time.monotonic() + timeout
    seen = ""
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            msg = f"no {marker!r} within {timeout:.0f} s; output so far:\n{seen}"
            raise TimeoutError(msg)
        chunk = os.read(fd, 4096)
        if not chunk:
            msg = f"the process exited before {marker!r}; its output:\n{seen}"
            raise RuntimeError(msg)
        seen += chunk.decode(errors="replace")
    return seen


def run_bash_block(
    block: Block, bin_dir: Path, cwd: Path, *, served: Served | None = None
) -> subprocess.CompletedProcess[str]:
    """A bash block as typed into a shell with the virtual environment active, stopping at the
    first failing command; with `served`, the README's emulator port is that emulator's."""
    code = block.code
    if served is not None:
        code = code.replace(f":{README_PORT}", f":{served.port}")
    return run_shell(code, bin_dir, cwd)


def run_shell(
    code: str, bin_dir: Path, cwd: Path, *, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Commands typed into a shell with the virtual environment of `bin_dir` active (and
    `environment` set), stopping at the first that fails."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=cwd,
        env={**clean_environment(bin_dir), **(environment or {})},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT * 5,  # may install packages
        check=False,
    )


def run_python_block(
    block: Block, python: Path, served: Served, scratch: Path
) -> subprocess.CompletedProcess[str]:
    """A Python block saved as a script in an empty folder (so only installed packages are
    importable, not this source tree) and run with the README's emulator settings."""
    script = scratch / f"readme_line_{block.line}.py"
    script.write_text(block.code)
    env = clean_environment(python.parent)
    env.update(AIMLAPI_BASE_URL=served.base_url, AIMLAPI_API_KEY=served.api_key)
    return subprocess.run(
        [str(python), script.name],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
