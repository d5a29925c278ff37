"""The key: in no repr, str, serialised form, exception or log line; never sent in clear text
off this machine unless the user opts in; never carried along by a redirect.
"""

from __future__ import annotations

import json
import logging
import socket
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core._api.beta_decorator import LangChainBetaWarning
from langchain_core.load import dumpd, dumps

from aimlapi_embeddings import (
    AimlapiError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    EmbeddingsClient,
    InternalServerError,
    ResponseError,
)
from aimlapi_embeddings.testing import Emulator

from .conftest import (
    MODEL,
    ROUTES,
    Closer,
    LocalServer,
    Seen,
    build_target,
    expected,
    make_route,
)

# Distinctive, so that a find is never a coincidence; no substring of it is a common word.
SECRET = "aiml-sk-7Qv3XzP9kLm2Tw8RbN4cYd6"


def leaks(text: str) -> bool:
    return SECRET in text


def exception_texts(error: BaseException) -> dict[str, str]:
    """Every way an exception is commonly shown: message, repr, attributes, full traceback."""
    texts = {
        "str": str(error),
        "repr": repr(error),
        "args": repr(error.args),
        "attributes": repr(vars(error)),
        "traceback": "".join(traceback.format_exception(error)),
    }
    cause = error.__cause__ or error.__context__
    if cause is not None:
        texts["cause"] = f"{cause!s} {cause!r}"
    return texts


def assert_no_key_in_error(error: BaseException, where: str) -> None:
    for form, text in exception_texts(error).items():
        assert not leaks(text), f"{where}: the key appears in the exception's {form}: {text!r}"


# ---- repr, str and serialised forms ------------------------------------------------------------


def serialised_forms(kind: str, target: Any) -> dict[str, str]:
    forms = {"repr": repr(target), "str": str(target), "vars": repr(vars(target))}
    if kind == "core":
        forms["getstate"] = repr(target.__getstate__())
        return forms
    forms["model_dump"] = repr(target.model_dump())
    forms["model_dump json"] = json.dumps(target.model_dump(mode="json"))
    forms["model_dump_json"] = target.model_dump_json()
    forms["private"] = repr(target.__pydantic_private__)
    if kind == "langchain":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LangChainBetaWarning)
            forms["dumpd"] = json.dumps(dumpd(target))
            forms["dumps"] = dumps(target)
            forms["dumps pretty"] = dumps(target, pretty=True)
        forms["to_json"] = repr(target.to_json())
    else:
        forms["to_dict"] = json.dumps(target.to_dict())
        forms["to_json"] = target.to_json()
        forms["to_payload"] = repr(target.to_payload())
    return forms


@pytest.mark.parametrize("kind", ["core", "langchain", "llama"])
def test_the_key_is_in_no_repr_str_or_serialised_form(
    kind: str, api: Emulator, closing: Closer
) -> None:
    with Emulator(api_key=SECRET) as keyed:
        target = build_target(kind, keyed, closing)
        before = serialised_forms(kind, target)
        route = make_route(f"{kind}-sync", keyed, closing)
        route.embed(["one text"])  # pools and settings built by a call must not show it either
        after = serialised_forms(kind, route.target)
    for stage, forms in (("new", before), ("after a call", after)):
        for form, text in forms.items():
            assert text, f"{kind} {stage}: {form} is empty; the check would prove nothing"
            assert not leaks(text), f"{kind} {stage}: the key appears in {form}: {text[:300]!r}"


def test_langchain_dumps_names_the_variable_not_the_key(closing: Closer) -> None:
    with Emulator(api_key=SECRET) as keyed:
        target = build_target("langchain", keyed, closing)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LangChainBetaWarning)
            dumped = dumpd(target)
    secret = dumped["kwargs"].get("aimlapi_api_key") or dumped["kwargs"].get("api_key")
    assert secret == {"lc": 1, "type": "secret", "id": ["AIMLAPI_API_KEY"]}, (
        f"the key field is dumped as {secret!r}, not as a reference to AIMLAPI_API_KEY"
    )


# ---- exceptions -------------------------------------------------------------------------------

