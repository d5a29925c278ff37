"""The shared in-process fake API (tests/fakes.py), wired into AimlapiEmbedding."""

from __future__ import annotations

from typing import Any

import httpx
from fakes import API_KEY, BASE_URL, FakeAPI, vector_for

from llama_index_aimlapi import AimlapiEmbedding


def make_embedding(api: FakeAPI, **options: Any) -> AimlapiEmbedding:
    """An AimlapiEmbedding whose requests `api` answers in process."""
    options.setdefault("api_key", API_KEY)
    options.setdefault("base_url", BASE_URL)
    return AimlapiEmbedding(transport=httpx.MockTransport(api), **options)


__all__ = ["API_KEY", "BASE_URL", "FakeAPI", "make_embedding", "vector_for"]
