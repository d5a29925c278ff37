"""The public surface of langchain_aimlapi, pinned."""

from __future__ import annotations

from pathlib import Path

from langchain_core.embeddings import Embeddings

import langchain_aimlapi


def test_all_is_pinned() -> None:
    assert langchain_aimlapi.__all__ == ["AIMLAPIEmbeddings", "AimlapiEmbeddings", "__version__"]
    for name in ("AIMLAPIEmbeddings", "AimlapiEmbeddings"):
        assert getattr(langchain_aimlapi, name).__module__ == "langchain_aimlapi._embeddings"
    assert isinstance(langchain_aimlapi.__version__, str)


def test_both_spellings_are_one_class() -> None:
    assert langchain_aimlapi.AIMLAPIEmbeddings is langchain_aimlapi.AimlapiEmbeddings
    assert issubclass(langchain_aimlapi.AimlapiEmbeddings, Embeddings)


def test_ships_type_hints() -> None:
    assert (Path(langchain_aimlapi.__file__).parent / "py.typed").is_file()
