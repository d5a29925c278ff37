"""`python -m aimlapi_embeddings.testing`: starts, prints what to paste, serves, stops cleanly."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0


@pytest.fixture
def cli() -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "aimlapi_embeddings.testing", "--port", "0", "--seed", "3"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        reader.join(timeout=10)
        stdout.close()


def read_until(lines: queue.Queue[str], marker: str) -> str:
    seen = ""
    while marker not in seen:
        try:
            seen += lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"no {marker!r} within {START_TIMEOUT} s; output so far:\n{seen}")
    return seen


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_cli_serves_and_stops_cleanly(
    cli: tuple[subprocess.Popen[str], queue.Queue[str]], stop_signal: signal.Signals
) -> None:
    process, lines = cli
    banner = read_until(lines, "Press Ctrl+C to stop.")
    base_url = re.search(r"base URL: (\S+)", banner)
    api_key = re.search(r"API key:\s+(\S+)", banner)
    assert base_url is not None
    assert api_key is not None
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base_url[1])
    assert "NOT the real models' vectors" in banner
    assert f"curl -s {base_url[1]}/embeddings -H 'Authorization: Bearer {api_key[1]}'" in banner
    assert f"AIMLAPI_BASE_URL={base_url[1]}" in banner

    response = httpx.post(
        f"{base_url[1]}/embeddings",
        json={"model": "text-embedding-3-small", "input": ["hello world"], "dimensions": 8},
        headers={"Authorization": f"Bearer {api_key[1]}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert len(response.json()["data"][0]["embedding"]) == 8

    process.send_signal(stop_signal)
    assert process.wait(timeout=10) == 0
    assert "emulator stopped" in read_until(lines, "emulator stopped")


def test_cli_refuses_bad_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aimlapi_embeddings.testing", "--error-rate", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "error_rate must be between 0 and 1" in result.stderr


def test_an_app_in_another_process_reads_and_resets_the_counters(
    cli: tuple[subprocess.Popen[str], queue.Queue[str]],
) -> None:
    process, lines = cli
    banner = read_until(lines, "Press Ctrl+C to stop.")
    base_url = re.search(r"base URL: (\S+)", banner)
    api_key = re.search(r"API key:\s+(\S+)", banner)
    assert base_url is not None
    assert api_key is not None
    stats_url = base_url[1].removesuffix("/v1") + "/emulator/stats"
    assert f"curl -s {stats_url}" in banner

    # The app under test: its own client, in its own process, as a user's app would be.
    app = (
        "from aimlapi_embeddings import EmbeddingsClient\n"
        "import sys\n"
        "with EmbeddingsClient(api_key=sys.argv[1], base_url=sys.argv[2], max_retries=0) as c:\n"
        "    c.embed([f'text {i}' for i in range(300)] + ['text 0'], batch_size=100)\n"
    )
    subprocess.run([sys.executable, "-c", app, api_key[1], base_url[1]], check=True, timeout=60)
    unauthorized = httpx.post(f"{base_url[1]}/embeddings", json={}, timeout=10)
    assert unauthorized.status_code == 401

    stats = httpx.get(stats_url, timeout=10).json()
    assert stats["requests"] == 4  # 300 distinct texts in requests of 100, and the 401
    assert stats["by_status"] == {"200": 3, "401": 1}
    assert stats["inputs"] == 300  # the repeated text was sent once
    assert stats["tokens"] > 300
    assert stats["schema_violations"] == 0
    assert httpx.get(stats_url, timeout=10).json() == stats  # reading does not count

    reset = httpx.post(stats_url + "/reset", timeout=10).json()
    assert (reset["requests"], reset["inputs"], reset["tokens"], reset["by_status"]) == (
        0,
        0,
        0,
        {},
    )

    httpx.post(
        f"{base_url[1]}/embeddings",
        json={"model": "text-embedding-3-small", "input": ["one more"]},
        headers={"Authorization": f"Bearer {api_key[1]}"},
        timeout=10,
    )
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
    summary = read_until(lines, "at once")
    assert "emulator stopped: 1 embedding requests (1 x 200), 1 inputs and" in summary
    assert "0 schema violations" in summary
