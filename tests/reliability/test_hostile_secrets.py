"""The key against hostile servers: echoed back in any encoding and in any part of an answer, it
appears in no error (message, attributes, cause, traceback with locals) and no log line; it goes
to no proxy; a key that cannot be sent is refused at construction without being repeated.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import traceback
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import vector_for
from hostile import Connection, HostileServer, Request, answer_embeddings

from aimlapi_embeddings import (
    AimlapiError,
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    EmbeddingsClient,
    InternalServerError,
    PermissionDeniedError,
    ResponseError,
)

from .conftest import DIMS, ROUTES, Closer, build_target, make_route
from .test_secrets import exception_texts

# Distinctive; with "/" and "+" so that JSON and URL escaping change it.
KEY = "aiml-sk/7Qv3+XzP9kLm2Tw8RbN4cYd6"

# How a server may quote a string back.
FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda key: key,
    "json \\/": lambda key: key.replace("/", "\\/"),
    "json \\u00xx": lambda key: "".join(f"\\u{ord(c):04x}" for c in key),
    "json \\u00XX": lambda key: "".join(f"\\u{ord(c):04X}" for c in key),
    "url-quoted": lambda key: urllib.parse.quote(key, safe=""),
    "percent-encoded": lambda key: "".join(f"%{ord(c):02x}" for c in key),
    "html entities": lambda key: "".join(f"&#{ord(c)};" for c in key),
    "base64 header": lambda key: base64.b64encode(f"Bearer {key}".encode()).decode(),
}
TESTS_DIR = str(Path(__file__).resolve().parent.parent)


def leak_in(text: str) -> str | None:
    """The form in which `text` shows the key or any 8 characters of it; None if it does not."""
    for name, encode in FORMS.items():
        if name.startswith("base64"):
            if encode(KEY)[8:] in text:
                return name
            continue
        for start in range(len(KEY) - 7):
            if encode(KEY[start : start + 8]) in text:
                return f"{name} (from character {start})"
    return None


def locals_of_package_frames(error: BaseException) -> Iterator[tuple[str, str]]:
    """(where, repr) of every local of every frame outside the tests, in the whole chain, as
    tracebacks that print locals show them (pytest --showlocals, Sentry, rich)."""
    rendered: traceback.TracebackException | None = traceback.TracebackException.from_exception(
        error, capture_locals=True
    )
    while rendered is not None:
        for frame in rendered.stack:
            if frame.filename.startswith(TESTS_DIR):
                continue
            for name, value in (frame.locals or {}).items():
                yield f"{frame.filename}:{frame.lineno} {frame.name}() {name}", value
        rendered = rendered.__cause__ or rendered.__context__


def assert_no_leak(error: BaseException, where: str) -> None:
    texts = exception_texts(error)
    texts.update(locals_of_package_frames(error))
    for form, text in texts.items():
        found = leak_in(text)
        assert found is None, f"{where}: the key ({found}) is in the exception's {form}: {text!r}"


def assert_no_leak_in_logs(caplog: pytest.LogCaptureFixture, where: str) -> None:
    for record in caplog.records:
        found = leak_in(record.getMessage())
        assert found is None, f"{where}: {record.name} logged the key ({found})"


def echoed_key(request: Request, form: str) -> str:
    return FORMS[form](request.headers["authorization"].removeprefix("Bearer "))


JSON = {"content-type": "application/json"}

# Where an answer quotes the key: place -> (answer it, the error expected)
PLACES: dict[str, tuple[Callable[[Connection, str], None], type[AimlapiError]]] = {
    "message of a 401": (
        lambda c, e: c.answer(
            401, f'{{"message": "invalid key {e}", "statusCode": 401}}'.encode(), headers=JSON
        ),
        AuthenticationError,
    ),
    "requestId of a 400": (
        lambda c, e: c.answer(400, f'{{"message": "no", "requestId": "{e}"}}'.encode()),
        BadRequestError,
    ),
    "x-request-id of a 503": (
        lambda c, e: c.answer(503, b'{"message": "down"}', headers={"x-request-id": e}),
        InternalServerError,
    ),
    "reason phrase of a 403": (
        lambda c, e: c.answer(403, b'{"message": "no"}', reason=f"Forbidden {e}"),
        PermissionDeniedError,
    ),
    "nested in a 400's body": (
        lambda c, e: c.answer(400, f'{{"message": "no", "seen": {{"auth": ["{e}"]}}}}'.encode()),
        BadRequestError,
    ),
    "a 502 page, across the cut": (
        lambda c, e: c.answer(502, ("x" * 290 + e + "y" * 40).encode()),
        InternalServerError,
    ),
    "error of a 200": (
        lambda c, e: c.answer(200, f'{{"error": {{"message": "quota of {e}"}}}}'.encode()),
        ResponseError,
    ),
    "index of a 200": (
        lambda c, e: c.answer(200, f'{{"data": [{{"index": "{e}", "embedding": [1]}}]}}'.encode()),
        ResponseError,
    ),
    "a 200 that is not JSON": (
        lambda c, e: c.answer(200, f"<html>{e}</html>".encode()),
        ResponseError,
    ),
}
CASES = [(place, form) for place in PLACES for form in FORMS]
CASES_ASYNC = [(place, form) for place in PLACES for form in ("raw", "json \\u00xx")]


def echo_server(place: str, form: str) -> HostileServer:
    respond, _ = PLACES[place]
    return HostileServer(lambda request, c: respond(c, echoed_key(request, form)))


def run(shell: str, client: EmbeddingsClient) -> None:
    if shell == "sync":
        client.embed(["a text"], dimensions=8)
    else:
        asyncio.run(client.aembed(["a text"], dimensions=8))


@pytest.mark.parametrize(
    ("shell", "place", "form"),
    [("sync", *case) for case in CASES] + [("async", *case) for case in CASES_ASYNC],
)
def test_a_key_echoed_in_any_form_anywhere_is_in_no_error_and_no_log(
    shell: str, place: str, form: str, caplog: pytest.LogCaptureFixture, fast_backoff: None
) -> None:
    caplog.set_level(logging.DEBUG)
    with echo_server(place, form) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, max_retries=1)
        with pytest.raises(AimlapiError) as info:
            run(shell, client)
        client.close()
    assert server.requests, "the server got no request; nothing was tested"
    assert isinstance(info.value, PLACES[place][1]), f"{type(info.value).__name__}: {info.value}"
    assert_no_leak(info.value, f"{shell}, {form} in the {place}")
    assert_no_leak_in_logs(caplog, f"{shell}, {form} in the {place}")


def test_what_the_server_said_survives_redaction() -> None:
    """Redaction cuts the key, not the message around it."""
    with echo_server("message of a 401", "json \\/") as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, max_retries=0)
        with pytest.raises(AuthenticationError, match=r"401 OK: invalid key \*\*\*$"):
            client.embed(["a text"])
        client.close()


# ---- tracebacks that print local variables ------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def echo_500(request: Request, connection: Connection) -> None:
    header = request.headers["authorization"]
    connection.answer(500, f'{{"message": "you sent {header}"}}'.encode())


def echo_in_a_200(request: Request, connection: Connection) -> None:
    """As many vectors as texts, each the header: the parser gets as far as decoding them."""
    header = request.headers["authorization"]
    data = [{"index": index, "embedding": header} for index in range(len(request.texts))]
    connection.answer(200, json.dumps({"data": data}).encode())


def echo_in_false_gzip(request: Request, connection: Connection) -> None:
    header = request.headers["authorization"]
    connection.answer(200, f"not gzip: {header}".encode(), headers={"content-encoding": "gzip"})


LOCALS_CASES: dict[str, Callable[[Request, Connection], None] | None] = {
    "500 echoing the header": echo_500,
    "200 echoing the header as vectors": echo_in_a_200,
    "200 echoing the header in false gzip": echo_in_false_gzip,
    "connection refused": None,
}


@pytest.mark.parametrize("case", LOCALS_CASES)
@pytest.mark.parametrize("route_name", ROUTES)
def test_no_frame_of_an_error_holds_the_key_in_a_local_variable(
    route_name: str, case: str, closing: Closer
) -> None:
    handler = LOCALS_CASES[case]
    with HostileServer(handler or answer_embeddings) as server:
        base_url = server.base_url if handler else f"http://127.0.0.1:{closed_port()}/v1"
        route = make_route(route_name, None, closing, api_key=KEY, base_url=base_url, max_retries=0)
        with pytest.raises(AimlapiError) as info:
            route.embed(["a text", "another"])
    assert_no_leak(info.value, f"{route_name}, {case}")


@pytest.mark.parametrize("kind", ["core", "langchain", "llama"])
def test_no_frame_of_a_construction_error_holds_the_key(kind: str, closing: Closer) -> None:
    with pytest.raises(ValueError, match="http") as info:
        build_target(kind, None, closing, api_key=KEY, base_url="http://example.com/v1")
    assert_no_leak(info.value, f"{kind}: plain http refused")


# ---- keys that cannot be sent --------------------------------------------------------------------

BAD_KEYS = {
    "a line break inside": "aiml-sk-1234\n5678abcd",
    "typographic quotes": "\u201caiml-sk-12345678abcd\u201d",
    "straight quotes": '"aiml-sk-12345678abcd"',
    "a space inside": "aiml-sk-1234 5678abcd",
    "a control character": "aiml-sk-1234\x005678abcd",
    "a non-ASCII letter": "aiml-sk-12345678abcdé",
}


@pytest.mark.parametrize("bad", BAD_KEYS)
@pytest.mark.parametrize("kind", ["core", "langchain", "llama"])
def test_a_key_that_cannot_be_sent_is_refused_at_construction_without_repeating_it(
    kind: str, bad: str, closing: Closer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = BAD_KEYS[bad]
    # The environment cannot hold a NUL.
    for given in ("argument", "environment") if "\x00" not in key else ("argument",):
        options: dict[str, Any] = {"base_url": "https://api.example.test/v1"}
        if given == "argument":
            options["api_key"] = key
        else:
            monkeypatch.setenv("AIMLAPI_API_KEY", key)
        with pytest.raises(ValueError, match="API key") as info:
            build_target(kind, None, closing, **options)
        pieces = [key[start : start + 8] for start in range(len(key) - 7)]
        texts = [str(info.value), repr(info.value), *dict(locals_of_package_frames(info.value))]
        texts += list(dict(locals_of_package_frames(info.value)).values())
        for text in texts:
            assert not any(piece in text for piece in pieces), (
                f"{kind} ({given}): the refused key shows in {text!r}"
            )


# ---- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["authorization", "Authorization", "AUTHORIZATION"])
@pytest.mark.parametrize("kind", ["core", "langchain", "llama"])
def test_an_authorization_header_in_default_headers_is_refused(
    kind: str, name: str, closing: Closer
) -> None:
    with pytest.raises(ValueError, match="api_key"):
        build_target(kind, None, closing, api_key=KEY, default_headers={name: "Bearer other"})


@pytest.mark.parametrize("route_name", ROUTES)
def test_default_headers_merge_ignoring_case_so_each_header_is_sent_once(
    route_name: str, closing: Closer
) -> None:
    headers = {"content-type": "application/json; charset=utf-8", "x-trace": "t-1"}
    with HostileServer() as server:
        route = make_route(
            route_name,
            None,
            closing,
            api_key=KEY,
            base_url=server.base_url,
            default_headers=headers,
        )
        assert route.embed(["a text"]) == [vector_for("a text", DIMS)]
    names = [name for name, _ in server.requests[0].header_lines]
    assert names.count("authorization") == 1
    assert names.count("content-type") == 1, f"{route_name}: sent {names}"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert server.requests[0].headers["content-type"] == headers["content-type"]


# ---- proxies -------------------------------------------------------------------------------------


@pytest.mark.parametrize("route_name", ROUTES)
def test_a_loopback_base_url_never_goes_through_a_proxy_from_the_environment(
    route_name: str, closing: Closer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain http through a proxy would hand it the key in clear text."""
    with HostileServer() as proxy, HostileServer() as server:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        route = make_route(route_name, None, closing, api_key=KEY, base_url=server.base_url)
        assert route.embed(["a text"]) == [vector_for("a text", DIMS)]
    assert proxy.requests == [], f"{route_name}: the proxy got the request, key and all"
    assert len(server.requests) == 1


# ---- connection errors name the host ------------------------------------------------------------


@pytest.mark.parametrize("shell", ["sync", "async"])
def test_a_connection_error_names_the_host_but_not_the_path(shell: str) -> None:
    port = closed_port()
    client = EmbeddingsClient(
        api_key=KEY, base_url=f"http://127.0.0.1:{port}/gateway-token-4711/v1", max_retries=0
    )
    with pytest.raises(APIConnectionError) as info:
        run(shell, client)
    assert f"could not reach 127.0.0.1:{port}: ConnectError" in str(info.value)
    assert "gateway-token-4711" not in str(info.value)
    assert_no_leak(info.value, f"{shell}: connection refused")


def test_an_error_status_keeps_the_servers_request_id_and_status() -> None:
    def answer(request: Request, connection: Connection) -> None:
        connection.answer(400, {"message": "bad input", "requestId": "req-42"})

    with HostileServer(answer) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url)
        with pytest.raises(APIStatusError) as info:
            client.embed(["a text"])
        client.close()
    assert info.value.status_code == 400
    assert info.value.request_id == "req-42"
    assert str(info.value) == "400 OK: bad input [in the request with texts[0]] (request id req-42)"
