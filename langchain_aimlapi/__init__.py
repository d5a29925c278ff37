"""AI/ML API embeddings for LangChain.

from langchain_aimlapi import AimlapiEmbeddings
embeddings = AimlapiEmbeddings(model="text-embedding-3-small")  # key from AIMLAPI_API_KEY
vectors = embeddings.embed_documents(["first text", "second text"])
"""

from ._embeddings import AimlapiEmbeddings

AIMLAPIEmbeddings = AimlapiEmbeddings
"""The spelling LangChain's own docs use; the same class."""

__all__ = ["AIMLAPIEmbeddings", "AimlapiEmbeddings"]
