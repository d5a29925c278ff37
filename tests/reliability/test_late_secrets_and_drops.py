"""Secrets that arrive after construction, credentials in headers, and objects dropped unclosed.

A key set by assignment, `model_copy(update=...)` or `from_dict` is a secret like one passed to
the constructor, and it is the key sent. A header whose name says it holds a credential is sent
but written into no dump, repr or saved configuration. An object dropped without `close()`
closes its sockets rather than leaving them to the collector (which warns of each one).
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.load import dumpd, dumps
from pydantic import SecretStr

from aimlapi_embeddings import AuthenticationError, EmbeddingsClient
from aimlapi_embeddings._secret import Secret
from aimlapi_embeddings.testing import Emulator
from langchain_aimlapi import AimlapiEmbeddings
from llama_index_aimlapi import AimlapiEmbedding

OLD_KEY = "aiml-sk-old-4Hq9Wm2Zr7Ty5Ux3"
NEW_KEY = "aiml-sk-new-8Jc6Vb1Nd4Fg7Kp2"
HEADER_TOKEN = "hdr-tok-5Ls8Qe3Wy6Ro9Ia1"


@pytest.fixture
def api() -> Iterator[Emulator]:
    """An API that takes only the new key: a call made with the old one is a 401."""
    with Emulator(api_key=NEW_KEY) as emulator:
        yield emulator


def shown(target: Any) -> dict[str, str]:
    """Every common way an object is printed or saved."""
    forms = {
        "repr": repr(target),
        "str": str(target),
        "f-string": f"{target}",
        "model_dump": repr(target.model_dump()),
        "model_dump_json": target.model_dump_json(),
    }
    if isinstance(target, AimlapiEmbeddings):
        forms["dumps"] = dumps(target)
        forms["dumpd"] = json.dumps(dumpd(target))
        forms["to_json"] = repr(target.to_json())
    else:
        forms["to_dict"] = json.dumps(target.to_dict())
        forms["to_json"] = target.to_json()
    return forms


def assert_not_shown(target: Any, secret: str) -> None:
    for form, text in shown(target).items():
        assert secret not in text, f"{form} shows it: {text[:300]!r}"


def langchain_with_old_key(api: Emulator) -> AimlapiEmbeddings:
    return AimlapiEmbeddings(api_key=OLD_KEY, base_url=api.base_url, max_retries=0)


def llama_with_old_key(api: Emulator) -> AimlapiEmbedding:
    return AimlapiEmbedding(api_key=OLD_KEY, api_base=api.base_url, max_retries=0)


def test_langchain_key_assigned_later_is_a_secret_and_is_sent(api: Emulator) -> None:
    embeddings = langchain_with_old_key(api)
    with pytest.raises(AuthenticationError):
        embeddings.embed_query("hello")
    embeddings.aimlapi_api_key = NEW_KEY  # type: ignore[assignment]
    assert_not_shown(embeddings, NEW_KEY)
    assert len(embeddings.embed_query("hello")) == 1536


@pytest.mark.parametrize(
    ("make", "field"),
    [(langchain_with_old_key, "aimlapi_api_key"), (llama_with_old_key, "api_key")],
    ids=["langchain", "llama-index"],
)
def test_a_key_given_to_model_copy_is_a_secret_and_is_sent(
    api: Emulator, make: Callable[[Emulator], Any], field: str
) -> None:
    original = make(api)
    copy = original.model_copy(update={field: NEW_KEY})
    assert_not_shown(copy, NEW_KEY)
    query = copy.embed_query if isinstance(copy, AimlapiEmbeddings) else copy.get_query_embedding
    assert len(query("hello")) == 1536
    # The original keeps its own key.
    first = original.embed_query if field == "aimlapi_api_key" else original.get_query_embedding
    with pytest.raises(AuthenticationError):
        first("hello")


def test_langchain_key_by_any_name_is_a_secret_and_bytes_are_refused(api: Emulator) -> None:
    """api_key (the alias) set by assignment or model_copy sets the key field, as a secret
    (it said 'object has no field "api_key"'); bytes are refused, not kept to be printed."""
    original = AimlapiEmbeddings(api_key=OLD_KEY, base_url="https://elsewhere.example/v1")
    copy = original.model_copy(update={"api_key": NEW_KEY, "aimlapi_api_base": api.base_url})
    assert isinstance(copy.aimlapi_api_key, SecretStr)
    assert copy.base_url == api.base_url
    assert NEW_KEY not in repr(copy)
    assert len(copy.embed_query("hello")) == 1536  # the new key, at the new address
    original.api_key = NEW_KEY
    assert isinstance(original.aimlapi_api_key, SecretStr)
    with pytest.raises(TypeError, match="must be a str or a SecretStr, not bytes") as info:
        original.aimlapi_api_key = NEW_KEY.encode()  # type: ignore[assignment]
    assert NEW_KEY not in str(info.value)
    assert NEW_KEY not in repr(original)


def test_llama_index_model_copy_keeps_settings_and_the_planned_batch_size(api: Emulator) -> None:
    original = AimlapiEmbedding(api_key=NEW_KEY, api_base=api.base_url, dimensions=64)
    copy = original.model_copy(update={"max_retries": 1})
    assert (copy.dimensions, copy.max_retries, copy.base_url) == (64, 1, api.base_url)
    assert copy.to_dict()["embed_batch_size"] is None
    assert len(copy.get_query_embedding("hello")) == 64


@pytest.mark.parametrize("name", ["api_base", "base_url"])
def test_llama_index_model_copy_takes_a_field_under_either_name(api: Emulator, name: str) -> None:
    """api_base is base_url's alias: a copy updated under it takes the new value (it said
    "pass base_url= or api_base=, not both", the old value still in the fields)."""
    original = AimlapiEmbedding(api_key=NEW_KEY, api_base="https://elsewhere.example/v1")
    copy = original.model_copy(update={name: api.base_url})
    assert copy.base_url == api.base_url
    assert len(copy.get_query_embedding("hello")) == 1536


def test_llama_index_key_from_dict_is_a_secret(api: Emulator) -> None:
    saved = AimlapiEmbedding(api_key=NEW_KEY, api_base=api.base_url).to_dict()
    restored = AimlapiEmbedding.from_dict({**saved, "api_key": NEW_KEY})
    assert_not_shown(restored, NEW_KEY)
    assert len(restored.get_query_embedding("hello")) == 1536


@pytest.mark.parametrize(
    "header",
    [
        "X-Api-Key",
        "X-Proxy-Token",
        "Cookie",
        "X-Client-Secret",
        "X-Passcode",
        "X-Pwd",
        "X-Goog-Iap-Jwt-Assertion",
        "X-Session",
        "X-Sid",
        "X-Api-Sig",
        "X-Hmac",
        "X-Csrf",
    ],
)
@pytest.mark.parametrize("kind", ["langchain", "llama-index"])
def test_credential_headers_are_sent_but_never_serialised(
    api: Emulator, kind: str, header: str
) -> None:
    headers = {header: HEADER_TOKEN, "X-Team": "search"}
    if kind == "langchain":
        target: Any = AimlapiEmbeddings(
            api_key=NEW_KEY, base_url=api.base_url, default_headers=headers
        )
        target.embed_query("hello")
    else:
        target = AimlapiEmbedding(api_key=NEW_KEY, api_base=api.base_url, default_headers=headers)
        target.get_query_embedding("hello")
    assert_not_shown(target, HEADER_TOKEN)
    assert "X-Team" in (dumps(target) if kind == "langchain" else target.to_json())
    assert target.default_headers[header] == HEADER_TOKEN  # the live object still sends it


def unclosed_socket_warnings(make_and_use: Callable[[], None]) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        make_and_use()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


@pytest.mark.parametrize("kind", ["core", "langchain", "llama-index"])
def test_an_object_dropped_without_close_closes_its_sockets(api: Emulator, kind: str) -> None:
    def make_and_use() -> None:
        if kind == "core":
            EmbeddingsClient(api_key=NEW_KEY, base_url=api.base_url).embed(["a", "b"])
        elif kind == "langchain":
            AimlapiEmbeddings(api_key=NEW_KEY, base_url=api.base_url).embed_documents(["a"])
        else:
            AimlapiEmbedding(api_key=NEW_KEY, api_base=api.base_url).get_text_embedding("a")

    gc.collect()
    assert unclosed_socket_warnings(make_and_use) == []


_DROPPED_IN_A_CYCLE = """
import asyncio, gc, sys
url, key, kind = sys.argv[1:4]
class Holder:
    pass
