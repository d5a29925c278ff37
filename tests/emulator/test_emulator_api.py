"""The emulator's answers, spoken to with raw httpx over loopback: rules, limits, shapes."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import math
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aimlapi_embeddings.testing as testing
from aimlapi_embeddings.models import MODELS, ModelSpec
from aimlapi_embeddings.testing import Emulator, FaultOptions, Faults, count_tokens, embedding_for


@pytest.fixture(scope="module")
def shared_api() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def api(shared_api: Emulator) -> Emulator:
    shared_api.reset()
    return shared_api


@pytest.fixture(scope="module")
def http(shared_api: Emulator) -> Iterator[httpx.Client]:
    # One client for the module: building an httpx.Client (its TLS context) costs 30 ms.
    headers = {"Authorization": f"Bearer {shared_api.api_key}"}
    with httpx.Client(base_url=shared_api.base_url, headers=headers, timeout=10) as client:
        yield client


def post(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post("/embeddings", json=body)


def decode(item: dict[str, Any]) -> list[float]:
    embedding = item["embedding"]
    if isinstance(embedding, str):
        packed = base64.b64decode(embedding)
        return list(struct.unpack(f"<{len(packed) // 4}f", packed))
    return [float(value) for value in embedding]


def vectors(response: httpx.Response) -> list[list[float]]:
    assert response.status_code == 200, response.text
    data = sorted(response.json()["data"], key=lambda item: item["index"])
    return [decode(item) for item in data]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def client_body(spec: ModelSpec, texts: list[str]) -> dict[str, Any]:
    """The body our client sends for `spec`."""
    body: dict[str, Any] = {"model": spec.name, "input": texts[0] if spec.single_input else texts}
    if spec.encoding == "base64":
        body["encoding_format"] = "base64"
    body.update(spec.input_type_fields("document"))
    return body


def assert_error(response: httpx.Response, status: int, *phrases: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "statusCode", "requestId", "path", "timestamp"}
    assert body["statusCode"] == str(status)
    assert body["requestId"] == response.headers["x-request-id"]
    assert body["timestamp"].endswith("Z")
    for phrase in phrases:
        assert phrase in body["message"]
    return dict(body)


# -- the public surface ----------------------------------------------------------------------


def test_exported_members() -> None:
    assert testing.__all__ == [
        "Emulator",
        "FaultKind",
        "FaultOptions",
        "Faults",
        "RequestRecord",
        "ScriptedFault",
        "count_tokens",
        "embedding_for",
    ]


def test_fault_options_name_every_fault_setting() -> None:
    assert set(FaultOptions.__annotations__) == {f.name for f in dataclasses.fields(Faults)}


def test_urls_and_default_key() -> None:
    with Emulator() as first, Emulator() as second:
        assert first.base_url == f"http://127.0.0.1:{first.port}/v1"
        assert first.url == first.base_url + "/embeddings"
        assert first.api_key.startswith("emu-")
        assert first.api_key != second.api_key
        assert first.api_key not in repr(first)
    with pytest.raises(RuntimeError, match="not running"):
        _ = first.base_url


def test_start_and_stop_twice_and_restart() -> None:
    api = Emulator(api_key="k")
    assert api.start() is api.start()
    api.stop()
    api.stop()
    with api:
        response = httpx.post(
            api.url, json={"model": "voyage-2", "input": "x"}, headers={"Authorization": "Bearer k"}
        )
        assert response.status_code == 200


# -- every model -----------------------------------------------------------------------------


SERVED = [spec for spec in MODELS.values() if spec.status != "removed"]
REMOVED = [spec for spec in MODELS.values() if spec.status == "removed"]


@pytest.mark.parametrize("spec", SERVED, ids=[spec.name for spec in SERVED])
def test_every_model_answers_with_its_width_and_usage(http: httpx.Client, spec: ModelSpec) -> None:
    texts = ["the first text"] if spec.single_input else ["the first text", "a second one"]
    response = post(http, **client_body(spec, texts))
    got = vectors(response)
    assert len(got) == len(texts)
    assert {len(vector) for vector in got} == {spec.dimensions}
    for vector in got:
        assert math.isclose(math.hypot(*vector), 1.0, rel_tol=1e-5)
    body = response.json()
    assert body["object"] == "list"
    assert body["model"] == spec.name
    assert all(item["object"] == "embedding" for item in body["data"])
    tokens = sum(count_tokens(text) for text in texts)
    if spec.input_type_style == "voyage":
        assert body["usage"] == {"prompt_tokens": None, "total_tokens": tokens}
    else:
        assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


def test_answers_match_embedding_for(http: httpx.Client) -> None:
    texts = ["alpha beta", "gamma"]
    for spec in (MODELS["text-embedding-3-small"], MODELS["voyage-2"]):
        got = vectors(post(http, **client_body(spec, texts)))
        assert got == [embedding_for(text, spec.name) for text in texts]


def test_float_and_base64_carry_the_same_vector(http: httpx.Client) -> None:
    as_float = vectors(post(http, model="text-embedding-3-large", input=["round trip"]))
    as_base64 = vectors(
        post(http, model="text-embedding-3-large", input=["round trip"], encoding_format="base64")
    )
    assert len(as_base64[0]) == 3072
    for x, y in zip(as_float[0], as_base64[0], strict=True):
        assert x == pytest.approx(y, abs=1e-8)
    raw = post(http, model="text-embedding-3-large", input="round trip", encoding_format="base64")
    assert isinstance(raw.json()["data"][0]["embedding"], str)
    assert len(base64.b64decode(raw.json()["data"][0]["embedding"])) == 3072 * 4


def test_the_schema_names_the_canonical_id_and_unknown_models_are_404(
    http: httpx.Client,
) -> None:
    # Each published schema's `model` enum holds the canonical id only: an alias breaks it.
    response = post(http, model="openai/text-embedding-3-small", input=["x"])
    assert_error(response, 400, "Body validation error!")
    assert "Expected 'text-embedding-3-small'" in response.json()["message"]
    assert post(http, model="text-embedding-3-small", input=["x"]).status_code == 200
    assert_error(post(http, model="no-such-model", input=["x"]), 404, "model not found")


@pytest.mark.parametrize("spec", REMOVED, ids=[spec.name for spec in REMOVED])
def test_removed_models_are_answered_as_unknown_ids(http: httpx.Client, spec: ModelSpec) -> None:
    unknown = post(http, model="no-such-model", input=["x"])
    removed = post(http, model=spec.name, input="x")
    assert removed.status_code == unknown.status_code == 404
    assert removed.json()["message"] == unknown.json()["message"].replace(
        "no-such-model", spec.name
    )


# -- dimensions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "dimensions"),
    [
        ("text-embedding-3-small", 256),
        ("text-embedding-3-large", 1),
        ("text-multilingual-embedding-002", 700),
        ("alibaba/qwen-text-embedding-v3", 64),
        ("alibaba/qwen-text-embedding-v4", 2048),
    ],
)
def test_dimensions_cut_and_renormalise(http: httpx.Client, model: str, dimensions: int) -> None:
    text = "Matryoshka embeddings keep their meaning when cut"
    full_width = max(MODELS[model].dimensions or 0, dimensions)
    full = embedding_for(text, model, dimensions=full_width)
    extra = MODELS[model].input_type_fields("document")
    (cut,) = vectors(post(http, model=model, input=[text], dimensions=dimensions, **extra))
    assert len(cut) == dimensions
    assert math.isclose(math.hypot(*cut), 1.0, rel_tol=1e-5)
    norm = math.hypot(*full[:dimensions])
    assert cut == pytest.approx([value / norm for value in full[:dimensions]], abs=1e-6)


@pytest.mark.parametrize(
    ("model", "dimensions"),
    [
        ("text-embedding-ada-002", 512),
        ("voyage-2", 512),
        ("text-embedding-3-small", 0),
        ("text-embedding-3-small", 1537),
        ("alibaba/qwen-text-embedding-v3", 32),
        ("text-embedding-3-small", True),
        ("text-embedding-3-small", "256"),
    ],
)
def test_dimensions_refused_where_not_allowed(
    http: httpx.Client, model: str, dimensions: object
) -> None:
    assert_error(post(http, model=model, input=["x"], dimensions=dimensions), 400, "dimensions")


# -- inputs and input types ------------------------------------------------------------------


INVALID = "Body validation error!"


@pytest.mark.parametrize(
    ("body", "phrases"),
    [
        # The gateway's check against the model's published schema.
        ({"model": "text-embedding-3-small", "input": [[1, 2, 3]]}, (INVALID, "Invalid input at input")),
        ({"model": "text-embedding-3-small", "input": [1, 2, 3]}, (INVALID, "Invalid input at input")),
        ({"model": "text-embedding-3-small", "input": ""}, (INVALID, "at least 1 character(s) at input")),
        ({"model": "text-embedding-3-small", "input": []}, (INVALID, "at least 1 element(s) at input")),
        ({"model": "text-embedding-3-small", "input": ["a", 3]}, (INVALID, "Invalid input at input")),
        ({"model": "text-embedding-3-small"}, (INVALID, "Required at input")),
        ({"model": "text-embedding-3-small", "input": ["x"], "encoding_format": "int8"}, (INVALID, "int8")),
        ({"model": "text-embedding-3-small", "input": ["x"], "input_type": "document"}, (INVALID, "'input_type'")),
        ({"model": "text-embedding-3-small", "input": "x", "user": "someone"}, (INVALID, "Unrecognized key(s) in object: 'user'")),
        ({"model": "voyage-2", "input": ["x"], "input_type": "query"}, (INVALID, "Expected 'document', received 'query'")),
        ({"model": "voyage-2", "input": ["x"], "input_type": None}, (INVALID, "received null at input_type")),
        ({"model": "voyage-2", "input": ["x", "y" * 801]}, (INVALID, "at most 800 character(s) at input.1")),
        ({"model": "voyage-2", "input": "y" * 8001}, (INVALID, "at most 8000 character(s) at input")),
        # 401 code points, but 802 UTF-16 code units: the gateway counts as JavaScript does.
        ({"model": "voyage-law-2", "input": ["\U0001f600" * 401]}, (INVALID, "at most 800 character(s) at input.0")),
        ({"model": "text-multilingual-embedding-002", "input": ["x"], "task_type": "NOPE"}, (INVALID, "task_type")),
        # What the schemas allow but the upstream vendor refuses.
        ({"model": "text-embedding-3-small", "input": ["ok", ""]}, ("input[1] is an empty string",)),
        ({"input": ["x"]}, ("`model`",)),
    ],
)  # fmt: skip
def test_bad_requests_are_400(
    http: httpx.Client, body: dict[str, Any], phrases: tuple[str, ...]
) -> None:
    assert_error(post(http, **body), 400, *phrases)


def test_every_schema_violation_is_counted() -> None:
    with Emulator() as api:
        headers = {"Authorization": f"Bearer {api.api_key}"}
        httpx.post(api.url, json={"model": "voyage-2", "input": ["y" * 801]}, headers=headers)
        httpx.post(api.url, json={"model": "voyage-2", "input": ["y" * 800]}, headers=headers)
        httpx.post(
            api.url, json={"model": "text-embedding-3-small", "input": ["x", ""]}, headers=headers
        )
        assert api.schema_violations == 1
        api.clear()
        assert api.schema_violations == 0


def test_unparseable_bodies_are_400(http: httpx.Client) -> None:
    assert_error(http.post("/embeddings", content=b"{not json"), 400, "not valid JSON")
    assert_error(http.post("/embeddings", content=b"[1]"), 400, "JSON object")
    assert_error(http.post("/embeddings", content=b"\xff\xfe"), 400, "not valid JSON")


@pytest.mark.parametrize(
    "body",
    [
        {"model": "voyage-2", "input": ["x"], "input_type": "document"},
        {"model": "voyage-2", "input": ["y" * 800, "\U0001f600" * 400]},
        {"model": "voyage-2", "input": "y" * 8000},
        {"model": "text-multilingual-embedding-002", "input": ["x"], "task_type": "RETRIEVAL_QUERY"},
        {"model": "text-embedding-004", "input": ["x"], "task_type": "RETRIEVAL_DOCUMENT", "title": "t"},
        {"model": "text-embedding-004", "input": "x", "task_type": "CLUSTERING", "auto_truncate": False},
        {"model": "text-embedding-3-small", "input": "a bare string"},
        {"model": "text-embedding-3-small", "input": [" ", "\n\t"], "encoding_format": "float"},
    ],
)  # fmt: skip
def test_good_requests_are_200(http: httpx.Client, body: dict[str, Any]) -> None:
    assert post(http, **body).status_code == 200


def test_whitespace_only_texts_get_one_fixed_unit_vector(http: httpx.Client) -> None:
    got = vectors(post(http, model="voyage-2", input=[" ", "\n\t ", "  "]))
    assert got[0] == got[1] == got[2]
    assert math.isclose(math.hypot(*got[0]), 1.0, rel_tol=1e-6)


# -- limits ----------------------------------------------------------------------------------


def test_too_many_inputs(http: httpx.Client) -> None:
    assert post(http, model="alibaba/qwen-text-embedding-v3", input=["x"] * 10).status_code == 200
    response = post(http, model="alibaba/qwen-text-embedding-v3", input=["x"] * 11)
    assert_error(response, 400, "too many inputs: 11 > 10 per request")


def test_context_per_input_names_the_index(http: httpx.Client) -> None:
    model = "text-multilingual-embedding-002"
    fits, over = "abcd " * 2048, "abcd " * 2100
    assert post(http, model=model, input=["x", fits]).status_code == 200
    response = post(http, model=model, input=["x", fits, over])
    assert_error(
        response,
        400,
        "input[2] is 2100 tokens; this model's maximum context length is 2048 tokens",
    )


def test_tokens_per_request(http: httpx.Client) -> None:
    text = "abcd " * 1999
    model = "text-multilingual-embedding-002"
    ok = post(http, model=model, input=[text] * 10, task_type="RETRIEVAL_QUERY")
    assert ok.status_code == 200
    assert ok.json()["usage"]["total_tokens"] == 19_990
    over = post(http, model=model, input=[text] * 11)
    assert_error(over, 400, "maximum allowed tokens per request", "21989")


def test_token_factor_makes_the_server_stricter() -> None:
    with Emulator(token_factor=2.0) as api:
        headers = {"Authorization": f"Bearer {api.api_key}"}
        body = {"model": "text-multilingual-embedding-002", "input": ["abcd " * 1200]}
        response = httpx.post(api.url, json=body, headers=headers)
        assert_error(response, 400, "input[0] is 2400 tokens", "maximum context length")
        api.configure(token_factor=1.5)
        response = httpx.post(api.url, json=body, headers=headers)
        assert response.json()["usage"]["total_tokens"] == 1800
        assert api.requests[-1].tokens == [1800]


# -- tokens and vectors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("   \n", 1),
        ("a", 1),
        ("abcd", 1),
        ("abcde", 2),
        ("hello, world!", 6),
        ("café", 2),
        ("日本語", 3),
        ("🙂", 2),
        ("x🙂y", 4),
    ],
)
def test_count_tokens(text: str, tokens: int) -> None:
    assert count_tokens(text) == tokens


visible_text = st.text(min_size=1, max_size=80).filter(lambda text: not text.isspace())


@settings(max_examples=100, deadline=None)
@given(visible_text, visible_text)
def test_count_tokens_adds_up_over_whitespace(first: str, second: str) -> None:
    if first.strip() and second.strip():
        assert count_tokens(f"{first} {second}") == count_tokens(first) + count_tokens(second)


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200), st.integers(min_value=1, max_value=1536))
def test_vectors_are_unit_deterministic_and_prefix_consistent(text: str, width: int) -> None:
    full = embedding_for(text, "text-embedding-3-small")
    assert full == embedding_for(text, "text-embedding-3-small")
    assert math.isclose(math.hypot(*full), 1.0, rel_tol=1e-5)
    cut = embedding_for(text, "text-embedding-3-small", dimensions=width)
    norm = math.hypot(*full[:width])
    if norm > 1e-3:  # a prefix of near-zero values renormalises to float noise
        assert cut == pytest.approx([value / norm for value in full[:width]], abs=1e-5)


def test_embedding_for_refuses_what_the_server_refuses() -> None:
    with pytest.raises(ValueError, match="model not found"):
        embedding_for("x", "no-such-model")
    with pytest.raises(ValueError, match="dimensions"):
        embedding_for("x", "text-embedding-ada-002", dimensions=8)


@pytest.mark.parametrize("model", ["text-embedding-3-small", "voyage-law-2", "text-embedding-004"])
def test_texts_sharing_words_are_closer(http: httpx.Client, model: str) -> None:
    query, near, far = vectors(
        post(
            http,
            model=model,
            input=[
                "How do I embed documents for retrieval?",
                "Embedding documents makes retrieval work",
                "The weather in Lisbon is sunny today",
            ],
        )
    )
    assert cosine(query, near) > cosine(query, far) + 0.2
    assert abs(cosine(query, far)) < 0.2


def test_similarity_ranks_a_small_corpus() -> None:
    corpus = [
        "Python is a programming language with readable syntax",
        "The Eiffel Tower is in Paris, the capital of France",
        "Photosynthesis turns sunlight into chemical energy in plants",
        "Bananas are a good source of potassium",
    ]
    queries = {
        "Which language has readable syntax?": 0,
        "What is the capital of France?": 1,
        "How do plants use sunlight?": 2,
        "potassium in bananas": 3,
    }
    documents = [embedding_for(text, "voyage-2") for text in corpus]
    for query, expected in queries.items():
        vector = embedding_for(query, "voyage-2")
        scores = [cosine(vector, document) for document in documents]
        assert scores.index(max(scores)) == expected, query


# -- HTTP: auth, routes, ids, keep-alive -----------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}, {"Authorization": ""}],
)
def test_wrong_or_missing_key_is_401(api: Emulator, headers: dict[str, str]) -> None:
    response = httpx.post(api.url, json={"model": "voyage-2", "input": ["x"]}, headers=headers)
    body = assert_error(response, 401, "API key")
    assert body["path"] == "/v1/embeddings"
    assert api.api_key not in response.text


def test_key_scheme_is_case_insensitive(api: Emulator) -> None:
    headers = {"Authorization": f"bearer {api.api_key}"}
    response = httpx.post(api.url, json={"model": "voyage-2", "input": ["x"]}, headers=headers)
    assert response.status_code == 200


def test_routes(http: httpx.Client, api: Emulator) -> None:
    root = f"http://127.0.0.1:{api.port}"
    body = {"model": "voyage-2", "input": ["x"]}
    assert http.post(f"{root}/embeddings", json=body).status_code == 200
    assert http.post(f"{root}/v1/embeddings/", json=body).status_code == 200
    assert http.post(f"{root}/v1/embeddings?x=1", json=body).status_code == 200
    assert_error(http.get("/embeddings"), 404, "Cannot GET /v1/embeddings")
    other = assert_error(http.post("/chat/completions", json=body), 404, "Cannot POST")
    assert other["path"] == "/v1/chat/completions"


def test_every_answer_has_a_fresh_request_id(http: httpx.Client) -> None:
    answers = [
        post(http, model="voyage-2", input=["x"]),
        post(http, model="voyage-2", input=[""]),
        http.get("/nowhere"),
    ]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert len(set(ids)) == 3
    assert all(ids)


def raw_exchange(api: Emulator, payload: bytes, answers: int) -> list[bytes]:
    """Send `payload` on one socket and read `answers` responses (each with a content-length)."""
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as sock:
        sock.sendall(payload)
        buffer = b""
        replies: list[bytes] = []
        while len(replies) < answers:
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                assert chunk, "connection closed early"
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            if head.startswith(b"HTTP/1.1 100"):
                continue
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(buffer) < length:
                chunk = sock.recv(65536)
                assert chunk, "connection closed early"
                buffer += chunk
            replies.append(head + b"\r\n\r\n" + buffer[:length])
            buffer = buffer[length:]
        return replies


def request_bytes(api: Emulator, body: bytes, *extra: str) -> bytes:
    lines = [
        "POST /v1/embeddings HTTP/1.1",
        "Host: localhost",
        f"Authorization: Bearer {api.api_key}",
        "Content-Type: application/json",
        *extra,
    ]
    if not any(line.lower().startswith("transfer-encoding") for line in extra):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_keep_alive_pipelined_chunked_and_expect_continue(api: Emulator) -> None:
    body = b'{"model": "voyage-2", "input": ["keep me alive"]}'
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:]) if part
    )
    payload = (
        request_bytes(api, body)
        + request_bytes(api, body, "Expect: 100-continue")
        + request_bytes(api, chunked + b"0\r\n\r\n", "Transfer-Encoding: chunked")
    )
    replies = raw_exchange(api, payload, answers=3)
    assert all(reply.startswith(b"HTTP/1.1 200 OK") for reply in replies)
    assert len({reply.split(b"\r\n\r\n", 1)[1] for reply in replies}) == 1


def test_malformed_http_gets_400_and_close(api: Emulator) -> None:
    (reply,) = raw_exchange(api, b"NONSENSE\r\n\r\n", answers=1)
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"connection: close" in reply


def test_many_concurrent_requests_overlap() -> None:
    async def run(api: Emulator) -> list[int]:
        headers = {"Authorization": f"Bearer {api.api_key}"}
        async with httpx.AsyncClient(headers=headers, timeout=10) as client:
            body = {"model": "voyage-2", "input": ["x"]}
            answers = await asyncio.gather(*(client.post(api.url, json=body) for _ in range(40)))
        return [answer.status_code for answer in answers]

    with Emulator(latency=0.3) as api:
        started = time.monotonic()
        assert asyncio.run(run(api)) == [200] * 40
        assert time.monotonic() - started < 3.0
        assert api.peak_concurrency >= 20


def test_warm_encodes_ahead_and_answers_the_same(http: httpx.Client, api: Emulator) -> None:
    texts = [f"warm text {i}" for i in range(5)]
    api.warm(texts, "text-embedding-3-small", dimensions=64)
    response = post(
        http, model="text-embedding-3-small", input=texts, dimensions=64, encoding_format="base64"
    )
    expected = [embedding_for(text, "text-embedding-3-small", dimensions=64) for text in texts]
    assert vectors(response) == expected
    with pytest.raises(ValueError, match="model not found"):
        api.warm(texts, "no-such-model")
    with pytest.raises(RuntimeError, match="not running"):
        Emulator().warm(texts, "voyage-2")


def test_a_tiny_cache_still_answers_right(http: httpx.Client) -> None:
    with Emulator(cache_bytes=10_000) as api:
        texts = [f"cache pressure {i}" for i in range(30)]
        api.warm(texts, "voyage-2")
        for _ in range(2):
            response = http.post(
                api.url,
                json={"model": "voyage-2", "input": texts},
                headers={"Authorization": f"Bearer {api.api_key}"},
            )
            assert vectors(response) == [embedding_for(text, "voyage-2") for text in texts]


# -- records ---------------------------------------------------------------------------------


def test_records(api: Emulator, http: httpx.Client) -> None:
    post(http, model="text-embedding-3-small", input=["hi there", "x"], dimensions=8)
    post(http, model="voyage-2", input="one", input_type="document")
    post(http, model="voyage-2", input=["x"] * 200)
    first, second, third = api.requests
    assert first.model == "text-embedding-3-small"
    assert first.inputs == ["hi there", "x"]
    assert first.tokens == [count_tokens("hi there"), 1]
    assert first.total_tokens == sum(first.tokens)
    assert first.parameters == {"dimensions": 8}
    assert first.status == 200
    assert first.fault is None
    assert first.path == "/v1/embeddings"
    assert second.inputs == ["one"]
    assert second.parameters == {"input_type": "document"}
    assert third.status == 400
    assert third.message is not None
    assert "too many inputs" in third.message
    assert first.time <= second.time <= third.time
    assert len({first.request_id, second.request_id, third.request_id}) == 3
    api.clear()
    assert api.requests == []
    post(http, model="voyage-2", input="again")
    assert len(api.requests) == 1


def test_json_numbers_with_a_zero_fraction_are_integers(http: httpx.Client) -> None:
    body = {"model": "alibaba/qwen-text-embedding-v3", "input": ["x"], "dimensions": 128.0}
    assert len(vectors(post(http, **body))[0]) == 128
