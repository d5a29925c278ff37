"""The core's fault matrix, through the real loopback emulator, sync and async.

Each fault alone, and all of them together, must give every vector identical to the fault-free
answer and in input order, or a typed error once retries are spent. No recorded request may break
the model's limits, by the client's estimate or by the emulator's own token count. Under a 429
storm the client backs off as a whole, then finishes.

Backoff runs at a hundredth of its real delays, retries are few, latencies small: the whole file
takes seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from typing import Any

import pytest

from aimlapi_embeddings import (
    AimlapiError,
    APIConnectionError,
    APITimeoutError,
    EmbeddingResult,
    EmbeddingsClient,
    InternalServerError,
    ModelSpec,
    RateLimitError,
    ResponseError,
    estimate_tokens,
    get_model_spec,
)
from aimlapi_embeddings._batching import combine
from aimlapi_embeddings.testing import Emulator, FaultOptions, RequestRecord, count_tokens
from aimlapi_embeddings.testing import embedding_for as emulator_vector

pytestmark = [
    # Backoff keeps its shape at a thousandth of the real delays (the root conftest's fixture).
    pytest.mark.usefixtures("fast_backoff"),
    pytest.mark.timeout(60),
]

MODELS = {
    "openai-base64": "text-embedding-3-small",
    "voyage-input-type": "voyage-large-2",
    "google-task-type": "text-multilingual-embedding-002",
    "qwen-10-inputs": "alibaba/qwen-text-embedding-v3",
    "unlisted-004": "text-embedding-004",
}
SHELLS = ("sync", "async")
# Messages the emulator gives a request over the model's limits (by its own, stricter count).
OVERFLOW_MESSAGES = ("maximum context length", "maximum allowed tokens", "too many inputs")
WORDS = [
    *("vector", "store", "retrieval", "chunk", "embedding", "query", "document", "index"),
    *("rerank", "latency", "batch", "token", "river", "mountain", "harbour", "lantern"),
    *("meadow", "orchard", "glacier", "canyon"),
]


def corpus(count: int = 60) -> list[str]:
    """Distinct short texts, with a blank, whitespace, emoji, CJK and right-to-left among them."""
    texts = [
        f"doc{i} " + " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(i % 11 + 2))
        for i in range(count)
    ]
    texts[5] = ""
    texts[17] = "  \n\t "
    texts[23] = "emoji 🙂👍🏽 and 日本語のテキスト doc23"
    texts[31] = "مرحبا بالعالم doc31 שלום"
    return texts


@functools.cache
def fault_free(model: str, text: str) -> tuple[float, ...]:
    """The emulator's vector for `text` as the client sends it (a blank text goes as one space)."""
    return tuple(emulator_vector(text if text.strip() else " ", model))


def expected_vectors(model: str, texts: list[str]) -> list[list[float]]:
    return [list(fault_free(model, text)) for text in texts]


def embed(
    shell: str, client: EmbeddingsClient, texts: list[str], **options: Any
) -> EmbeddingResult:
    if shell == "sync":
        return client.embed(texts, **options)
    return asyncio.run(client.aembed(texts, **options))


def make_client(api: Emulator, **options: Any) -> EmbeddingsClient:
    # Enough that a 30% fault rate spends them once in 50,000 batches (0.3 ** 10).
    options.setdefault("max_retries", 10)
    options.setdefault("max_concurrency", 4)
    options.setdefault("timeout", 5.0)
    return EmbeddingsClient(api_key=api.api_key, base_url=api.base_url, **options)


def first_difference(got: list[list[float]], want: list[list[float]]) -> str:
    if len(got) != len(want):
        return f"{len(got)} vectors for {len(want)} texts"
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        if a != b:
            return f"vector {index} differs from the fault-free answer (lost, moved or corrupted)"
    return ""