holder = Holder()
holder.me = holder
if kind == "core":
    from aimlapi_embeddings import EmbeddingsClient
    holder.client = EmbeddingsClient(api_key=key, base_url=url)
    holder.client.embed(["a"])
elif kind == "langchain":
    from langchain_aimlapi import AimlapiEmbeddings
    holder.client = AimlapiEmbeddings(api_key=key, base_url=url)
    holder.client.embed_documents(["a"])
else:
    from llama_index_aimlapi import AimlapiEmbedding
    holder.client = AimlapiEmbedding(api_key=key, api_base=url)
    holder.client.get_text_embedding("a")
del holder
gc.collect()
print("collected")
"""


@pytest.mark.parametrize("kind", ["core", "langchain", "llama-index"])
def test_an_object_dropped_in_a_reference_cycle_closes_its_sockets_first(
    api: Emulator, kind: str
) -> None:
    """A user object that refers to itself holds the client: the cyclic collector frees both,
    and finalizes what it frees in no set order, so a __del__ of the client could run after
    the sockets' own finalizers had warned. In a fresh process (the collector's order depends
    on what was imported: asyncio here), with ResourceWarning an error."""
    strict = ["-X", "dev", "-W", "error::ResourceWarning"]
    child = subprocess.run(
        [sys.executable, *strict, "-c", _DROPPED_IN_A_CYCLE, api.base_url, NEW_KEY, kind],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.stdout.strip() == "collected", child.stderr[-1000:]
    assert "ResourceWarning" not in child.stderr, child.stderr[-1000:]


@pytest.mark.parametrize("key", ["r", "sk", "emu-key"])
def test_a_key_too_short_to_be_real_is_refused_where_it_is_given(key: str) -> None:
    message = Secret(key).problem()
    assert message is not None
    assert f"{len(key)} character(s) long" in message
    for make in (
        lambda: EmbeddingsClient(api_key=key),
        lambda: AimlapiEmbeddings(api_key=key),
        lambda: AimlapiEmbedding(api_key=key),
    ):
        with pytest.raises(ValueError, match="character\\(s\\) long") as caught:
            make()
        assert repr(key) not in str(caught.value)


@pytest.mark.parametrize(
    ("make", "update"),
    [
        (langchain_with_old_key, {"aimlapi_api_key": NEW_KEY, "no_such_field": 1}),
        (llama_with_old_key, {"api_key": NEW_KEY, "dimensions": 99_999}),
    ],
    ids=["langchain", "llama-index"],
)
def test_a_failed_model_copy_leaves_the_key_in_no_traceback_local(
    api: Emulator, make: Callable[[Emulator], Any], update: dict[str, Any]
) -> None:
    original = make(api)
    with pytest.raises(ValueError, match=r"no_such_field|dimensions") as caught:
        original.model_copy(update=update)
    error = caught.value
    # From the library's frames on: this test's own frame holds `update` as its argument.
    library = error.__traceback__.tb_next if error.__traceback__ else None
    shown = traceback.TracebackException(type(error), error, library, capture_locals=True)
    assert NEW_KEY not in "".join(shown.format())


def test_a_header_whose_value_says_credential_is_not_serialised(api: Emulator) -> None:
    """ "X-Upstream: Bearer <token>": the name says nothing, the value does. Headers that say
    nothing of the kind (X-Title, X-Design, X-Consider) are kept."""
    headers = {"X-Upstream": f"Bearer {HEADER_TOKEN}", "X-Design": "v2", "X-Consider": "yes"}
    embeddings = AimlapiEmbeddings(api_key=NEW_KEY, base_url=api.base_url, default_headers=headers)
    dumped = dumps(embeddings)
    assert HEADER_TOKEN not in dumped
    assert HEADER_TOKEN not in repr(embeddings)
    assert '"X-Design": "v2"' in dumped
    assert '"X-Consider": "yes"' in dumped
