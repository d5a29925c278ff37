"""AI/ML API embedders for Haystack 2.x / 3.x: every AI/ML API embedding model over the same core.

    from haystack_integrations.components.embedders.aimlapi import (
        AimlapiDocumentEmbedder,
        AimlapiTextEmbedder,
    )

`haystack_integrations`, `.components` and `.embedders` are namespace packages (no
`__init__.py`), so this folder merges with every other Haystack integration installed.
Needs the `[haystack]` extra.
"""

from .document_embedder import AimlapiDocumentEmbedder
from .text_embedder import AimlapiTextEmbedder

__all__ = ["AimlapiDocumentEmbedder", "AimlapiTextEmbedder"]
