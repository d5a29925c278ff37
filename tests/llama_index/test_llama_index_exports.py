"""The public surface of llama_index_aimlapi: adding a name is a decision, removing one a break."""

from __future__ import annotations

from pathlib import Path

import llama_index_aimlapi


def test_exported_members() -> None:
    assert llama_index_aimlapi.__all__ == ["AimlapiEmbedding"]
    for name in llama_index_aimlapi.__all__:
        member = getattr(llama_index_aimlapi, name)
        assert member.__module__.startswith("llama_index_aimlapi.")


def test_ships_type_information() -> None:
    assert (Path(llama_index_aimlapi.__file__).parent / "py.typed").is_file()