def assert_within_limits(
    records: list[RequestRecord], spec: ModelSpec, *, token_factor: float = 1.0
) -> None:
    """Every request within the model's limits, by the client's estimate and the emulator's count.

    With a stricter server (token_factor > 1) a request may be refused for size, and only that:
    the client then splits; any other 4xx is a request the client should never have sent.
    """
    assert records, f"{spec.name}: no request reached the emulator"
    for record in records:
        where = f"{spec.name} request {record.request_id} ({record.status}, {record.fault})"
        assert get_model_spec(record.model).name == spec.name, f"{where}: model {record.model!r}"
        assert 1 <= len(record.inputs) <= spec.max_inputs, (
            f"{where}: {len(record.inputs)} inputs, the limit is {spec.max_inputs}"
        )
        for name, counts in (
            ("the emulator's count", [count_tokens(text) for text in record.inputs]),
            ("the client's estimate", [estimate_tokens(text) for text in record.inputs]),
        ):
            assert max(counts) <= spec.context_tokens, (
                f"{where}: an input of {max(counts)} tokens by {name}, "
                f"context {spec.context_tokens}"
            )
            assert sum(counts) <= spec.max_tokens_per_request, (
                f"{where}: {sum(counts)} tokens by {name}, limit {spec.max_tokens_per_request}"
            )
        if record.status == 400:
            assert token_factor > 1, f"{where}: refused: {record.message}"
            assert any(phrase in (record.message or "") for phrase in OVERFLOW_MESSAGES), (
                f"{where}: refused for something other than size: {record.message}"
            )
        else:
            assert record.status in (200, 429, 500, 502, 503), f"{where}: {record.message}"
        parameters = record.parameters
        assert ("encoding_format" in parameters) == (spec.encoding == "base64"), (
            f"{where}: encoding_format {parameters.get('encoding_format')!r} for a "
            f"{spec.encoding} model"
        )
        for name, value in spec.input_type_fields("document").items():
            assert parameters.get(name) == value, f"{where}: {name}={parameters.get(name)!r}"
        assert "dimensions" not in parameters, f"{where}: dimensions sent unasked"


# ---- each fault alone, and all together --------------------------------------------------------

# name -> (emulator faults, scripted first answers, client and call options, faults that must occur)
Case = tuple[FaultOptions, list[Any], dict[str, Any], set[str]]
CALL_OPTIONS = ("batch_size",)
CASE_OPTIONS = ("texts",)
FAULTS: dict[str, Case] = {
    "server-errors-500-502-503": (
        {"error_rate": 0.3},
        [500, 502, 503],
        {"batch_size": 6},
        {"error"},
    ),
    "429-beyond-a-concurrency-cap": (
        {"max_concurrent": 2, "latency": 0.02},
        [],
        {"batch_size": 4, "texts": 32},
        {"concurrency"},
    ),
    # One text a request, 36 requests, against a cap of 25 a second (and a burst of 25).
    "429-beyond-a-rate-cap": (
        {"rate_limit_rps": 25.0},
        [],
        {"batch_size": 1, "texts": 36},
        {"rate_limit"},
    ),
    "dropped-connections": ({"drop_rate": 0.3}, ["drop"], {}, {"drop", "scripted"}),
    # Several requests per model, so that a random fault meets each model more than once.
    "html-200s": ({"html_rate": 0.3}, ["html"], {"batch_size": 6}, {"html", "scripted"}),
    "shuffled-data": ({"shuffle": True}, [], {}, {"shuffle"}),
    "slower-than-the-timeout": (
        {"hang_rate": 0.15, "hang_seconds": 1.0},
        ["hang"],
        {"timeout": 0.3},
        {"hang", "scripted"},
    ),
    "all-together": (
        {
            "error_rate": 0.08,
            "drop_rate": 0.05,
            "html_rate": 0.05,
            "hang_rate": 0.04,
            "hang_seconds": 1.0,
            "shuffle": True,
            "max_concurrent": 3,
            "rate_limit_rps": 60.0,
            "latency": 0.005,
            "token_factor": 3.0,
        },
        [503, "drop", "html", "hang"],
        {"timeout": 0.3, "max_retries": 20, "batch_size": 20},
        {"scripted", "error", "shuffle"},
    ),
}

# Google's budget is 20,000 tokens a request: 24 texts of 400 words fill it by the client's
# estimate, and by the emulator's count x3 they overflow it, so "all together" must also split.
GOOGLE_LONG = [f"long{i} " + " ".join(["abcd"] * 399) for i in range(24)]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("case", list(FAULTS.values()), ids=list(FAULTS))
def test_each_fault_alone_and_all_together_give_the_fault_free_vectors(
    case: Case, shell: str
) -> None:
    faults, scripted, options, kinds = case
    client_options = {
        k: v for k, v in options.items() if k not in CALL_OPTIONS and k not in CASE_OPTIONS
    }
    call_options = {k: v for k, v in options.items() if k in CALL_OPTIONS}
    seen: set[str] = set()
    for number, (label, model) in enumerate(MODELS.items()):
        spec = get_model_spec(model)
        texts = corpus(options.get("texts", 60))
        if label.startswith("google") and faults.get("token_factor", 1.0) > 1:
            texts += GOOGLE_LONG
        # A seed per model: each meets its own sequence of random faults.
        with (
            Emulator(seed=11 + number, **faults) as api,
            make_client(api, **client_options) as client,
        ):
            for fault in scripted:
                api.fail_next(fault, retry_after=0.01 if fault == 503 else None)
            result = embed(shell, client, texts, model=model, **call_options)
            records = api.requests
        problem = first_difference(result.vectors, expected_vectors(model, texts))
        assert not problem, f"{label} ({shell}): {problem}"
        assert_within_limits(records, spec, token_factor=faults.get("token_factor", 1.0))
        met = {record.fault for record in records if record.fault}
        assert met & kinds or not kinds, f"{label}: the fault never happened: met {met or 'none'}"
        seen |= met
        if label.startswith("google") and faults.get("token_factor", 1.0) > 1:
            assert any(record.status == 400 for record in records), (
                "the stricter server never refused a request: the split was not exercised"
            )
    assert kinds <= seen, f"faults never met over all models: {sorted(kinds - seen)}"


