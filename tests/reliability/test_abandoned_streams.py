"""A sync stream nobody consumes any more must not keep the process alive at exit.

Left suspended (still referenced: an exception in the body of the for loop, a thread that took
one chunk and ended), its requests in flight and their retries went on, and the interpreter
waited for them at exit: timeout x (retries + 1) and more. At exit they are now stopped.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hostile import Connection, HostileServer, Request, answer_embeddings

REPO = Path(__file__).resolve().parents[2]

PROLOGUE = """
import sys, threading, time
from aimlapi_embeddings import EmbeddingsClient

client = EmbeddingsClient(api_key="aiml-sk-abandoned-0001", base_url=sys.argv[1], timeout=20,
                          max_retries=2, max_concurrency=4)
texts = (f"text {i}" for i in range(1_000_000))
"""
LEAVERS = {
    "exception in the loop's body": """
stream = client.embed_stream(texts, chunk_size=32, dimensions=8)
for chunk in stream:
    print("got", flush=True)
    time.sleep(1.0)  # the next windows' requests are in flight, and hang
    print("leaving", flush=True)
    raise RuntimeError("the consumer failed")
""",
    "a thread took one chunk": """
kept = []

def consume():
    stream = client.embed_stream(texts, chunk_size=32, dimensions=8)
    kept.append(stream)
    next(stream)
    print("got", flush=True)

worker = threading.Thread(target=consume)
worker.start()
worker.join()
time.sleep(1.0)
print("leaving", flush=True)
""",
}


@pytest.mark.parametrize("leaver", LEAVERS)
def test_a_process_exits_promptly_with_a_suspended_stream(leaver: str) -> None:
    release = threading.Event()

    def first_window_only(request: Request, connection: Connection) -> None:
        # The first chunk's request is answered; the next windows' hang, in flight.
        if "text 0" in request.texts:
            answer_embeddings(request, connection)
        else:
            connection.hold(release)

    with HostileServer(first_window_only) as server:
        script = textwrap.dedent(PROLOGUE) + textwrap.dedent(LEAVERS[leaver])
        process = subprocess.Popen(
            [sys.executable, "-c", script, server.base_url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline() == "got\n"
        assert process.stdout.readline() == "leaving\n"
        hanging = server.in_flight
        left = time.monotonic()
        try:
            process.wait(timeout=30)
        finally:
            process.kill()
            process.communicate()
            release.set()
        exited_after = time.monotonic() - left
    assert hanging >= 1, "nothing was in flight: the test proved nothing"
    assert exited_after < 5, f"the process took {exited_after:.1f} s to exit"
