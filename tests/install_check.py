"""A new user's first hour, replayed in fresh virtual environments: `make install-check`.

Needs PyPI, so it is not part of `make test`; CI runs both. Standard library only.

For each framework, a fresh virtual environment gets the package by one of the README's own
install commands (its bash blocks that `pip install`: one from the clone, one from a built
wheel), with that framework's extra only. In it then run, as written: every example that names
that extra, the README's emulator commands and every README Python block whose imports that
extra covers; an import of the other framework's adapter and every example of another extra,
each of which must fail naming the extra to install; and, after the install command the
notebook itself names, the README's command for the framework's notebook, which must keep its
outputs, and `jupyter lab --version`. Then `[ray]` alone: its README blocks and the README's
commands for examples/ray_embed.py, which write only into the folder they name. And `make demo`
in an environment of its own must install the core alone and run.

The environments are independent and most of their time is pip's, so they are checked at once,
each in a thread; each one's lines are printed together, in the order above.

    make install-check     # or python3 tests/install_check.py
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import venv
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from readme_blocks import (
    ROOT,
    Block,
    Served,
    blocks,
    clean_environment,
    notebook_command,
    pip_install_extras,
    readme_emulator,
    run_bash_block,
    run_python_block,
)

EXAMPLES = ROOT / "examples"
FRAMEWORKS = ("langchain", "llama-index", "haystack")
ADAPTER = {
    "langchain": "langchain_aimlapi",
    "llama-index": "llama_index_aimlapi",
    "haystack": "haystack_integrations.components.embedders.aimlapi",
}
# What `pip install -e .` of the core may bring: httpx and its dependencies, and the venv's own.
CORE_DISTRIBUTIONS = {
    "aimlapi-embeddings",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "idna",
    "certifi",
    "sniffio",
    "exceptiongroup",
    "typing-extensions",
    "pip",
    "setuptools",
    "wheel",
}
STEP_TIMEOUT = 900.0
# Where the README's commands for examples/ray_embed.py write: the only thing they may create.
RAY_FOLDER = "ray-demo"


class CheckFailed(Exception):
    pass


def require(finished: subprocess.CompletedProcess[str], what: str) -> str:
    if finished.returncode != 0:
        output = (finished.stdout + finished.stderr).strip().splitlines()
        tail = "\n    ".join(output[-25:])
        msg = f"{what} exited {finished.returncode}:\n    {tail}"
        raise CheckFailed(msg)
    return finished.stdout


def run(argv: list[str], bin_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=clean_environment(bin_dir),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )


def shell(command: str, bin_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A command typed into a shell with the environment of `bin_dir` active."""
    return run(["bash", "-euo", "pipefail", "-c", command], bin_dir, cwd)


def extras_named(text: str) -> set[str]:
    """The extras a file tells its reader to install: `aimlapi-embeddings[x]` or `".[x,y]"`."""
    named = re.findall(r'(?:aimlapi-embeddings|")\.?\[([\w,-]+)\]', text)
    return {extra for group in named for extra in group.split(",")}


