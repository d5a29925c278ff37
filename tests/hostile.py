"""A hostile loopback server: raw HTTP/1.1 whose answers a test scripts byte by byte.

The emulator answers like the API; this answers like an attacker or a broken proxy: it echoes the
key in any encoding, drips bytes, sends gzip bombs and endless bodies, nests JSON past the stack,
holds requests open, and counts connections so that a test can see who reused which socket.

127.0.0.1 only. Every loop ends when the server stops or its peer goes away, and every wait has
a bound, so a client that misbehaves fails a test instead of hanging it.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakes import vector_for

# Socket operations wait at most this long before looking at whether the server is stopping.
_POLL = 0.05
# Nothing a test does with one connection takes longer than this.
_LIMIT = 30.0


class PeerGone(Exception):
    """The client closed the connection (or the server is stopping)."""


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names; a repeated header's values joined by ", "."""
    header_lines: list[tuple[str, str]]
    body: bytes
    connection: int
    """The number of the connection it came on, counting from 1 in order of arrival."""

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def texts(self) -> list[str]:
        sent = self.json()["input"]
        return sent if isinstance(sent, list) else [sent]


class Connection:
    """One accepted socket; the handler writes its answer through it."""

    def __init__(self, sock: socket.socket, number: int, stopping: threading.Event) -> None:
        self.sock = sock
        self.number = number
        self._stopping = stopping
        self._buffer = b""
        self.sent = 0
        self.before_send: Callable[[], None] = lambda: None
        """The server's hook: a request stops counting as in flight when its answer starts."""
        sock.settimeout(_POLL)

    def _read_some(self, deadline: float) -> bytes:
        while not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                raise PeerGone from exc
            if not data:
                raise PeerGone
            return data
        raise PeerGone

    def read_request(self) -> Request:
        deadline = time.monotonic() + _LIMIT
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._read_some(deadline)
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        header_lines = [
            (name.strip().lower(), value.strip())
            for name, value in (line.split(":", 1) for line in lines[1:])
        ]
        headers: dict[str, str] = {}
        for name, value in header_lines:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            self._buffer += self._read_some(deadline)
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return Request(method, path, headers, header_lines, body, self.number)

    def send(self, data: bytes) -> None:
        if self._stopping.is_set():
            raise PeerGone
        self.before_send()
        try:
            self.sock.settimeout(_LIMIT)
            self.sock.sendall(data)
            self.sock.settimeout(_POLL)
        except OSError as exc:
            raise PeerGone from exc
        self.sent += len(data)

    def drip(self, data: bytes, interval: float) -> None:
        """Send `data` a byte at a time, `interval` seconds apart."""
        for position in range(len(data)):
            self.send(data[position : position + 1])
            if self._stopping.wait(interval):
                raise PeerGone

    def hold(self, release: threading.Event) -> None:
        """Answer nothing until `release` is set (or the client hangs up, or the server stops)."""
        deadline = time.monotonic() + _LIMIT
        while not release.wait(_POLL):
            if self._stopping.is_set() or time.monotonic() > deadline or self._hung_up():
                raise PeerGone

    def _hung_up(self) -> bool:
        readable, _, _ = select.select([self.sock], [], [], 0)
        if not readable:
            return False
        try:
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def answer(
        self,
        status: int = 200,
        body: bytes | object = b"",
        *,
        reason: str = "OK",
        headers: dict[str, str] | None = None,
    ) -> None:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send(head(status, reason, {"content-length": str(len(body)), **(headers or {})}))
        self.send(body)


def head(status: int, reason: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


Handler = Callable[[Request, Connection], None]


def embeddings(request: Request, width: int | None = None) -> dict[str, Any]:
    """The valid answer to `request`: one float vector per text, a function of the text, as
    wide as the request's `dimensions` (else `width`, else 8)."""
    width = width or request.json().get("dimensions") or 8
    data = [
        {"object": "embedding", "index": index, "embedding": vector_for(text, width)}
        for index, text in enumerate(request.texts)
    ]
    tokens = len(data)
    return {
        "object": "list",
        "data": data,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def answer_embeddings(request: Request, connection: Connection) -> None:
    connection.answer(200, embeddings(request))


@dataclass
class HostileServer:
    """Serves `handler` on 127.0.0.1 until the `with` block ends; records what it saw."""

    handler: Handler = answer_embeddings
    requests: list[Request] = field(default_factory=list)
    connections_opened: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0

    def __post_init__(self) -> None:
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._open: set[Connection] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def __enter__(self) -> HostileServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections_opened += 1
                connection = Connection(sock, self.connections_opened, self._stopping)
                self._open.add(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: Connection) -> None:
        try:
            while not self._stopping.is_set():
                request = connection.read_request()
                with self._lock:
                    self.requests.append(request)
                    self.in_flight += 1
                    self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                # Settled as the answer starts, not once it is written: the client may have read
                # it and sent its next request before this thread runs again.
                settled = threading.Event()

                def settle(settled: threading.Event = settled) -> None:
                    with self._lock:
                        if not settled.is_set():
                            settled.set()
                            self.in_flight -= 1

                connection.before_send = settle
                try:
                    self.handler(request, connection)
                finally:
                    settle()
        except PeerGone:
            pass
        finally:
            with self._lock:
                self._open.discard(connection)
            connection.sock.close()
