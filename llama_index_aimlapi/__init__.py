"""AI/ML API embeddings for LlamaIndex.

from llama_index.core import Settings
from llama_index_aimlapi import AimlapiEmbedding
Settings.embed_model = AimlapiEmbedding(model="text-embedding-3-small")
"""

from ._embedding import AimlapiEmbedding

__all__ = ["AimlapiEmbedding"]
