"""The Python environments the workers run in, created with venv + pip on first use.

Ours run in the interpreter running the benchmark (the project's .venv). The peers get their own
environments under benchmarks/.venvs/, so the project's stays lean and langchain-aimlapi 0.1.3,
which pins langchain-core<0.4, can coexist with langchain-core 1.x.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _implementations import EnvName

VENVS = Path(__file__).resolve().parent / ".venvs"
_STAMP = ".benchmark-requirements.json"

REQUIREMENTS: dict[EnvName, tuple[str, ...]] = {
    "main": (),
    "peers": ("langchain-openai>=1,<2", "llama-index-embeddings-openai>=0.5,<1"),
    "langchain-aimlapi": ("langchain-aimlapi==0.1.3",),
}


def _python(directory: Path) -> Path:
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    return directory / scripts / ("python.exe" if sys.platform == "win32" else "python")


def _ensure(name: EnvName) -> Path:
    """The interpreter of environment `name`, created or updated if its requirements changed."""
    if name == "main":
        return Path(sys.executable)
    directory = VENVS / name
    python = _python(directory)
    stamp = directory / _STAMP
    wanted = json.dumps(REQUIREMENTS[name])
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"setting up {directory} ({', '.join(REQUIREMENTS[name])}) ...", flush=True)
    venv.create(directory, with_pip=True, clear=True)
    log = VENVS / f"{name}.log"
    with log.open("w") as output:
        completed = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS[name]],
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if completed.returncode != 0:
        tail = log.read_text().strip().splitlines()[-5:]
        msg = f"pip install failed (exit {completed.returncode}); see {log}: " + " | ".join(tail)
        raise RuntimeError(msg)
    stamp.write_text(wanted)
    return python


def ensure_all(names: set[EnvName]) -> dict[EnvName, Path | str]:
    """Every environment's interpreter, or why it could not be made; set up in parallel."""
    VENVS.mkdir(exist_ok=True)
    ready: dict[EnvName, Path | str] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = {name: pool.submit(_ensure, name) for name in sorted(names)}
        for name, future in futures.items():
            try:
                ready[name] = future.result()
            except Exception as exc:
                ready[name] = f"{type(exc).__name__}: {exc}"
    return ready