class Report:
    """One environment's checks; its lines are printed once it is done (environments are checked
    at once, and their lines would interleave)."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []
        self.lines: list[str] = []

    def check(self, name: str, step: Callable[[], object]) -> bool:
        started = time.monotonic()
        try:
            step()
        except CheckFailed as exc:
            self.failed.append(name)
            self.lines.append(f"FAIL  {name}\n    {exc}")
            return False
        except Exception:
            self.failed.append(name)
            self.lines.append(f"FAIL  {name}\n{traceback.format_exc()}")
            return False
        self.passed += 1
        self.lines.append(f"ok    {name} ({time.monotonic() - started:.0f} s)")
        return True


def install_block_for(extra: str) -> Block:
    (block,) = [block for block in blocks("bash") if pip_install_extras(block) == [extra]]
    return block


def check_framework(extra: str, scratch: Path, report: Report) -> None:
    environment = scratch / f"venv-{extra}"
    venv.create(environment, with_pip=True)
    bin_dir = environment / "bin"
    python = bin_dir / "python"
    block = install_block_for(extra)
    if not report.check(
        f"[{extra}] installs with the README's command at {block}",
        lambda: require(run_bash_block(block, bin_dir, ROOT), str(block)),
    ):
        return

    other = next(framework for framework in FRAMEWORKS if framework != extra)

    def other_adapter_names_its_extra() -> None:
        finished = run([str(python), "-c", f"import {ADAPTER[other]}"], bin_dir, scratch)
        expected = f'pip install "aimlapi-embeddings[{other}]"'
        if finished.returncode == 0 or expected not in finished.stderr:
            msg = f"import {ADAPTER[other]} did not fail naming {expected}:\n{finished.stderr}"
            raise CheckFailed(msg)

    report.check(
        f"[{extra}] import {ADAPTER[other]} names [{other}]", other_adapter_names_its_extra
    )

    for example in sorted(EXAMPLES.glob("*.py")):
        named = extras_named(example.read_text())
        if named == {extra}:
            # Run from the clone's root as the README says; the script's folder, not the source
            # tree, is on sys.path, so the installed package is what runs.
            report.check(
                f"[{extra}] python examples/{example.name}",
                lambda example=example: require(
                    run([str(python), f"examples/{example.name}"], bin_dir, ROOT), example.name
                ),
            )
        elif named and extra not in named:
            (needed,) = named
            report.check(
                f"[{extra}] python examples/{example.name} names [{needed}]",
                lambda example=example, needed=needed: example_names_its_extra(
                    example, needed, python, bin_dir
                ),
            )

    with readme_emulator(bin_dir) as served:
        (curl,) = [block for block in blocks("bash") if block.code.startswith("curl ")]
        report.check(
            f"[{extra}] {curl}: curl and export against the README's emulator command",
            lambda: require(run_bash_block(curl, bin_dir, scratch, served=served), str(curl)),
        )
        for block in blocks("python"):
            if block.extras <= {extra}:
                report.check(
                    f"[{extra}] {block}",
                    lambda block=block: check_python_block(block, python, served, scratch),
                )

    for notebook in sorted(EXAMPLES.glob("*.ipynb")):
        named = extras_named(notebook.read_text())
        if extra not in named:
            continue
        install = f'pip install ".[{",".join(sorted(named))}]"'
        report.check(
            f"[{extra}] {install}, then {notebook_command(notebook.name)}",
            lambda notebook=notebook, install=install: run_notebook(
                notebook, install, bin_dir, scratch
            ),
        )

    # Last, as it changes the environment: the pip line of that ImportError works today, though
    # no index has this package, because pip takes the installed one and adds the extra.
    fix = f'pip install "aimlapi-embeddings[{other}]"'

    def the_fix_works() -> None:
        require(shell(fix, bin_dir, scratch), fix)
        importing = f"import {ADAPTER[other]}"
        require(run([str(python), "-c", importing], bin_dir, scratch), importing)

    report.check(f"[{extra}] {fix}, then import {ADAPTER[other]}", the_fix_works)


def check_ray(scratch: Path, report: Report) -> None:
    """[ray] alone: the README's install command, then its Ray blocks and its command for
    examples/ray_embed.py (on a sample corpus, without a key: the example's own emulator)."""
    environment = scratch / "venv-ray"
    venv.create(environment, with_pip=True)
    bin_dir = environment / "bin"
    block = install_block_for("ray")
    if not report.check(
        f"[ray] installs with the README's command at {block}",
        lambda: require(run_bash_block(block, bin_dir, ROOT), str(block)),
    ):
        return

    (command,) = [block for block in blocks("bash") if "examples/ray_embed.py" in block.code]
    # In a scratch folder, with the clone's examples: run in the clone, it would leave ray-demo/
    # there (git ignores it), and a second check would resume from it instead of embedding.
    here = Block(command.language, command.code.replace("examples/", f"{EXAMPLES}/"), command.line)
    folder = scratch / "ray-example"
    folder.mkdir()

    def example_runs() -> None:
        output = require(run_bash_block(here, bin_dir, folder), str(command))
        if "using the bundled loopback emulator" not in output or "passages/s" not in output:
            msg = f"{command} did not say what it used or how fast it went:\n{output}"
            raise CheckFailed(msg)
        ours = folder / RAY_FOLDER
        written = sorted(
            str(path.relative_to(folder)) for path in [*folder.iterdir(), *ours.iterdir()]
        )
        if written != [RAY_FOLDER, f"{RAY_FOLDER}/passages.jsonl", f"{RAY_FOLDER}/vectors"]:
            msg = f"{command} wrote elsewhere than its folder {RAY_FOLDER}/: {written}"
            raise CheckFailed(msg)
        if not list((ours / "vectors").glob("part-*.parquet")):
            msg = f"{command} wrote no vectors into {RAY_FOLDER}/vectors"
            raise CheckFailed(msg)

    report.check(f"[ray] {command}: examples/ray_embed.py on a sample corpus", example_runs)

    with readme_emulator(bin_dir) as served:
        for block in blocks("python"):
            if "ray" in block.extras and block.extras <= {"ray"}:
                report.check(
                    f"[ray] {block}",
                    lambda block=block: check_python_block(
                        block, bin_dir / "python", served, scratch
                    ),
                )


def check_python_block(block: Block, python: Path, served: Served, scratch: Path) -> None:
    folder = scratch / f"block-{block.line}-{python.parent.parent.name}"
    folder.mkdir()
    finished = run_python_block(block, python, served, folder)
    require(finished, str(block))
    unexpected = block.unexpected_stderr(finished.stderr)
    if unexpected or not finished.stdout.strip():
        msg = f"{block} printed nothing or wrote to stderr:\n{unexpected}"
        raise CheckFailed(msg)


def example_names_its_extra(example: Path, extra: str, python: Path, bin_dir: Path) -> None:
    """Run without its extra's framework, an example fails saying what to install."""
    finished = run([str(python), f"examples/{example.name}"], bin_dir, ROOT)
    expected = f'pip install "aimlapi-embeddings[{extra}]"'
    last = (finished.stderr.strip().splitlines() or [""])[-1]
    if finished.returncode == 0 or not (
        last.startswith(f"ModuleNotFoundError: examples/{example.name} needs ")
        and last.endswith(expected)
    ):
        msg = f"python examples/{example.name} did not fail naming {expected}:\n{finished.stderr}"
        raise CheckFailed(msg)


def run_notebook(notebook: Path, install: str, bin_dir: Path, scratch: Path) -> None:
    """The notebook's install command in the clone, then the README's command for it, as written,
    in a copy of the clone's examples/ (it saves the outputs into the notebook: the clone's stays
    as stored), which must keep them; and JupyterLab, which the notebooks say opens them."""
    if install not in notebook.read_text().replace('\\"', '"'):
        msg = f"{notebook.name} does not say {install}"
        raise CheckFailed(msg)
    require(shell(install, bin_dir, ROOT), install)
    folder = scratch / f"notebook-{notebook.stem}"
    (folder / "examples").mkdir(parents=True)
    for file in (notebook, EXAMPLES / "_shared.py"):
        shutil.copy(file, folder / "examples")
    command = notebook_command(notebook.name)
    require(shell(command, bin_dir, folder), command)
    executed = json.loads((folder / "examples" / notebook.name).read_text())
    kept = [output for cell in executed["cells"] for output in cell.get("outputs", [])]
    if not any("image/png" in output.get("data", {}) for output in kept):
        msg = f"{command} kept no picture in {notebook.name}: {len(kept)} outputs"
        raise CheckFailed(msg)
    require(shell("jupyter lab --version", bin_dir, folder), "jupyter lab --version")


def check_demo(scratch: Path, report: Report) -> None:
    environment = scratch / "venv-demo"
    bin_dir = environment / "bin"

    def demo() -> None:
        output = require(run(["make", "demo", f"VENV={environment}"], bin_dir, ROOT), "make demo")
        if "Usage(" in output or " tokens" not in output:
            msg = f"make demo does not report usage in words:\n{output}"
            raise CheckFailed(msg)
        listing = [str(bin_dir / "python"), "-m", "pip", "list", "--format=freeze"]
        frozen = require(run(listing, bin_dir, ROOT), "pip list")
        installed = {line.split("==")[0].lower().replace("_", "-") for line in frozen.split()}
        if extra := sorted(installed - CORE_DISTRIBUTIONS):
            msg = f"make demo installed more than the core needs: {extra}"
            raise CheckFailed(msg)

    report.check("make demo installs the core alone and runs", demo)


def main() -> int:
    environments: list[Callable[[Path, Report], None]] = [
        *(partial(check_framework, extra) for extra in FRAMEWORKS),
        check_ray,
        check_demo,
    ]
    reports = [Report() for _ in environments]
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="aimlapi-install-check-") as directory,
        ThreadPoolExecutor(max_workers=len(environments)) as pool,
    ):
        scratch = Path(directory)
        running = [
            pool.submit(check, scratch, report)
            for check, report in zip(environments, reports, strict=True)
        ]
        for future, report in zip(running, reports, strict=True):
            future.exception()  # waits for this environment: its lines, then the next one's
            if report.lines:
                print("\n".join(report.lines), flush=True)
        for future in running:
            future.result()  # an error outside the checks stops the run, as it did in sequence
    failed = [name for report in reports for name in report.failed]
    passed = sum(report.passed for report in reports)
    print(f"\ninstall check, {time.monotonic() - started:.0f} s")
    if failed:
        print("failed:\n  " + "\n  ".join(failed))
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
