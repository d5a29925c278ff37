"""The wheel, built offline from this tree: what it ships, and what it must not.

`llama_index` and `llama_index.embeddings` are namespace packages shared with llama-index-core
and every other LlamaIndex integration: an `__init__.py` of ours at either level would hide
theirs. tests/install_check.py installs this wheel in fresh environments; this checks its bytes.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

import aimlapi_embeddings

if sys.version_info >= (3, 11):
    import tomllib
else:  # hatchling brings tomli where the standard library has no tomllib
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("aimlapi_embeddings", "langchain_aimlapi", "llama_index_aimlapi")
DIST_INFO = f"aimlapi_embeddings-{aimlapi_embeddings.__version__}.dist-info"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("dist")
    # The PEP 517 hook pip would call, without pip: no index, no build environment, no network.
    built = subprocess.run(
        [sys.executable, "-c", f"import hatchling.build as b; print(b.build_wheel({str(out)!r}))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return zipfile.ZipFile(out / built.stdout.strip().splitlines()[-1])


def test_the_wheel_carries_the_one_version(wheel: zipfile.ZipFile) -> None:
    metadata = HeaderParser().parsestr(wheel.read(f"{DIST_INFO}/METADATA").decode())
    assert metadata["Name"] == "aimlapi-embeddings"
    assert metadata["Version"] == aimlapi_embeddings.__version__
    assert Path(wheel.filename or "").name.startswith(
        f"aimlapi_embeddings-{aimlapi_embeddings.__version__}-"
    )


def test_the_wheel_ships_the_license(wheel: zipfile.ZipFile) -> None:
    shipped = wheel.read(f"{DIST_INFO}/licenses/LICENSE").decode()
    assert shipped == (ROOT / "LICENSE").read_text()
    assert shipped.startswith("MIT License")
    metadata = HeaderParser().parsestr(wheel.read(f"{DIST_INFO}/METADATA").decode())
    assert metadata["License-Expression"] == "MIT"


def test_the_wheel_ships_every_package_typed(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for package in (*PACKAGES, "llama_index/embeddings/aimlapi"):
        assert f"{package}/__init__.py" in names
        assert f"{package}/py.typed" in names


def test_the_wheel_leaves_llama_index_namespaces_open(wheel: zipfile.ZipFile) -> None:
    ours = [name for name in wheel.namelist() if name.startswith("llama_index/")]
    assert sorted(ours) == [
        "llama_index/embeddings/aimlapi/__init__.py",
        "llama_index/embeddings/aimlapi/py.typed",
    ]


def test_llamahub_metadata_names_what_is_importable() -> None:
    llamahub = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["llamahub"]
    module = importlib.import_module(llamahub["import_path"])
    assert llamahub["import_path"] == "llama_index.embeddings.aimlapi"
    for class_name in llamahub["class_authors"]:
        assert class_name in module.__all__
