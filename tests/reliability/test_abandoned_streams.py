"""A sync stream nobody consumes any more must not keep the process alive at exit.

Left suspended (still referenced: an exception in the body of the for loop, a thread that took
one chunk and ended), its requests in flight and their retries went on, and the interpreter
waited for them at exit: timeout x (retries + 1) and more. At exit they are now stopped.
"""

from __future__ import annotations

import signal
import socket
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


def test_ctrl_c_during_a_tls_handshake_that_never_ends_exits_at_once() -> None:
    """A server that accepts the connection and never speaks TLS: the request waits in its
    handshake, which sees the stop signal only when its connect timeout ends (10 s, or the
    whole of a longer one). Ctrl-C raises at once, and the process exits at once too: its
    flows run in daemon threads, which the interpreter does not wait for."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stopping = threading.Event()

    def accept_and_say_nothing() -> None:
        listener.settimeout(0.1)
        while not stopping.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    acceptor = threading.Thread(target=accept_and_say_nothing, daemon=True)
    acceptor.start()
    script = textwrap.dedent(
        """
        import sys
        from aimlapi_embeddings import EmbeddingsClient
        client = EmbeddingsClient(api_key="aiml-sk-abandoned-0001", base_url=sys.argv[1],
                                  timeout=30, max_retries=0)
        print("calling", flush=True)
        client.embed(["a text"], dimensions=8)
        """
    )
    base_url = f"https://127.0.0.1:{listener.getsockname()[1]}/v1"
    process = subprocess.Popen(
        [sys.executable, "-c", script, base_url],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "calling\n"
        deadline = time.monotonic() + 10
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert accepted, "the client never connected: the test proved nothing"
        time.sleep(0.5)  # well into the handshake
        process.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        process.wait(timeout=40)
        exited_after = time.monotonic() - interrupted
    finally:
        process.kill()
        _, stderr = process.communicate()
        stopping.set()
        acceptor.join(timeout=5)
        listener.close()
        for connection in accepted:
            connection.close()
    assert "KeyboardInterrupt" in stderr
    assert exited_after < 5, f"the process took {exited_after:.1f} s to exit after Ctrl-C"
