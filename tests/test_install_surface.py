"""What a user meets on import: one version everywhere, the extra to install when a framework is
missing, LlamaIndex's conventional import path, and a warning when the other `langchain-aimlapi`
distribution shares our import name.

Imports run in a fresh interpreter with warnings as errors, as the first import of a user's
program would: nothing the test session imported earlier can hide what happens.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import aimlapi_embeddings
import langchain_aimlapi
import llama_index_aimlapi


def run_python(
    code: str, cwd: Path, *, python_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if python_path is not None:
        env["PYTHONPATH"] = str(python_path)
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_one_version_for_the_distribution_and_its_three_packages() -> None:
    from llama_index.embeddings import aimlapi

    installed = metadata.version("aimlapi-embeddings")
    assert aimlapi_embeddings.__version__ == installed
    assert langchain_aimlapi.__version__ == installed
    assert llama_index_aimlapi.__version__ == installed
    assert aimlapi.__version__ == installed


def test_llama_index_conventional_path_is_the_same_class() -> None:
    from llama_index.embeddings.aimlapi import AimlapiEmbedding

    assert AimlapiEmbedding is llama_index_aimlapi.AimlapiEmbedding


# Makes `framework` fail to import exactly as it does when it is not installed.
NOT_INSTALLED = """
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name == {framework!r} or name.startswith({framework!r} + "."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, NotInstalled())
"""


@pytest.mark.parametrize(
    ("statement", "framework", "message"),
    [
        (
            "import langchain_aimlapi",
            "langchain_core",
            "langchain_aimlapi needs langchain_core, which is not installed: "
            'pip install "aimlapi-embeddings[langchain]"',
        ),
        (
            "import llama_index_aimlapi",
            "llama_index.core",
            "llama_index_aimlapi needs llama_index.core, which is not installed: "
            'pip install "aimlapi-embeddings[llama-index]"',
        ),
        (
            "from llama_index.embeddings.aimlapi import AimlapiEmbedding",
            "llama_index.core",
            "llama_index_aimlapi needs llama_index.core, which is not installed: "
            'pip install "aimlapi-embeddings[llama-index]"',
        ),
        (
            "from aimlapi_embeddings.ray import AimlapiEmbedder",
            "numpy",
            "aimlapi_embeddings.ray needs numpy, which is not installed: "
            'pip install "aimlapi-embeddings[ray]"',
        ),
    ],
)
def test_a_missing_framework_names_the_extra_to_install(
    statement: str, framework: str, message: str, tmp_path: Path
) -> None:
    finished = run_python(NOT_INSTALLED.format(framework=framework) + statement, tmp_path)
    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines()[-1] == f"ModuleNotFoundError: {message}"


def fake_distribution(site: Path, name: str, version: str) -> Path:
    """Metadata of an installed distribution, as pip leaves it, without its files."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return site


def test_the_other_langchain_aimlapi_distribution_is_named_in_a_warning(tmp_path: Path) -> None:
    site = fake_distribution(tmp_path / "site", "langchain-aimlapi", "0.1.3")
    finished = run_python("import langchain_aimlapi", tmp_path, python_path=site)
    assert finished.returncode == 1  # -W error turns the warning into the error shown
    message = finished.stderr.strip().splitlines()[-1]
    assert message.startswith("UserWarning: langchain-aimlapi 0.1.3 is installed next to")
    for fact in (
        "AimlapiImageModel and AimlapiVideoModel can no longer be imported",
        "langchain-core<0.4 is not met",
        "pip uninstall -y langchain-aimlapi aimlapi-embeddings",
    ):
        assert fact in message


def test_importing_either_adapter_alone_warns_about_nothing(tmp_path: Path) -> None:
    # The same fresh interpreter with warnings as errors, without the other distribution.
    finished = run_python(
        "import langchain_aimlapi, llama_index_aimlapi, llama_index.embeddings.aimlapi", tmp_path
    )
    assert finished.returncode == 0, finished.stderr


def test_importing_the_core_never_imports_ray_and_the_ray_module_only_needs_numpy(
    tmp_path: Path,
) -> None:
    heavy = ("ray", "pandas", "pyarrow")
    check = f"import sys; print([name for name in {heavy!r} if name in sys.modules])"
    core = run_python(f"import aimlapi_embeddings; {check}", tmp_path)
    assert core.returncode == 0, core.stderr
    assert core.stdout.strip() == "[]"
    # The Ray module itself does not import Ray: the same class serves Spark's mapInPandas.
    ray_module = run_python(f"import aimlapi_embeddings.ray; {check}", tmp_path)
    assert ray_module.returncode == 0, ray_module.stderr
    assert ray_module.stdout.strip() == "[]"
