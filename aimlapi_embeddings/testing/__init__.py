"""A loopback emulator of AI/ML API's embeddings endpoint, for tests, examples and benchmarks.

    from aimlapi_embeddings.testing import Emulator

    with Emulator(latency=0.05, error_rate=0.1, seed=1) as api:
        client = EmbeddingsClient(api_key=api.api_key, base_url=api.base_url)
        ...
        assert all(record.status == 200 for record in api.requests[-3:])

Or from a shell: `python -m aimlapi_embeddings.testing --help`.

The emulator enforces the model registry's rules and limits, answers in AI/ML API's shapes, and
injects faults on demand. Its vectors are deterministic and lexically meaningful (texts sharing
words are close), but they are NOT the real models' vectors: never use them for anything real.
"""

from aimlapi_embeddings.testing._faults import FaultKind, FaultOptions, Faults, ScriptedFault
from aimlapi_embeddings.testing._protocol import embedding_for
from aimlapi_embeddings.testing._records import RequestRecord
from aimlapi_embeddings.testing._server import Emulator
from aimlapi_embeddings.testing._tokens import count_tokens

__all__ = [
    "Emulator",
    "FaultKind",
    "FaultOptions",
    "Faults",
    "RequestRecord",
    "ScriptedFault",
    "count_tokens",
    "embedding_for",
]
