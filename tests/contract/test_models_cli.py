"""The registry printed, kept equal to the README's table, and checked against the catalogue."""

from __future__ import annotations

import copy
import gzip
import json
import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostile import Connection, HostileServer, Request

from aimlapi_embeddings import MODELS
from aimlapi_embeddings._schema import load_schema
from aimlapi_embeddings.models import _check
from aimlapi_embeddings.models._check import CatalogueError, check_catalogue, compare
from aimlapi_embeddings.models._table import markdown_table
from aimlapi_embeddings.testing import Emulator

README = Path(__file__).parents[2] / "README.md"


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aimlapi_embeddings.models", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_prints_every_model_of_the_registry() -> None:
    result = run_cli()
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for name, spec in MODELS.items():
        line = next(line for line in result.stdout.splitlines() if line.startswith(name + " "))
        assert spec.status in line
        if spec.max_item_chars:
            assert f"{spec.max_string_chars:,} / {spec.max_item_chars:,}" in line


def test_the_readme_table_is_the_registry() -> None:
    text = README.read_text()
    found = re.search(r"<!-- models:start -->\n(.*?)\n<!-- models:end -->", text, re.DOTALL)
    assert found, "the README has no generated model table"
    assert found.group(1).strip() == markdown_table(), (
        "the README's model table is stale: regenerate it with "
        "`python -m aimlapi_embeddings.models --markdown`"
    )
    assert run_cli("--markdown").stdout.strip() == markdown_table()


# ---- the registry against the vendored contract (no HTTP) -----------------------------------

