"""EmbeddingsClient end to end over httpx.MockTransport, through both the sync and async shells."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import pickle
import threading
import time
from typing import Any

import httpx
import pytest
from fakes import API_KEY, FakeAPI, drop, error_answer, html, status, vector_for

from aimlapi_embeddings import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    EmbeddingsClient,
    InputTooLongError,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
    _transport,
    get_model_spec,
)
from aimlapi_embeddings._batching import EMPTY_TEXT_STAND_IN, estimate_tokens

from .conftest import Embed

pytestmark = pytest.mark.usefixtures("fast_backoff")


def texts_of(count: int) -> list[str]:
    return [f"document number {i} about topic {i % 7}" for i in range(count)]


def test_vectors_come_back_in_input_order_whatever_the_answer_order(embed: Embed) -> None:
    api = FakeAPI(shuffle=True)
    texts = texts_of(300)
    result = embed(api.client(), texts)
    assert result.vectors == [vector_for(text, 1536) for text in texts]
    assert len(api.requests) > 1, "300 texts should be spread over several requests"


def test_base64_models_are_asked_for_base64_and_decoded(embed: Embed) -> None:
    api = FakeAPI()
    result = embed(api.client(), ["hello"], model="text-embedding-3-large")
    assert api.requests[0]["encoding_format"] == "base64"
    assert result.vectors == [vector_for("hello", 3072)]


def test_float_models_are_not_sent_an_encoding_format(embed: Embed) -> None:
    api = FakeAPI()
    result = embed(api.client(), ["hello"], model="voyage-2")
    assert "encoding_format" not in api.requests[0]
    assert result.vectors == [vector_for("hello", 1024)]


def test_usage_is_summed_over_requests(embed: Embed) -> None:
    api = FakeAPI()
    result = embed(api.client(), texts_of(500), batch_size=100)
    assert len(api.requests) == 5
    assert result.usage.prompt_tokens == 500
    assert result.usage.total_tokens == 500
    assert result.usage.credits is None


def test_empty_and_whitespace_texts_get_a_vector_in_their_place(embed: Embed) -> None:
    api = FakeAPI()
    texts = ["alpha", "", "   ", "beta", "\n\t"]
    result = embed(api.client(), texts)
    stand_in = vector_for(EMPTY_TEXT_STAND_IN, 1536)
    assert result.vectors == [
        vector_for("alpha", 1536),
        stand_in,
        stand_in,
        vector_for("beta", 1536),
        stand_in,
    ]
    sent = [text for body in api.requests for text in body["input"]]
    assert sent.count(EMPTY_TEXT_STAND_IN) == 1, "the stand-in is sent once per call"
    assert "" not in sent
    result.vectors[1][0] = 99.0
    assert result.vectors[2][0] != 99.0, "rows must not share one list"


def test_no_texts_sends_no_request(embed: Embed) -> None:
    api = FakeAPI()
    assert embed(api.client(), []).vectors == []
    assert api.requests == []


def test_dimensions_are_sent_only_when_set_and_shape_the_width(embed: Embed) -> None:
    api = FakeAPI()
    result = embed(api.client(), ["x"], dimensions=256)
    assert api.requests[0]["dimensions"] == 256
    assert len(result.vectors[0]) == 256
    embed(api.client(), ["x"])
    assert "dimensions" not in api.requests[1]


@pytest.mark.parametrize(
    ("model", "dimensions"),
    [
        ("text-embedding-ada-002", 512),
        ("voyage-2", 256),
        ("text-embedding-3-small", 4096),
        ("alibaba/qwen-text-embedding-v3", 32),
        ("text-embedding-3-small", 0),
    ],
)
def test_bad_dimensions_fail_before_any_request(embed: Embed, model: str, dimensions: int) -> None:
    api = FakeAPI()
    with pytest.raises(ValueError, match="dimensions"):
        embed(api.client(), ["x"], model=model, dimensions=dimensions)
    assert api.requests == []


def test_query_and_document_input_types_follow_the_model(embed: Embed) -> None:
    api = FakeAPI()
    client = api.client()
    embed(client, ["q"], model="text-multilingual-embedding-002", input_type="query")
    embed(client, ["d"], model="text-multilingual-embedding-002")
    embed(client, ["d"], model="voyage-law-2")
    embed(client, ["q"], model="voyage-law-2", input_type="query")
    embed(client, ["q"], model="text-embedding-3-small", input_type="query")
    assert api.requests[0]["task_type"] == "RETRIEVAL_QUERY"
    assert api.requests[1]["task_type"] == "RETRIEVAL_DOCUMENT"
    assert api.requests[2]["input_type"] == "document"
    assert "input_type" not in api.requests[3]
    assert {"input_type", "task_type"}.isdisjoint(api.requests[4])


def test_single_input_models_get_one_string_per_request(embed: Embed) -> None:
    api = FakeAPI()
    with pytest.warns(UserWarning, match="removed"):
        result = embed(
            api.client(), ["a", "b", "c"], model="togethercomputer/m2-bert-80M-8k-retrieval"
        )
    assert [body["input"] for body in api.requests] == ["a", "b", "c"]
    assert result.vectors == [vector_for(t, 768) for t in "abc"]


def test_model_limits_bound_every_request(embed: Embed) -> None:
    api = FakeAPI()
    embed(api.client(max_concurrency=2), texts_of(95), model="alibaba/qwen-text-embedding-v4")
    assert max(len(body["input"]) for body in api.requests) <= 10
    assert sum(len(body["input"]) for body in api.requests) == 95


def test_large_calls_keep_every_concurrent_request_busy(embed: Embed) -> None:
    api = FakeAPI()
    texts = texts_of(4000)
    embed(api.client(max_concurrency=8), texts)
    assert len(api.requests) == 8, "one request per slot"
    assert sorted(text for body in api.requests for text in body["input"]) == sorted(texts)
    # Of equal cost in estimated tokens, to within one text: no slot is left to finish alone.
    costs = [sum(map(estimate_tokens, body["input"])) for body in api.requests]
    assert max(costs) - min(costs) <= max(map(estimate_tokens, texts))


def test_requests_run_in_parallel_up_to_max_concurrency(embed: Embed) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def slow(request: httpx.Request) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)  # the async shell runs handlers in the loop: sleep blocks, so see below
        with lock:
            active -= 1
        return None

    api = FakeAPI(faults=[slow] * 12)
    embed(api.client(max_concurrency=4), texts_of(12 * 32), batch_size=32)
    assert len(api.requests) == 12
    assert peak <= 4


@pytest.mark.parametrize(
    "fault",
    [
        status(500),
        status(502),
        status(503),
        status(429, "slow down", **{"retry-after-ms": "1"}),
        status(408),
        status(409),
        drop,
        html,
    ],
    ids=["500", "502", "503", "429", "408", "409", "dropped", "html-200"],
)
def test_transient_failures_are_retried_to_the_same_answer(embed: Embed, fault: Any) -> None:
    texts = texts_of(200)
    expected = embed(FakeAPI().client(), texts).vectors
    api = FakeAPI(faults=[fault, fault])
    assert embed(api.client(), texts).vectors == expected
    assert len(api.requests) > 2


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
    ],
)
def test_client_errors_are_never_retried(embed: Embed, code: int, error_type: type) -> None:
    api = FakeAPI(faults=[status(code, "you did something wrong")])
    with pytest.raises(error_type) as caught:
        embed(api.client(max_retries=5), ["x"])
    assert len(api.requests) == 1
    assert caught.value.status_code == code
    assert "you did something wrong" in str(caught.value)
    assert "req-123" in str(caught.value)


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        (status(500), InternalServerError),
        (status(429, **{"retry-after": "0"}), RateLimitError),
        (drop, APIConnectionError),
        (html, ResponseError),
    ],
)
def test_spent_retries_raise_the_typed_error(embed: Embed, fault: Any, error_type: type) -> None:
    api = FakeAPI(faults=[fault] * 3)
    with pytest.raises(error_type):
        embed(api.client(max_retries=2), ["x"])
    assert len(api.requests) == 3


def test_timeouts_are_retried_then_raised_as_api_timeout(embed: Embed) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    api = FakeAPI(faults=[timeout] * 2)
    assert embed(api.client(max_retries=2), ["x"]).vectors == [vector_for("x", 1536)]
    api = FakeAPI(faults=[timeout] * 3)
    with pytest.raises(APITimeoutError):
        embed(api.client(max_retries=2), ["x"])


def test_openai_error_shape_is_read_too(embed: Embed) -> None:
    def openai_error(request: httpx.Request) -> httpx.Response:
        body = {"error": {"message": "Invalid model", "type": "invalid_request_error"}}
        return httpx.Response(404, json=body, headers={"x-request-id": "req-oa"})

    with pytest.raises(NotFoundError, match=r"404 Not Found: Invalid model \(request id req-oa\)"):
        embed(FakeAPI(faults=[openai_error]).client(), ["x"])


def test_a_key_echoed_by_the_server_is_cut_from_the_error(embed: Embed) -> None:
    api = FakeAPI(faults=[status(401, f"invalid key {API_KEY}")])
    with pytest.raises(AuthenticationError) as caught:
        embed(api.client(), ["x"])
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value.body)


def test_a_request_too_big_for_the_server_is_halved_until_it_fits(embed: Embed) -> None:
    def picky(body: dict[str, Any]) -> httpx.Response | None:
        if len(body["input"]) > 7:
            return error_answer(400, "too many inputs: at most 7 per request")
        return None

    api = FakeAPI(refuse=picky)
    texts = texts_of(50)
    result = embed(api.client(), texts, batch_size=50)
    assert result.vectors == [vector_for(text, 1536) for text in texts]


def test_a_text_too_long_for_the_server_is_split_and_averaged(embed: Embed) -> None:
    long_text = "word " * 3000  # fits our estimate (8191 tokens) but not this server's 1000

    def strict(body: dict[str, Any]) -> httpx.Response | None:
        if any(len(text) > 5000 for text in body["input"]):
            return error_answer(400, "This model's maximum context length is 1000 tokens")
        return None

    api = FakeAPI(refuse=strict)
    result = embed(api.client(), ["short", long_text])
    assert result.vectors[0] == vector_for("short", 1536)
    assert len(result.vectors[1]) == 1536
    norm = sum(v * v for v in result.vectors[1]) ** 0.5
    assert abs(norm - 1) < 1e-9
    accepted = [
        text
        for body in api.requests
        if all(len(text) <= 5000 for text in body["input"])
        for text in body["input"]
        if text.startswith("word")
    ]
    assert "".join(accepted) == long_text, "the accepted pieces cover the text exactly once"


def test_a_text_too_long_for_the_server_with_long_text_error_names_its_index(embed: Embed) -> None:
    api = FakeAPI(faults=[status(400, "maximum context length is 10 tokens")])
    with pytest.raises(InputTooLongError, match=r"texts\[0\]") as caught:
        embed(api.client(), ["a b c d e f g h i j k l m"], long_text="error")
    assert caught.value.index == 0


def test_long_texts_over_our_estimate_fail_before_any_request_in_error_mode(embed: Embed) -> None:
    api = FakeAPI()
    with pytest.raises(InputTooLongError, match=r"texts\[1\]"):
        embed(api.client(), ["ok", "x" * 100_000], long_text="error")
    assert api.requests == []


@pytest.mark.parametrize(
    ("texts", "index"),
    [
        (["ok", None], 1),
        (["ok", "fine", 3], 2),
        ([b"bytes"], 0),
        ([{"a": 1}], 0),
        ([["nested"]], 0),
        (["ok", "bad \ud800 surrogate"], 1),
    ],
)
def test_bad_texts_are_named_by_index_before_any_request(
    embed: Embed, texts: Any, index: int
) -> None:
    api = FakeAPI()
    with pytest.raises(InvalidInputError, match=rf"texts\[{index}\]") as caught:
        embed(api.client(), texts)
    assert caught.value.index == index
    assert api.requests == []


def test_a_bare_string_is_refused_not_embedded_letter_by_letter(embed: Embed) -> None:
    api = FakeAPI()
    with pytest.raises(InvalidInputError, match="wrap one text in a list"):
        embed(api.client(), "a whole document")
    assert api.requests == []


def test_the_done_when_of_the_core_issue(embed: Embed) -> None:
    """5,000 texts over several batches with 500s and 429s sprinkled in: same vectors, in order."""
    texts = [f"text {i}: {'lorem ipsum ' * (i % 13)}" for i in range(5000)]
    clean = FakeAPI(shuffle=True)
    expected = embed(clean.client(), texts).vectors
    faults: list[Any] = []
    for i in range(40):
        faults.append(status(500) if i % 3 else status(429, **{"retry-after-ms": "2"}))
        faults.append(lambda request: None)
    faulty = FakeAPI(shuffle=True, faults=faults, seed=7)
    # Faults go to whichever request arrives next, so one batch may meet all of them in a row.
    result = embed(faulty.client(max_retries=len(faults)), texts, batch_size=100)
    assert len(result.vectors) == 5000
    assert result.vectors == expected
    assert faulty.faults == [], "every fault was served"
    assert len(faulty.requests) == 50 + 40, "each fault cost exactly one more request"


def test_a_429_slows_every_concurrent_request_of_the_client() -> None:
    pause = 0.3
    sent_at: list[float] = []
    limited_at: list[float] = []
    lock = threading.Lock()
    limited = status(429, "rate limited", **{"retry-after": str(pause)})

    def first_limited(request: httpx.Request) -> httpx.Response:
        with lock:
            limited_at.append(time.monotonic())
        return limited(request)

    def slow(request: httpx.Request) -> None:
        with lock:
            sent_at.append(time.monotonic())
        time.sleep(0.05)  # the other worker is mid-request when the 429 arrives

    api = FakeAPI(faults=[first_limited] + [slow] * 10)
    api.client(max_concurrency=2).embed(texts_of(32 * 6), batch_size=32)
    (limited_moment,) = limited_at
    after = [moment - limited_moment for moment in sent_at if moment > limited_moment + 0.01]
    # Without a client-wide pause the other worker would send again at ~0.05 s.
    assert after, "requests went on after the 429"
    assert min(after) >= pause * 0.9, f"a request was sent {min(after):.3f}s after a 429"


def test_the_key_is_refused_over_plain_http_to_another_host() -> None:
    with pytest.raises(ValueError, match="plain http"):
        EmbeddingsClient(api_key=API_KEY, base_url="http://api.example.com/v1")
    EmbeddingsClient(
        api_key=API_KEY, base_url="http://api.example.com/v1", allow_insecure_http=True
    )
    for url in ("http://127.0.0.1:9/v1", "http://localhost:9/v1", "http://[::1]:9/v1"):
        EmbeddingsClient(api_key=API_KEY, base_url=url)


def test_redirects_are_not_followed(embed: Embed) -> None:
    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"location": "https://evil.example/v1/embeddings"})

    api = FakeAPI(faults=[redirect])
    with pytest.raises(Exception, match="307"):
        embed(api.client(), ["x"])
    assert len(api.requests) == 1


def test_no_key_is_a_clear_error_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="AIMLAPI_API_KEY"):
        EmbeddingsClient()


def test_key_and_base_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMLAPI_API_KEY", "sk-from-env")
    monkeypatch.setenv("AIMLAPI_API_BASE", "https://old.example/v1/")
    client = EmbeddingsClient()
    assert client.base_url == "https://old.example/v1"
    monkeypatch.setenv("AIMLAPI_BASE_URL", "https://new.example/v1")
    assert EmbeddingsClient().base_url == "https://new.example/v1"


def test_the_key_is_in_no_repr_log_or_error(embed: Embed, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = FakeAPI(faults=[status(500), drop, status(401, "bad key")])
    client = api.client(max_retries=3)
    with pytest.raises(AuthenticationError) as caught:
        embed(client, ["x"])
    assert API_KEY not in repr(client)
    assert API_KEY not in str(vars(client))
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value)
    assert caplog.records, "retries should have been logged"
    assert API_KEY not in caplog.text
    assert all(API_KEY not in str(record.args) for record in caplog.records)


def test_clients_pickle_and_deepcopy_and_still_embed(embed: Embed) -> None:
    api = FakeAPI()
    client = api.client()
    embed(client, ["warm the pools"])
    for twin in (copy.deepcopy(client), pickle.loads(pickle.dumps(client))):
        assert embed(twin, ["x"]).vectors == [vector_for("x", 1536)]


def test_two_asyncio_runs_in_a_row_work() -> None:
    client = FakeAPI().client()
    first = asyncio.run(client.aembed(["x"]))
    second = asyncio.run(client.aembed(["x"]))
    assert first.vectors == second.vectors


async def test_sync_embed_works_inside_a_running_event_loop() -> None:
    client = FakeAPI().client()
    assert client.embed(["x"]).vectors == (await client.aembed(["x"])).vectors


def test_progress_reports_every_input(embed: Embed) -> None:
    seen: list[tuple[int, int]] = []
    embed(
        FakeAPI().client(),
        texts_of(100),
        batch_size=25,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert [done for done, _ in seen] == [25, 50, 75, 100]
    assert {total for _, total in seen} == {100}


def test_unknown_models_warn_once_and_use_generic_rules(embed: Embed) -> None:
    api = FakeAPI(width=12)
    with pytest.warns(UserWarning, match="not in aimlapi_embeddings' registry"):
        result = embed(api.client(), texts_of(300), model="vendor/brand-new-model")
    assert len(result.vectors[0]) == 12
    assert (
        max(len(body["input"]) for body in api.requests) <= get_model_spec("x/unknown").max_inputs
    )


def test_every_request_carries_the_timeout(embed: Embed) -> None:
    seen: list[dict[str, Any]] = []

    def capture(request: httpx.Request) -> None:
        seen.append(request.extensions["timeout"])

    api = FakeAPI(faults=[capture])
    embed(api.client(timeout=httpx.Timeout(7.0, connect=2.0)), ["x"])
    assert seen == [{"connect": 2.0, "read": 7.0, "write": 7.0, "pool": 7.0}]


def test_any_ordered_iterable_of_texts_is_accepted(embed: Embed) -> None:
    api = FakeAPI()
    expected = [vector_for(t, 1536) for t in ("a", "b")]
    assert embed(api.client(), ("a", "b")).vectors == expected
    assert embed(api.client(), (t for t in ["a", "b"])).vectors == expected
    with pytest.raises(InvalidInputError, match="not set"):
        embed(api.client(), {"a", "b"})


def test_progress_counts_texts_even_when_long_texts_go_in_pieces(embed: Embed) -> None:
    seen: list[tuple[int, int]] = []
    texts = ["short", "word " * 40_000, "also short"]
    embed(FakeAPI().client(), texts, batch_size=2, on_progress=lambda d, t: seen.append((d, t)))
    assert {total for _, total in seen} == {3}
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1] == (3, 3)


def test_max_concurrency_bounds_the_whole_client_across_calls() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        await asyncio.sleep(0.02)
        with lock:
            active -= 1
        return FakeAPI().answer(json.loads(request.content))

    client = EmbeddingsClient(
        api_key=API_KEY,
        base_url="https://x.test/v1",
        max_concurrency=3,
        transport=httpx.MockTransport(slow),
    )

    async def many_calls() -> None:
        await asyncio.gather(*(client.aembed([f"text {i}"]) for i in range(12)))

    asyncio.run(many_calls())
    assert peak == 3, f"{peak} requests were in flight at once, max_concurrency is 3"


def test_single_input_models_send_each_piece_of_a_split_text_alone(embed: Embed) -> None:
    def strict(body: dict[str, Any]) -> httpx.Response | None:
        if len(body["input"]) > 3000:
            return error_answer(400, "maximum context length is 1000 tokens")
        return None

    api = FakeAPI(refuse=strict)
    model = "togethercomputer/m2-bert-80M-8k-retrieval"
    with pytest.warns(UserWarning, match="removed"):
        result = embed(api.client(), ["word " * 1500], model=model)
    assert len(result.vectors) == 1
    assert all(isinstance(body["input"], str) for body in api.requests)
    accepted = [body["input"] for body in api.requests if len(body["input"]) <= 3000]
    assert "".join(accepted) == "word " * 1500


def test_after_a_429_requests_leave_paced_then_speed_up_again() -> None:
    now = [100.0]
    throttle = _transport.Throttle(clock=lambda: now[0])
    assert throttle.reserve() == 0.0, "no 429 yet: no wait"
    throttle.pause(0.04)
    waits = [throttle.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.04, 0.08, 0.12, 0.16]), "one request per interval"
    throttle.pause(0.04)
    assert [throttle.reserve(), throttle.reserve()] == pytest.approx([0.2, 0.26]), (
        "a 429 while paced slows the pace by half again"
    )
    throttle.pause(20.0)
    first, second = throttle.reserve(), throttle.reserve()
    assert first == pytest.approx(20.0), "a long wait is a pause for everyone"
    assert second - first == pytest.approx(_transport.MAX_PACING_INTERVAL), "but not a pace"
    now[0] += 30.0
    for _ in range(80):
        throttle.relax()
    assert [throttle.reserve() for _ in range(3)] == [0.0, 0.0, 0.0], "successes end the pacing"


def test_a_proxy_413_splits_the_request(embed: Embed) -> None:
    def proxy(body: dict[str, Any]) -> httpx.Response | None:
        if len(json.dumps(body)) > 2000:
            return httpx.Response(413, text="<html><h1>413 Request Entity Too Large</h1></html>")
        return None

    api = FakeAPI(refuse=proxy)
    texts = [f"text number {i} " * 10 for i in range(40)]
    result = embed(api.client(), texts, batch_size=40)
    assert result.vectors == [vector_for(text, 1536) for text in texts]


def test_a_fatal_error_is_raised_without_waiting_for_requests_in_flight() -> None:
    release = threading.Event()

    def slow(request: httpx.Request) -> None:
        release.wait(5)  # a request that would hold the call for 5 s

    api = FakeAPI(faults=[slow, slow, slow, status(403, "out of credits")])
    started = time.monotonic()
    try:
        with pytest.raises(PermissionDeniedError):
            api.client(max_concurrency=4).embed(texts_of(4 * 32), batch_size=32)
        assert time.monotonic() - started < 2, "the 403 waited for the slow requests"
    finally:
        release.set()
