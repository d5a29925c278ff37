"""AI/ML API embeddings at LlamaIndex's conventional import path.

from llama_index.core import Settings
from llama_index.embeddings.aimlapi import AimlapiEmbedding
Settings.embed_model = AimlapiEmbedding(model="text-embedding-3-small")

The same class as `llama_index_aimlapi.AimlapiEmbedding`. `llama_index` and
`llama_index.embeddings` are namespace packages shared with llama-index-core and the other
integrations: this distribution ships neither of their `__init__.py` files, only this folder.
"""

from llama_index_aimlapi import AimlapiEmbedding, __version__

__all__ = ["AimlapiEmbedding", "__version__"]