DOCS_CONTEXT = {  # AI/ML API's docs table (shared/aimlapi-api/README.md)
    "alibaba/qwen-text-embedding-v3": 32_000,
    "alibaba/qwen-text-embedding-v4": 32_000,
    "voyage-2": 4_000,
    "voyage-code-2": 16_000,
    "voyage-large-2": 16_000,
    "voyage-large-2-instruct": 16_000,
    "voyage-law-2": 16_000,
    "voyage-finance-2": 32_000,
    "voyage-multilingual-2": 32_000,
    "text-multilingual-embedding-002": 2_000,
    "text-embedding-3-small": 8_000,
    "text-embedding-3-large": 8_000,
    "text-embedding-ada-002": 8_000,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_registry_row_agrees_with_its_published_schema(name: str) -> None:
    spec = MODELS[name]
    schema = load_schema(spec.schema) if spec.schema else None
    assert compare(spec, schema, DOCS_CONTEXT.get(name)) == []
    assert (spec.docs_context is not None) == (name in DOCS_CONTEXT)


def test_compare_names_each_kind_of_disagreement() -> None:
    spec = MODELS["voyage-2"]
    schema: dict[str, Any] = copy.deepcopy(dict(load_schema("voyage-2")))
    schema["properties"]["input"]["anyOf"][1]["items"]["maxLength"] = 500
    schema["properties"]["input_type"]["enum"] = ["query"]
    problems = compare(spec, schema, 8000)
    assert any("500 per list item" in problem for problem in problems)
    assert any("input_type" in problem and "document" in problem for problem in problems)
    assert any("context: the catalogue says 8000, the registry 4000" in p for p in problems)
    closed: dict[str, Any] = copy.deepcopy(dict(load_schema("text-embedding-3-small")))
    del closed["properties"]["encoding_format"]
    assert any(
        "encoding_format" in problem
        for problem in compare(MODELS["text-embedding-3-small"], closed)
    )


# ---- --check against the emulator's catalogue -----------------------------------------------


def test_check_finds_no_drift_in_the_published_catalogue() -> None:
    with Emulator() as api:
        result = run_cli("--check", "--base-url", api.base_url)
        paths = {record.path for record in api.requests}
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no drift" in result.stdout
    assert "/v1/models" in paths
    assert "/docs-json" in paths, "the check read no schema"


def test_check_names_a_model_missing_from_the_registry_and_exits_non_zero() -> None:
    schema: dict[str, Any] = copy.deepcopy(dict(load_schema("voyage-2")))
    schema["properties"]["model"]["enum"] = ["voyage-3-large"]
    with Emulator() as api:
        api.publish_model("voyage-3-large", schema, context_length=32_000)
        result = run_cli("--check", "--base-url", api.base_url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MISSING from the registry: voyage-3-large" in result.stdout


def test_check_reports_changed_rules_and_models_no_longer_served() -> None:
    schema: dict[str, Any] = copy.deepcopy(dict(load_schema("voyage-law-2")))
    schema["properties"]["input"]["anyOf"][0]["maxLength"] = 4000
    with Emulator() as api:
        api.publish_model("voyage-law-2", schema, context_length=16_000)
        api.withdraw_model("text-embedding-004")
        report = check_catalogue(api.base_url)
    assert report.drift
    assert report.missing == []
    assert list(report.disagree) == ["voyage-law-2"]
    assert "4000 as one string" in report.disagree["voyage-law-2"][0]
    assert report.not_served == ["text-embedding-004"]


def test_check_says_when_the_catalogue_cannot_be_read() -> None:
    with Emulator() as api:
        base_url = api.base_url
    result = run_cli("--check", "--base-url", base_url)  # the emulator has stopped
    assert result.returncode == 2
    assert f"could not read the catalogue at {base_url}" in result.stdout


def _published(name: str) -> dict[str, Any]:
    return copy.deepcopy(dict(load_schema(name)))


def _widened_qwen() -> tuple[str, dict[str, Any]]:
    schema = _published("qwen-text-embedding-v3")
    schema["properties"]["dimensions"]["maximum"] = 4096
    return "alibaba/qwen-text-embedding-v3", schema


def _no_dimensions_004() -> tuple[str, dict[str, Any]]:
    schema = _published("text-embedding-004")
    del schema["properties"]["dimensions"]
    return "text-embedding-004", schema


def _voyage_takes_queries() -> tuple[str, dict[str, Any]]:
    schema = _published("voyage-2")
    schema["properties"]["input_type"]["enum"] = ["document", "query"]
    return "voyage-2", schema


def _voyage_ten_items() -> tuple[str, dict[str, Any]]:
    schema = _published("voyage-2")
    schema["properties"]["input"]["anyOf"][1]["maxItems"] = 10
    return "voyage-2", schema


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        (_widened_qwen, "dimensions: the schema allows (64, 4096)"),
        (_no_dimensions_004, "no longer lists it"),
        (_voyage_takes_queries, "differs from the vendored schemas/voyage-2.json"),
        (_voyage_ten_items, "inputs per request: the schema allows 10"),
    ],
)
def test_check_reports_every_kind_of_schema_change(change: Any, phrase: str) -> None:
    name, schema = change()
    with Emulator() as api:
        api.publish_model(name, schema, context_length=MODELS[name].docs_context)
        report = check_catalogue(api.base_url)
    assert report.drift
    assert any(phrase in problem for problem in report.disagree[name]), report.disagree


