"""The OpenAI classes' constructor arguments, and what each means here: one table, every adapter.

Code written for langchain-openai's `OpenAIEmbeddings` or llama-index-embeddings-openai's
`OpenAIEmbedding` passes their argument names. Each name gets one of three answers:

- "maps": it means the same here, under the name in `to` (the same name when `to` is None);
- "ignored": it is accepted and has no effect here, with one warning per object saying why
  (`why`), since what it tunes does not exist in this client (tiktoken, an OpenAI organisation);
- "refused": a `TypeError` whose message says what to use instead (`why`).

The adapters apply the table in one `model_validator(mode="before")` each (`translate`), and the
README's migration tables are generated from it (`readme_tables`), so the two cannot drift apart.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .models import _caller_stacklevel

Effect = Literal["maps", "ignored", "refused"]


class IgnoredArgumentWarning(UserWarning):
    """An argument of the OpenAI classes that has no effect here was passed (the message says why).

    Silence it, once the code is migrated, with
    `warnings.filterwarnings("ignore", category=IgnoredArgumentWarning)`.
    """


@dataclass(frozen=True)
class PeerArgument:
    """One constructor argument of a peer class, and what it becomes here."""

    name: str
    effect: Effect
    why: str
    to: str | None = None

    def target(self) -> str:
        return self.to or self.name


@dataclass(frozen=True)
class Peer:
    """A peer class users migrate from, and the adapter class that takes its arguments."""

    peer_class: str
    ours: str
    arguments: tuple[PeerArgument, ...]

    def argument(self, name: str) -> PeerArgument | None:
        for row in self.arguments:
            if row.name == name:
                return row
        return None


# Reasons shared by both peers, said once.
_NO_TOKENIZER = (
    "nothing is tokenised here: texts are checked against each model's own limits offline "
    "(no tiktoken files, no downloads) and sent as strings"
)
_OWN_POOLS = (
    "the client keeps its own connection pools (one per event loop, fresh after a fork); use "
    "timeout=, default_headers=, and HTTPS_PROXY in the environment for a proxy"
)
_AZURE_ONLY = "an Azure OpenAI setting; AI/ML API has one endpoint and no API versions"
_BACKOFF = (
    "the wait between retries follows the server's Retry-After, else exponential backoff with "
    "jitter; max_retries= sets how many"
)

LANGCHAIN = Peer(
    peer_class="langchain_openai.OpenAIEmbeddings",
    ours="langchain_aimlapi.AimlapiEmbeddings",
    arguments=(
        PeerArgument("model", "maps", "an AI/ML API model id (default text-embedding-3-small)"),
        PeerArgument("dimensions", "maps", "sent only to models that accept it"),
        PeerArgument("openai_api_key", "maps", "the AI/ML API key, kept a secret", to="api_key"),
        PeerArgument("api_key", "maps", "the AI/ML API key, kept a secret"),
        PeerArgument("openai_api_base", "maps", "the API root", to="base_url"),
        PeerArgument("base_url", "maps", "the API root"),
        PeerArgument(
            "chunk_size", "maps", "texts per request, within the model's limits", to="batch_size"
        ),
        PeerArgument(
            "request_timeout",
            "maps",
            "seconds per request as a whole, or an httpx.Timeout",
            to="timeout",
        ),
        PeerArgument("timeout", "maps", "seconds per request as a whole, or an httpx.Timeout"),
        PeerArgument("max_retries", "maps", "retries of a failed request"),
        PeerArgument("show_progress_bar", "maps", "a tqdm bar that advances as requests finish"),
        PeerArgument(
            "model_kwargs",
            "maps",
            "extra request fields, checked against the model's published schema",
        ),
        PeerArgument("default_headers", "maps", "extra HTTP headers"),
        PeerArgument("check_embedding_ctx_length", "ignored", _NO_TOKENIZER),
        PeerArgument("tiktoken_enabled", "ignored", _NO_TOKENIZER),
        PeerArgument("tiktoken_model_name", "ignored", _NO_TOKENIZER),
        PeerArgument("allowed_special", "ignored", _NO_TOKENIZER),
        PeerArgument("disallowed_special", "ignored", _NO_TOKENIZER),
        PeerArgument(
            "embedding_ctx_length",
            "ignored",
            "each model's own context bounds a text; longer ones are handled per long_text=",
        ),
        PeerArgument(
            "skip_empty",
            "ignored",
            "an empty text gets a valid vector in its place, never skipped or refused",
        ),
        PeerArgument("openai_organization", "ignored", "AI/ML API has no organisations"),
        PeerArgument("organization", "ignored", "AI/ML API has no organisations"),
        PeerArgument("openai_api_version", "ignored", _AZURE_ONLY),
        PeerArgument("api_version", "ignored", _AZURE_ONLY),
        PeerArgument("openai_api_type", "ignored", _AZURE_ONLY),
        PeerArgument("deployment", "ignored", _AZURE_ONLY),
        PeerArgument("retry_min_seconds", "ignored", _BACKOFF),
        PeerArgument("retry_max_seconds", "ignored", _BACKOFF),
        PeerArgument(
            "headers",
            "ignored",
            "OpenAIEmbeddings does not send it either; extra headers go in default_headers=",
        ),
        PeerArgument(
            "default_query", "ignored", "AI/ML API's embeddings endpoint reads no query parameters"
        ),
        PeerArgument(
            "openai_proxy",
            "refused",
            "set HTTPS_PROXY in the environment: it is used "
            "for https URLs only, so the key never crosses a proxy in clear",
        ),
        PeerArgument("http_client", "refused", _OWN_POOLS),
        PeerArgument("http_async_client", "refused", _OWN_POOLS),
        PeerArgument(
            "client", "refused", "no OpenAI SDK client is used; pass api_key= and base_url="
        ),
        PeerArgument(
            "async_client", "refused", "no OpenAI SDK client is used; pass api_key= and base_url="
        ),
    ),
)

LLAMA_INDEX = Peer(
    peer_class="llama_index.embeddings.openai.OpenAIEmbedding",
    ours="llama_index_aimlapi.AimlapiEmbedding",
    arguments=(
        PeerArgument("model", "maps", "an AI/ML API model id (default text-embedding-3-small)"),
        PeerArgument("model_name", "maps", "the same as model="),
        PeerArgument("dimensions", "maps", "sent only to models that accept it"),
        PeerArgument("api_key", "maps", "the AI/ML API key, kept a secret"),
        PeerArgument("api_base", "maps", "the API root"),
        PeerArgument(
            "embed_batch_size",
            "maps",
            "texts per request, within the model's limits; "
            "unset, every max_concurrency request is kept busy",
        ),
        PeerArgument(
            "additional_kwargs",
            "maps",
            "extra request fields, checked against the model's published schema",
        ),
        PeerArgument("max_retries", "maps", "retries of a failed request"),
        PeerArgument("timeout", "maps", "seconds per request as a whole, or an httpx.Timeout"),
        PeerArgument("default_headers", "maps", "extra HTTP headers"),
        PeerArgument("callback_manager", "maps", "LlamaIndex's own: events for each chunk"),
        PeerArgument(
            "num_workers",
            "maps",
            "LlamaIndex's own: chunks run at once in async "
            "calls; requests in flight stay bounded by max_concurrency",
        ),
        PeerArgument("embeddings_cache", "maps", "LlamaIndex's own: cached texts are not sent"),
        PeerArgument(
            "rate_limiter",
            "maps",
            "LlamaIndex's own: it paces chunks of embed_batch_size texts, not each request",
        ),
        PeerArgument(
            "mode",
            "ignored",
            "it picks engines of OpenAI's first-generation models; "
            "queries and documents are told apart per model here",
        ),
        PeerArgument(
            "reuse_client",
            "ignored",
            "pooled connections are always reused, one pool per event loop",
        ),
        PeerArgument("api_version", "ignored", _AZURE_ONLY),
        PeerArgument(
            "http_client", "refused", _OWN_POOLS + "; or transport= for an httpx transport"
        ),
        PeerArgument(
            "async_http_client",
            "refused",
            _OWN_POOLS + "; or async_transport= for an httpx transport",
        ),
    ),
)

PEERS = {"langchain": LANGCHAIN, "llama-index": LLAMA_INDEX}


def names_of_fields(fields: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Each name a pydantic model's fields accept (name, alias, validation aliases), mapped to
    all the names of its field: `api_key` and `aimlapi_api_key` are one argument."""
    names_of: dict[str, frozenset[str]] = {}
    for name, info in fields.items():
        names = {name}
        if isinstance(info.alias, str):
            names.add(info.alias)
        choices = getattr(info.validation_alias, "choices", [info.validation_alias])
        names.update(choice for choice in choices if isinstance(choice, str))
        for each in names:
            names_of[each] = frozenset(names)
    return names_of


