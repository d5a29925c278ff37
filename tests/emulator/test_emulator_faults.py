"""The emulator's faults, over loopback HTTP: each one alone, reproducible from a seed, scripted."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aimlapi_embeddings.testing import Emulator, FaultOptions

BODY = {"model": "voyage-2", "input": ["first text", "second text", "third text"]}


@pytest.fixture(autouse=True)
def no_server_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Faults end connections abruptly; the server must take that in its stride, silently."""
    yield
    errors = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert not errors, [record.getMessage() for record in errors]


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    # One client for the module (building one costs 30 ms); auth goes per request.
    with httpx.Client(timeout=5) as client:
        yield client


def auth(api: Emulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.api_key}"}


def post(http: httpx.Client, api: Emulator, body: Any = None, **kwargs: Any) -> httpx.Response:
    return http.post(api.url, json=BODY if body is None else body, headers=auth(api), **kwargs)


def outcome(http: httpx.Client, api: Emulator, body: dict[str, Any], timeout: float) -> str:
    """One request's observable result, as a short string."""
    try:
        response = post(http, api, body, timeout=timeout)
    except httpx.TransportError as exc:
        return type(exc).__name__
    if response.headers["content-type"] != "application/json":
        return f"{response.status_code} {response.headers['content-type']}"
    if response.status_code != 200:
        return str(response.status_code)
    return "200 " + ",".join(str(item["index"]) for item in response.json()["data"])


Run = tuple[list[tuple[int, str | None]], list[str]]


def run(seed: int, requests: int = 25, **faults: Any) -> Run:
    """Sequential requests: what the emulator decided for each, and what the client saw."""
    with Emulator(seed=seed, **faults) as api, httpx.Client() as http:
        seen = [
            outcome(http, api, {"model": "voyage-2", "input": [f"{i}a", f"{i}b", f"{i}c"]}, 0.5)
            for i in range(requests)
        ]
        return [(record.status, record.fault) for record in api.requests], seen


FAULTS: dict[str, FaultOptions] = {
    "error": {"error_rate": 0.3},
    "drop": {"drop_rate": 0.3},
    "html": {"html_rate": 0.3},
    "shuffle": {"shuffle": True},
    "hang": {"hang_rate": 0.1, "hang_seconds": 5.0},
    "all": {
        "error_rate": 0.15,
        "drop_rate": 0.1,
        "html_rate": 0.1,
        "hang_rate": 0.05,
        "hang_seconds": 5.0,
        "shuffle": True,
    },
}


@pytest.mark.parametrize("faults", FAULTS.values(), ids=list(FAULTS))
def test_random_faults_are_reproducible_from_the_seed(faults: FaultOptions) -> None:
    decided, seen = run(seed=7, **faults)
    assert (decided, seen) == run(seed=7, **faults)
    assert (decided, seen) != run(seed=8, **faults)
    faulty = sum(not result.startswith("200 0,1,2") for result in seen)
    assert 0 < faulty < len(seen)


def test_rates_are_roughly_the_shares_asked_for() -> None:
    results = Counter(run(seed=3, requests=200, error_rate=0.25, html_rate=0.2)[1])
    errors = results["500"] + results["502"] + results["503"]
    assert {"500", "502", "503"} <= set(results)
    assert 30 <= errors <= 70
    # HTML is drawn among the requests that escaped an error: 0.75 * 0.2 of them.
    assert 15 <= results["200 text/html"] <= 45


def test_server_errors_use_the_aimlapi_body(http: httpx.Client) -> None:
    with Emulator(error_rate=1.0) as api:
        responses = [post(http, api) for _ in range(30)]
        assert {response.status_code for response in responses} == {500, 502, 503}
        for response in responses:
            body = response.json()
            assert body["statusCode"] == str(response.status_code)
            assert body["requestId"] == response.headers["x-request-id"]
            assert body["path"] == "/v1/embeddings"
        assert {record.fault for record in api.requests} == {"error"}