def test_a_schema_that_cannot_be_read_is_drift_not_silence() -> None:
    def catalogue(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            entry = {
                "id": "voyage-2",
                "aliases": [],
                "type": "openai/embeddings",
                "info": {"contextLength": 4000, "docsJson": "https://api.test/docs-json?model=v"},
                "tags": [],
            }
            return httpx.Response(200, json={"object": "list", "data": [entry]})
        return httpx.Response(200, json={"paths": {"/v2/embeddings": {}}})  # not where it was

    with httpx.Client(transport=httpx.MockTransport(catalogue)) as http:
        report = check_catalogue("https://api.test/v1", http)
    assert report.drift
    assert "no request schema could be read from its docsJson" in report.disagree["voyage-2"]


# ---- a hostile catalogue: bounded, one line, exit 2; nothing a server wrote drives the terminal


def serve_catalogue(body: bytes) -> HostileServer:
    def handler(request: Request, connection: Connection) -> None:
        connection.answer(200, body)

    return HostileServer(handler)


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"data": 5}', b"[" * 100_000 + b"]" * 100_000, b"not json", b'{"data": [1, "x"]'],
    ids=["a list", "data a number", "nested 100k deep", "not json", "cut short"],
)
def test_a_catalogue_of_another_shape_is_one_line_and_exit_2(body: bytes) -> None:
    with serve_catalogue(body) as server:
        result = run_cli("--check", "--base-url", server.base_url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith("could not read the catalogue")
    assert "Traceback" not in result.stderr


def test_a_schema_whose_properties_is_a_list_is_exit_2() -> None:
    request_body = {"schema": {"type": "object", "properties": ["model", "input"]}}
    post = {"requestBody": {"content": {"application/json": request_body}}}
    docs = json.dumps({"paths": {"/v1/embeddings": {"post": post}}}).encode()

    def handler(request: Request, connection: Connection) -> None:
        origin = f"http://127.0.0.1:{server.port}"
        entry = {
            "id": "voyage-2",
            "type": "openai/embeddings",
            "info": {"docsJson": f"{origin}/docs"},
        }
        catalogue = json.dumps({"data": [entry]}).encode()
        connection.answer(200, docs if "docs" in request.path else catalogue)

    with HostileServer(handler) as server:
        result = run_cli("--check", "--base-url", server.base_url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "unexpected shape" in result.stdout


def test_an_endless_catalogue_is_cut_at_its_size_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_check, "MOST_CATALOGUE_BYTES", 1 << 20)

    def endless(request: Request, connection: Connection) -> None:
        connection.send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n[")
        for _ in range(10_000):  # 640 MB at most; the client hangs up long before
            connection.send(b"0," * 32_768)

    with HostileServer(endless) as server, pytest.raises(CatalogueError, match="more than"):
        check_catalogue(server.base_url)


def _compressed_catalogue(encoding: str, body: bytes) -> HostileServer:
    def handler(request: Request, connection: Connection) -> None:
        head = f"HTTP/1.1 200 OK\r\ncontent-encoding: {encoding}\r\n"
        connection.send(f"{head}content-length: {len(body)}\r\n\r\n".encode())
        connection.send(body)

    return HostileServer(handler)


def test_a_gzip_bomb_catalogue_is_refused_without_being_inflated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """64 MB of spaces in 64 KB of gzip: refused at the 1 MB cap, never inflated whole."""
    monkeypatch.setattr(_check, "MOST_CATALOGUE_BYTES", 1 << 20)
    bomb = gzip.compress(b" " * (64 << 20), mtime=0)
    tracemalloc.start()
    try:
        refused = pytest.raises(CatalogueError, match="more than")
        with _compressed_catalogue("gzip", bomb) as server, refused:
            check_catalogue(server.base_url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MiB allocated to refuse a 1 MB cap"


def test_a_catalogue_in_an_encoding_not_asked_for_is_refused() -> None:
    """zstd (which httpx would inflate, whole chunks at once): only gzip and deflate are asked
    for, and an answer in another encoding is one line, exit 2, not a bomb inflated."""
    with _compressed_catalogue("zstd", b"\x28\xb5\x2f\xfd" + b"\0" * 64) as server:
        with pytest.raises(CatalogueError, match="'zstd', an encoding the client did not ask"):
            check_catalogue(server.base_url)
        assert server.requests[0].headers.get("accept-encoding") == "gzip, deflate"


def test_a_dripping_catalogue_is_bounded_as_a_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_check, "FETCH_SECONDS", 1.0)

    def drip(request: Request, connection: Connection) -> None:
        connection.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
        connection.drip(b"{" + b" " * 99, 0.2)  # every read well within httpx's 20 s

    started = time.monotonic()
    with HostileServer(drip) as server, pytest.raises(httpx.TimeoutException):
        check_catalogue(server.base_url)
    assert time.monotonic() - started < 5


def _catalogue_with_slow_schemas(docs_paths: list[str], delay: float) -> HostileServer:
    """A catalogue of text-embedding-3-small entries, one per docsJson path; every schema
    answers `{}` after `delay` seconds (each fetch well within its own bound)."""

    def handler(request: Request, connection: Connection) -> None:
        if request.path.endswith("/models"):
            base = f"http://127.0.0.1:{connection.sock.getsockname()[1]}"
            entries = [
                {
                    "id": "text-embedding-3-small",
                    "type": "openai/embeddings",
                    "info": {"docsJson": base + path},
                }
                for path in docs_paths
            ]
            connection.answer(200, json.dumps({"data": entries}).encode())
            return
        time.sleep(delay)
        connection.answer(200, b"{}")

    return HostileServer(handler)


def test_the_check_is_bounded_as_a_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each fetch is bounded; many slow schemas in a row are bounded too (4 x 0.6 s against
    1.5 s in all here; 4 x 25 s took 100 s before)."""
    monkeypatch.setattr(_check, "FETCH_SECONDS", 1.0)
    monkeypatch.setattr(_check, "CHECK_SECONDS", 1.5)
    started = time.monotonic()
    slow = _catalogue_with_slow_schemas([f"/docs/{n}" for n in range(4)], 0.6)
    with slow as server, pytest.raises((CatalogueError, httpx.TimeoutException)):
        check_catalogue(server.base_url)
    assert time.monotonic() - started < 3


def test_a_schema_listed_twice_is_fetched_once() -> None:
    with _catalogue_with_slow_schemas(["/docs/same"] * 3, 0.0) as server:
        check_catalogue(server.base_url)
        fetched = [request.path for request in server.requests if "/docs/" in request.path]
    assert fetched == ["/docs/same"]


def test_terminal_escapes_in_model_ids_are_printed_escaped() -> None:
    fake = "\x1b[2J\x1b[Hno drift: the registry matches the catalogue\r"
    body = json.dumps({"data": [{"id": fake, "type": "openai/embeddings"}]}).encode()
    with serve_catalogue(body) as server:
        result = run_cli("--check", "--base-url", server.base_url)
    assert result.returncode == 1
    assert "\x1b" not in result.stdout
    assert "\r" not in result.stdout
    assert "MISSING from the registry: \\x1b[2J\\x1b[Hno drift" in result.stdout


@pytest.mark.parametrize("docs", ["http://[::1", "http://\u2488\u2488.example/x"])
def test_a_schema_url_that_cannot_be_parsed_is_one_line_and_exit_2(docs: str) -> None:
    """httpx.InvalidURL is no httpx.HTTPError: it ended --check in a traceback, exit 1."""
    entry = {
        "id": "text-embedding-3-small",
        "type": "openai/embeddings",
        "info": {"docsJson": docs},
    }
    with serve_catalogue(json.dumps({"data": [entry]}).encode()) as server:
        result = run_cli("--check", "--base-url", server.base_url)
    assert result.returncode == 2, result.stderr[-500:]
    assert "Traceback" not in result.stderr
    assert "is not a URL that can be fetched" in result.stderr + result.stdout


def test_what_a_server_wrote_is_cut_where_it_is_printed() -> None:
    huge = "A" * 100_000
    body = json.dumps({"data": [{"id": huge, "type": "openai/embeddings"}]}).encode()
    with serve_catalogue(body) as server:
        result = run_cli("--check", "--base-url", server.base_url)
    assert result.returncode == 1
    assert len(result.stdout) < 10_000
    assert re.search(r"AAAA\.\.\. \(100,\d{3} characters\)", result.stdout), result.stdout[-300:]
