"""The public surface of llama_index_aimlapi: adding a name is a decision, removing one a break."""

from __future__ import annotations

from pathlib import Path

from llama_index.embeddings import aimlapi as conventional

import llama_index_aimlapi


def test_exported_members() -> None:
    assert llama_index_aimlapi.__all__ == ["AimlapiEmbedding", "__version__"]
    assert llama_index_aimlapi.AimlapiEmbedding.__module__ == "llama_index_aimlapi._embedding"
    assert isinstance(llama_index_aimlapi.__version__, str)


def test_conventional_path_exports_the_same_members() -> None:
    assert conventional.__all__ == llama_index_aimlapi.__all__
    for name in conventional.__all__:
        assert getattr(conventional, name) is getattr(llama_index_aimlapi, name)


def test_ships_type_information() -> None:
    for package in (llama_index_aimlapi, conventional):
        assert (Path(package.__file__).parent / "py.typed").is_file()