def translate(
    peer: Peer,
    arguments: Mapping[str, Any],
    names_of: Mapping[str, frozenset[str]] | None = None,
) -> dict[str, Any]:
    """`arguments` with the peer's names mapped to ours and the ignored ones dropped.

    Warns once, naming every ignored argument and why; raises `TypeError` for a refused one and
    `ValueError` when a peer name and one of ours (any name of the same field, `names_of`) both
    give one argument different values; the same value twice is kept under our name.
    """
    translated = dict(arguments)
    ignored: list[PeerArgument] = []
    for name in arguments:
        row = peer.argument(name)
        if row is None or (row.effect == "maps" and row.target() == name):
            continue
        if row.effect != "maps" and arguments[name] is None:
            # None is the peers' default for all of these ("not given"), as in
            # openai_proxy=os.getenv("OPENAI_PROXY"): nothing to refuse or to warn about.
            translated.pop(name)
            continue
        if row.effect == "refused":
            msg = f"{peer.ours} does not take {name}= ({peer.peer_class} does): {row.why}"
            raise TypeError(msg)
        value = translated.pop(name)
        if row.effect == "ignored":
            ignored.append(row)
            continue
        target = row.target()
        ours = sorted(
            given for given in (names_of or {}).get(target, {target}) if given in translated
        )
        for given in ours:
            if translated[given] != value:
                msg = f"{name}= and {given}= give two values for one argument: pass {given}= only"
                raise ValueError(msg)
        if not ours:
            translated[target] = value
    if ignored:
        names_by_reason: dict[str, list[str]] = {}
        for row in ignored:
            names_by_reason.setdefault(row.why, []).append(f"{row.name}=")
        reasons = "; ".join(f"{', '.join(names)} ({why})" for why, names in names_by_reason.items())
        warnings.warn(
            f"{peer.ours} ignores arguments of {peer.peer_class} that have no effect here: "
            f"{reasons}",
            IgnoredArgumentWarning,
            stacklevel=_caller_stacklevel(),
        )
    return translated


def markdown(peer: Peer) -> str:
    """The README's table for one peer: each argument, what it becomes here, and why."""
    answer = {"maps": "maps to `{}`", "ignored": "no effect, warns", "refused": "refused"}
    lines = ["| argument | here | why |", "|---|---|---|"]
    for row in peer.arguments:
        lines.append(f"| `{row.name}` | {answer[row.effect].format(row.target())} | {row.why} |")
    return "\n".join(lines) + "\n"


def readme_tables() -> str:
    """Both tables between the README's markers, as the README holds them."""
    return "".join(
        f"<!-- migration:{key}:start -->\n{markdown(peer)}<!-- migration:{key}:end -->\n"
        for key, peer in PEERS.items()
    )
