"""AI/ML API embeddings for LlamaIndex.

from llama_index.core import Settings
from llama_index_aimlapi import AimlapiEmbedding   # or: from llama_index.embeddings.aimlapi
Settings.embed_model = AimlapiEmbedding(model="text-embedding-3-small")
"""

from aimlapi_embeddings import __version__
from aimlapi_embeddings._extras import missing_extra

try:
    from ._embedding import AimlapiEmbedding
except ModuleNotFoundError as exc:
    raise missing_extra(exc, extra="llama-index", needed_by="llama_index_aimlapi") from exc

__all__ = ["AimlapiEmbedding", "__version__"]