ERROR_CASES = ["401-wrong-key", "500-spent-retries", "connection-refused", "timeout"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("case", ERROR_CASES)
@pytest.mark.parametrize("route_name", ROUTES)
def test_the_key_is_in_no_exception(route_name: str, case: str, closing: Closer) -> None:
    options: dict[str, Any] = {"api_key": SECRET, "max_retries": 0, "timeout": 0.3}
    faults: dict[str, Any] = {}
    server_key = SECRET
    if case == "401-wrong-key":
        server_key = "the-servers-own-key"
    elif case == "500-spent-retries":
        faults = {"error_rate": 1.0}
        options["max_retries"] = 1
    elif case == "timeout":
        faults = {"hang_rate": 1.0, "hang_seconds": 5.0}
    expected_type = {
        "401-wrong-key": AuthenticationError,
        "500-spent-retries": InternalServerError,
        "connection-refused": APIConnectionError,
        "timeout": APITimeoutError,
    }[case]
    with Emulator(api_key=server_key, **faults) as api:
        if case == "connection-refused":
            options["base_url"] = f"http://127.0.0.1:{closed_port()}/v1"
        route = make_route(route_name, api, closing, **options)
        with pytest.raises(AimlapiError) as info:
            route.embed(["a text"])
    assert isinstance(info.value, expected_type), (
        f"{route_name}: {case} raised {type(info.value).__name__}: {info.value}"
    )
    assert_no_key_in_error(info.value, f"{route_name} {case}")


def echo_server(status: int, content_type: str = "application/json") -> LocalServer:
    """A server that quotes the request's headers back, as some proxies and debug servers do."""

    def answer(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        quoted = f"you sent Authorization: {seen.headers.get('Authorization')}"
        if content_type == "application/json":
            body = json.dumps({"message": quoted, "statusCode": status, "requestId": "r-1"})
        else:
            body = f"{quoted}\n<html>not an API answer</html>"
        return status, {"content-type": content_type}, body.encode()

    return LocalServer(answer)


@pytest.mark.parametrize(
    ("status", "content_type", "error_type"),
    [
        (400, "application/json", BadRequestError),
        (401, "application/json", AuthenticationError),
        (503, "application/json", InternalServerError),
        (502, "text/html", InternalServerError),
        (200, "text/plain", ResponseError),
        (200, "text/html", ResponseError),
    ],
)
@pytest.mark.parametrize("route_name", ["core-sync", "core-async"])
def test_a_key_echoed_back_by_the_server_is_cut_from_the_error_and_the_logs(
    route_name: str,
    status: int,
    content_type: str,
    error_type: type[AimlapiError],
    closing: Closer,
    caplog: pytest.LogCaptureFixture,
    fast_backoff: None,
) -> None:
    caplog.set_level(logging.DEBUG)
    with echo_server(status, content_type) as server:
        route = make_route(
            route_name, None, closing, api_key=SECRET, base_url=server.base_url, max_retries=1
        )
        with pytest.raises(AimlapiError) as info:
            route.embed(["a text"])
    assert server.seen, "the echo server got no request; nothing was tested"
    assert isinstance(info.value, error_type), f"{type(info.value).__name__}: {info.value}"
    found = [
        f"exception {form}" for form, text in exception_texts(info.value).items() if leaks(text)
    ]
    found += [f"log line of {r.name}" for r in caplog.records if leaks(r.getMessage())]
    assert not found, (
        f"{route_name}: a {status} {content_type} answer quoting the key put it in: "
        f"{', '.join(found)}; e.g. {str(info.value)[:200]!r}"
    )


# ---- logs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("route_name", ROUTES)
def test_the_key_is_in_no_log_line_at_debug_level(
    route_name: str, closing: Closer, caplog: pytest.LogCaptureFixture, fast_backoff: None
) -> None:
    """Every logger (the package's, httpx, httpcore, the emulator's) at DEBUG, through a call
    that retries a 500, a drop and an HTML page, then a 401 and a timeout."""
    caplog.set_level(logging.DEBUG)
    with Emulator(api_key=SECRET, hang_seconds=5.0) as api:
        route = make_route(route_name, api, closing, max_retries=3, timeout=0.3)
        api.fail_next(500)
        api.fail_next("drop")
        api.fail_next("html")
        assert route.embed(["logged text"]) == [expected("logged text")]
        api.fail_next("hang", count=4)
        with pytest.raises(APITimeoutError) as timed_out:
            route.embed(["never answered"])
        wrong = make_route(route_name, api, closing, api_key=SECRET + "-wrong")
        with pytest.raises(AuthenticationError) as refused:
            wrong.embed(["refused"])
    loggers = {record.name.split(".")[0] for record in caplog.records}
    assert {"aimlapi_embeddings", "httpx", "httpcore"} <= loggers, (
        f"only {sorted(loggers)} logged: the capture is not seeing every logger"
    )
    assert any("retrying" in record.getMessage() for record in caplog.records), (
        "no retry was logged; the faults were not exercised"
    )
    for record in caplog.records:
        for text in (record.getMessage(), repr(record.args), str(record.msg)):
            assert not leaks(text), f"{record.name} logged the key: {text[:300]!r}"
    assert not leaks(caplog.text), "the formatted log output carries the key"
    assert_no_key_in_error(timed_out.value, route_name)
    assert_no_key_in_error(refused.value, route_name)


# ---- plain http -------------------------------------------------------------------------------

REFUSED_URLS = [
    "http://example.com/v1",
    "http://api.aimlapi.com/v1",
    "http://10.0.0.5:8080/v1",
    "http://192.168.1.20/v1",
    "http://localhost.example.com/v1",
    "http://127.0.0.1.nip.io/v1",
    "http://[2001:db8::1]:8080/v1",
]
ALLOWED_URLS = [
    "https://example.com/v1",
    "http://127.0.0.1:8080/v1",
    "http://127.0.0.2:8080/v1",
    "http://localhost:8080/v1",
    "http://[::1]:8080/v1",
]
KINDS = ["core", "langchain", "llama"]


@pytest.mark.parametrize("url", REFUSED_URLS)
@pytest.mark.parametrize("kind", KINDS)
def test_plain_http_off_this_machine_is_refused(kind: str, url: str, closing: Closer) -> None:
    with pytest.raises(ValueError, match="http") as info:
        build_target(kind, None, closing, api_key=SECRET, base_url=url)
    assert "allow_insecure_http" in str(info.value), (
        f"{kind}: the refusal does not say how to opt in: {info.value}"
    )
    assert_no_key_in_error(info.value, f"{kind} refusing {url}")


@pytest.mark.parametrize("kind", KINDS)
def test_plain_http_from_the_environment_is_refused_too(
    kind: str, closing: Closer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIMLAPI_API_KEY", SECRET)
    for name in ("AIMLAPI_BASE_URL", "AIMLAPI_API_BASE"):
        monkeypatch.setenv(name, "http://example.com/v1")
        with pytest.raises(ValueError, match="http") as info:
            build_target(kind, None, closing)
        assert_no_key_in_error(info.value, f"{kind} refusing {name}")
        monkeypatch.delenv(name)


@pytest.mark.parametrize("url", REFUSED_URLS[:3])
@pytest.mark.parametrize("kind", KINDS)
def test_plain_http_off_this_machine_is_allowed_when_opted_in(
    kind: str, url: str, closing: Closer
) -> None:
    """Opting in builds the object; nothing connects (the loopback guard would fail the test)."""
    target = build_target(
        kind, None, closing, api_key=SECRET, base_url=url, allow_insecure_http=True
    )
    assert target is not None


@pytest.mark.parametrize("url", ALLOWED_URLS)
@pytest.mark.parametrize("kind", KINDS)
def test_https_and_loopback_http_need_no_opt_in(kind: str, url: str, closing: Closer) -> None:
    assert build_target(kind, None, closing, api_key=SECRET, base_url=url) is not None


# ---- redirects --------------------------------------------------------------------------------


@pytest.fixture
def elsewhere() -> Iterator[LocalServer]:
    """The server a redirect points to: it must never hear from the client."""
    with LocalServer(lambda seen: (200, {"content-type": "application/json"}, b"{}")) as server:
        yield server


def redirecting(status: int, location: Callable[[], str]) -> LocalServer:
    return LocalServer(lambda seen: (status, {"location": location()}, b""))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("route_name", ROUTES)
def test_redirects_are_not_followed_and_the_key_goes_nowhere_else(
    route_name: str, status: int, elsewhere: LocalServer, closing: Closer
) -> None:
    with redirecting(status, lambda: f"{elsewhere.base_url}/embeddings") as first:
        route = make_route(
            route_name, None, closing, api_key=SECRET, base_url=first.base_url, max_retries=2
        )
        with pytest.raises(APIStatusError) as info:
            route.embed(["a text"])
    assert elsewhere.seen == [], (
        f"{route_name}: a {status} was followed: the other server got "
        f"{len(elsewhere.seen)} request(s), the key among the headers"
    )
    assert len(first.seen) == 1, f"{route_name}: a {status} was retried {len(first.seen)} times"
    assert info.value.status_code == status, f"{route_name}: {info.value}"
    assert_no_key_in_error(info.value, f"{route_name} {status}")


def test_a_redirect_off_this_machine_is_not_followed(closing: Closer) -> None:
    """The loopback guard fails any connection off 127.0.0.1: following would fail loudly."""
    with redirecting(307, lambda: "https://attacker.example/steal") as first:
        client = closing(EmbeddingsClient(api_key=SECRET, base_url=first.base_url, max_retries=0))
        with pytest.raises(APIStatusError) as info:
            client.embed(["a text"], model=MODEL)
    assert info.value.status_code == 307
    assert len(first.seen) == 1