def test_faults_only_hit_valid_requests(http: httpx.Client) -> None:
    with Emulator(error_rate=1.0, max_concurrent=1, seed=1) as api:
        assert post(http, api, {"model": "voyage-2", "input": [""]}).status_code == 400
        response = http.post(api.url, json=BODY, headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401
        assert [record.fault for record in api.requests] == [None, None]


def test_drop_sends_headers_and_part_of_the_body_then_closes(http: httpx.Client) -> None:
    with Emulator(drop_rate=1.0) as api:
        with pytest.raises(httpx.RemoteProtocolError):
            post(http, api)
        (record,) = api.requests
        assert (record.status, record.fault) == (200, "drop")
        body = json.dumps(BODY).encode()
        request = (
            f"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.api_key}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        received = b""
        with socket.create_connection(("127.0.0.1", api.port), timeout=5) as sock:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                received += chunk
        head, _, partial = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        assert 0 < len(partial) < length


def test_html_answers_are_200_pages(http: httpx.Client) -> None:
    with Emulator(html_rate=1.0) as api:
        response = post(http, api)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html"
        assert response.text.startswith("<!DOCTYPE html>")
        assert response.headers["x-request-id"]
        assert api.requests[0].fault == "html"


def test_shuffle_keeps_each_vector_with_its_index(http: httpx.Client) -> None:
    body = {"model": "voyage-2", "input": [f"text number {i}" for i in range(20)]}
    with Emulator() as plain:
        expected = post(http, plain, body).json()["data"]
    with Emulator(shuffle=True) as api:
        data = post(http, api, body).json()["data"]
        assert [item["index"] for item in data] != list(range(20))
        assert sorted(data, key=lambda item: item["index"]) == expected
        assert api.requests[0].fault == "shuffle"


def test_hang_outlasts_the_client_timeout_and_stop_is_prompt(http: httpx.Client) -> None:
    api = Emulator(hang_rate=1.0, hang_seconds=30.0).start()
    try:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            post(http, api, timeout=0.3)
        assert time.monotonic() - started < 5
        assert api.requests[0].fault == "hang"
        api.configure(hang_rate=0.0)
        assert post(http, api).status_code == 200
        api.fail_next("hang")
        with pytest.raises(httpx.ReadTimeout):
            post(http, api, timeout=0.3)
    finally:
        started = time.monotonic()
        api.stop()
    assert time.monotonic() - started < 5


def test_answers_to_clients_that_gave_up_go_nowhere_quietly(http: httpx.Client) -> None:
    with Emulator(hang_rate=1.0, hang_seconds=0.3) as api:
        for _ in range(3):
            with pytest.raises(httpx.ReadTimeout):
                post(http, api, timeout=0.05)
        time.sleep(0.5)
        api.configure(hang_rate=0.0)
        assert post(http, api).status_code == 200
        assert api.in_flight == 0


def test_records_are_bounded() -> None:
    with Emulator(max_records=3) as api, httpx.Client(headers=auth(api)) as http:
        for text in "abcde":
            http.post(api.url, json={"model": "voyage-2", "input": text})
        assert [record.inputs for record in api.requests] == [["c"], ["d"], ["e"]]


def test_latency_fixed_and_per_input(http: httpx.Client) -> None:
    with Emulator(latency=0.2) as api:
        started = time.monotonic()
        assert post(http, api).status_code == 200
        assert time.monotonic() - started >= 0.2
        api.configure(latency=0.0, latency_per_input=0.1)
        started = time.monotonic()
        assert post(http, api).status_code == 200
        assert time.monotonic() - started >= 0.3
        assert api.faults.latency_per_input == 0.1


def test_latency_per_token_grows_with_the_tokens_counted_for_usage(http: httpx.Client) -> None:
    """A server whose time grows with text, not with inputs: one long input waits longer than
    one short one, by the tokens the answer's usage counts."""
    with Emulator(latency_per_token=0.002) as api:
        waits = []
        for text in ("short", "a much longer text " * 40):
            started = time.monotonic()
            answer = http.post(
                api.url, json={"model": "voyage-2", "input": text}, headers=auth(api)
            )
            waits.append((time.monotonic() - started, answer.json()["usage"]["total_tokens"]))
        assert api.faults.latency_per_token == 0.002
    (short_wait, short_tokens), (long_wait, long_tokens) = waits
    assert long_tokens > 100 > short_tokens
    assert short_wait >= 0.002 * short_tokens
    assert long_wait >= 0.002 * long_tokens


async def test_concurrency_cap_answers_429_at_once() -> None:
    with Emulator(max_concurrent=2, latency=0.5) as api:
        async with httpx.AsyncClient(headers=auth(api), timeout=5) as client:
            started = time.monotonic()
            responses = await asyncio.gather(*(client.post(api.url, json=BODY) for _ in range(5)))
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200, 200, 429, 429, 429]
        limited = [response for response in responses if response.status_code == 429]
        for response in limited:
            assert response.headers["retry-after"] == "1"
            assert response.headers["retry-after-ms"] == "500"
            assert "concurrent" in response.json()["message"]
        assert time.monotonic() - started < 2
        # The two admitted requests overlap each refused one in turn; refusals take no time.
        assert api.peak_concurrency == 3
        assert sorted(str(record.fault) for record in api.requests).count("concurrency") == 3


def test_rate_cap_answers_429_with_the_wait(http: httpx.Client) -> None:
    with Emulator(rate_limit_rps=4) as api:
        # A burst of one second's worth passes; the bucket refills at 4 per second after that.
        responses = [post(http, api) for _ in range(10)]
        assert [response.status_code for response in responses[:4]] == [200] * 4
        limited = next(response for response in responses if response.status_code == 429)
        assert "requests per second" in limited.json()["message"]
        wait_ms = int(limited.headers["retry-after-ms"])
        assert 0 < wait_ms <= 250
        assert limited.headers["retry-after"] == "1"
        time.sleep(wait_ms / 1000 + 0.05)
        assert post(http, api).status_code == 200
        api.configure(retry_after=0.02)
        for _ in range(10):
            response = post(http, api)
            if response.status_code == 429:
                assert response.headers["retry-after-ms"] == "20"
                break
        else:
            pytest.fail("the rate cap never answered 429")


def test_fail_next_scripts_the_next_answers(http: httpx.Client) -> None:
    with Emulator(error_rate=1.0) as api:
        api.fail_next(429, count=3, retry_after=0.1)
        api.fail_next(200)
        for _ in range(3):
            response = post(http, api)
            assert response.status_code == 429
            assert response.headers["retry-after"] == "1"
            assert response.headers["retry-after-ms"] == "100"
        assert post(http, api).status_code == 200
        assert post(http, api).status_code in (500, 502, 503)
        assert [record.fault for record in api.requests] == ["scripted"] * 4 + ["error"]


def test_fail_next_kinds(http: httpx.Client) -> None:
    message = "input[0] is 9000 tokens; this model's maximum context length is 8191 tokens"
    with Emulator(hang_seconds=0.3) as api:
        api.fail_next(400, message=message)
        api.fail_next(503, retry_after=2)
        api.fail_next(429)
        api.fail_next("html")
        api.fail_next("drop")
        api.fail_next("hang")
        first = post(http, api)
        assert (first.status_code, first.json()["message"]) == (400, message)
        second = post(http, api)
        assert second.status_code == 503
        assert second.headers["retry-after-ms"] == "2000"
        third = post(http, api)
        assert third.status_code == 429
        assert "retry-after" not in third.headers
        assert post(http, api).headers["content-type"] == "text/html"
        with pytest.raises(httpx.RemoteProtocolError):
            post(http, api)
        started = time.monotonic()
        assert post(http, api).status_code == 200
        assert time.monotonic() - started >= 0.3
        assert post(http, api).status_code == 200


@pytest.mark.parametrize(
    ("status", "count", "match"),
    [("boom", 1, "scripted fault"), (99, 1, "HTTP status"), (500, -1, "count")],
)
def test_fail_next_refuses_nonsense(status: Any, count: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Emulator().fail_next(status, count=count)


@pytest.mark.parametrize(
    "faults",
    [
        {"error_rate": 1.5},
        {"drop_rate": -0.1},
        {"latency": -1.0},
        {"rate_limit_rps": 0},
        {"max_concurrent": 0},
        {"token_factor": 0.0},
        {"retry_after": -1.0},
    ],
)
def test_fault_settings_are_validated(faults: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(faults))):
        Emulator(**faults)
    with pytest.raises(ValueError, match=next(iter(faults))):
        Emulator().configure(**faults)


def test_configure_and_reset(http: httpx.Client) -> None:
    with Emulator(error_rate=0.5, seed=11) as api:
        before = [post(http, api).status_code for _ in range(20)]
        api.configure(error_rate=0.0)
        assert api.faults.error_rate == 0.0
        assert [post(http, api).status_code for _ in range(5)] == [200] * 5
        api.fail_next(500, count=10)
        api.reset()
        assert api.requests == []
        assert api.faults.error_rate == 0.5
        # The seeded sequence starts over: the same requests meet the same faults.
        assert [post(http, api).status_code for _ in range(20)] == before
