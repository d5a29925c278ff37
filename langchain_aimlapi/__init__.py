"""AI/ML API embeddings for LangChain.

from langchain_aimlapi import AimlapiEmbeddings
embeddings = AimlapiEmbeddings(model="text-embedding-3-small")  # key from AIMLAPI_API_KEY
vectors = embeddings.embed_documents(["first text", "second text"])
"""

from aimlapi_embeddings import __version__
from aimlapi_embeddings._extras import missing_extra

from ._other_distribution import warn_if_installed

# First: when the other distribution's files are mixed with ours, that is the likelier cause of
# an import error below.
warn_if_installed()

try:
    from ._embeddings import AimlapiEmbeddings
except ModuleNotFoundError as exc:
    raise missing_extra(exc, extra="langchain", needed_by="langchain_aimlapi") from exc

AIMLAPIEmbeddings = AimlapiEmbeddings
"""The spelling LangChain's own docs use; the same class."""

__all__ = ["AIMLAPIEmbeddings", "AimlapiEmbeddings", "__version__"]