# ---- a server stricter than the client's token estimate ----------------------------------------


# Each text is words of four letters: the client estimates 2 tokens a word, the emulator counts
# 1, times the factor 3. Per model, texts that fit the context by the server's count but fill a
# request by the client's (the client must halve requests), or texts over the context by the
# server's count (the client must split the text and average its pieces).
def _words(number: int, count: int) -> str:
    """`count` distinct four-letter words, unique to text `number` (so pieces are unambiguous)."""

    def word(value: int) -> str:
        return "".join(chr(97 + value // 26**place % 26) for place in range(4))

    return " ".join(word(number * 10_000 + position) for position in range(count))


def _filler(number: int, count: int) -> str:
    """One word unique to text `number`, then `count - 1` times the same four-letter word."""
    return _words(number, 1) + " abcd" * (count - 1)


TOKEN_CASES: dict[str, tuple[str, list[str], str]] = {
    "openai-base64": (
        "text-embedding-3-small",
        [_filler(i, 2000) for i in range(60)],
        "batch",
    ),
    # Within Voyage's 8,000 characters by the schema and 4,000 tokens by our estimate, but
    # 4,500 by the server's stricter count: each is sent alone, refused, and sent in halves.
    "voyage-input-type": (
        "voyage-2",
        [_words(i, 1500) for i in range(3)] + ["short voyage text"],
        "text",
    ),
    "google-task-type": (
        "text-multilingual-embedding-002",
        [_filler(i, 400) for i in range(48)],
        "batch",
    ),
    "qwen-10-inputs": (
        "alibaba/qwen-text-embedding-v3",
        [_words(i, 3000) for i in range(4)] + ["short qwen text"],
        "text",
    ),
}


def pieces_sent(text: str, records: list[RequestRecord]) -> list[str]:
    """The accepted inputs that are pieces of `text` (its words are its own), in text order."""
    pieces = {
        piece
        for record in records
        if record.status == 200 and record.fault in (None, "shuffle")
        for piece in record.inputs
        if piece != text and piece in text
    }
    return sorted(pieces, key=text.find)


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("label", list(TOKEN_CASES))
def test_a_stricter_server_token_count_makes_the_client_split_not_fail(
    label: str, shell: str
) -> None:
    model, texts, split = TOKEN_CASES[label]
    spec = get_model_spec(model)
    factor = 3.0
    with Emulator(token_factor=factor) as api, make_client(api, max_concurrency=1) as client:
        result = embed(shell, client, texts, model=model)
        records = api.requests
    assert_within_limits(records, spec, token_factor=factor)
    refused = [record for record in records if record.status == 400]
    assert refused, f"{label}: the stricter count refused nothing; the case tests no split"
    for record in records:
        if record.status == 200:
            assert sum(record.tokens) <= spec.max_tokens_per_request, (
                f"{label}: the emulator accepted an over-budget request (its own bug)"
            )
    want = expected_vectors(model, texts)
    if split == "batch":
        problem = first_difference(result.vectors, want)
        assert not problem, f"{label} ({shell}): {problem}"
        return
    for index, text in enumerate(texts):
        if math.ceil(count_tokens(text) * factor) <= spec.context_tokens:
            assert result.vectors[index] == want[index], f"{label}: short texts[{index}] changed"
            continue
        pieces = pieces_sent(text, records)
        assert len(pieces) >= 2, f"{label}: texts[{index}] was never sent in pieces"
        assert "".join(pieces) == text, f"{label}: texts[{index}]'s pieces do not rebuild it"
        mean = combine(
            [list(fault_free(model, piece)) for piece in pieces], [len(piece) for piece in pieces]
        )
        assert result.vectors[index] == pytest.approx(mean, abs=1e-9), (
            f"{label} ({shell}): texts[{index}] is not the length-weighted mean of its pieces"
        )


# ---- retries spent: a typed error, after exactly max_retries + 1 attempts ----------------------

EXHAUSTION: dict[str, tuple[FaultOptions, Any, type[AimlapiError]]] = {
    "server-errors": ({"error_rate": 1.0}, None, InternalServerError),
    "dropped-connections": ({"drop_rate": 1.0}, None, APIConnectionError),
    "html-200s": ({"html_rate": 1.0}, None, ResponseError),
    "slower-than-the-timeout": ({"hang_rate": 1.0, "hang_seconds": 2.0}, None, APITimeoutError),
    "429-storm": ({}, 429, RateLimitError),
}


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("case", list(EXHAUSTION.values()), ids=list(EXHAUSTION))
def test_spent_retries_raise_the_typed_error(
    case: tuple[FaultOptions, Any, type[AimlapiError]], shell: str
) -> None:
    faults, scripted, error_type = case
    retries = 2
    with Emulator(**faults) as api, make_client(api, max_retries=retries, timeout=0.3) as client:
        if scripted is not None:
            api.fail_next(scripted, count=100, retry_after=0.01)
        with pytest.raises(AimlapiError) as info:
            embed(shell, client, ["one text", "two texts", "three texts"])
        records = api.requests
    assert type(info.value) is error_type, (
        f"expected {error_type.__name__}, got {type(info.value).__name__}: {info.value}"
    )
    assert len(records) == retries + 1, (
        f"{len(records)} attempts for max_retries={retries}; expected {retries + 1}"
    )
    if isinstance(info.value, (InternalServerError, RateLimitError)):
        assert str(info.value.status_code) in str(info.value), "the message hides the status"
        assert records[-1].request_id in str(info.value), "the message hides the request id"


# ---- a 429 storm -------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_one_429_holds_back_every_request_of_the_client(shell: str) -> None:
    """Only the first request gets a 429 (Retry-After 0.3 s): requests the client starts after
    it must wait out that pause too, not only the one that was refused."""
    pause = 0.3
    texts = corpus(32)
    model = MODELS["voyage-input-type"]
    # Answers take 0.1 s: without a client-wide pause, the next requests would leave as soon as
    # the first answers came back, 0.1 s after the 429, inside the window checked below.
    with Emulator(latency=0.1) as api, make_client(api, max_concurrency=4) as client:
        api.fail_next(429, retry_after=pause)
        started = time.monotonic()
        result = embed(shell, client, texts, model=model, batch_size=4)
        elapsed = time.monotonic() - started
        records = api.requests
    problem = first_difference(result.vectors, expected_vectors(model, texts))
    assert not problem, f"({shell}): {problem}"
    limited = [record for record in records if record.status == 429]
    assert len(limited) == 1, f"{len(limited)} 429s; the script sent exactly one"
    refused_at = limited[0].time
    # Requests already on the wire when the 429 arrived may land just after it; a request the
    # client *starts* after the 429 must wait until the pause is over.
    grace = 0.08
    early = [
        round(record.time - refused_at, 3)
        for record in records
        if refused_at + grace < record.time < refused_at + pause - 0.02
    ]
    assert not early, (
        f"requests went out {early} s after a 429 asking for {pause} s: the pause did not hold "
        "the whole client back"
    )
    assert elapsed >= pause, f"the call finished in {elapsed:.2f} s, inside the {pause} s pause"


@pytest.mark.parametrize("shell", SHELLS)
def test_a_429_storm_beyond_a_concurrency_cap_finishes_with_every_vector(shell: str) -> None:
    """Eight requests at a time against a server that takes one: a 429 for most of them, over
    and over. The client finishes, every batch answered once, in a bounded time. (That the
    pause holds the whole client back is the test above.)"""
    texts = corpus(64)
    model = MODELS["google-task-type"]
    with (
        Emulator(max_concurrent=1, latency=0.01) as api,
        make_client(api, max_concurrency=8, max_retries=30) as client,
    ):
        started = time.monotonic()
        result = embed(shell, client, texts, model=model, batch_size=4)
        elapsed = time.monotonic() - started
        records = api.requests
    problem = first_difference(result.vectors, expected_vectors(model, texts))
    assert not problem, f"({shell}): {problem}"
    assert_within_limits(records, get_model_spec(model))
    limited = sum(record.status == 429 for record in records)
    answered = sum(record.status == 200 for record in records)
    assert limited > 0, "the cap never answered 429: the storm was not exercised"
    assert answered == len(texts) // 4, f"{answered} answers for {len(texts) // 4} batches"
    # The server can answer the 16 batches in 0.16 s one at a time; 60x that is not backing off,
    # it is stalling.
    assert elapsed < 10, (
        f"the storm took {elapsed:.1f} s for 16 batches the server answers in 0.16 s"
    )
