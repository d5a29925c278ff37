"""A call's flows when the call stops: a request cut short by a failure elsewhere ends its flow
as stopped, so that the first real failure is the one raised, never the connection error of the
cut (which the scheduler may collect first)."""

from __future__ import annotations

import threading

import pytest
from hostile import Connection, HostileServer, Request, answer_embeddings

from aimlapi_embeddings import EmbeddingsClient
from aimlapi_embeddings._gate import Gate, SyncCall
from aimlapi_embeddings._transport import _Stopped, drive_sync

KEY = "aiml-sk-stopped-flows-7Hq2"


def test_a_request_cut_short_by_the_call_stopping_ends_its_flow_as_stopped() -> None:
    release = threading.Event()
    arrived = threading.Event()

    def hold(request: Request, connection: Connection) -> None:
        arrived.set()
        connection.hold(release)
        answer_embeddings(request, connection)

    with HostileServer(hold) as server:
        client = EmbeddingsClient(api_key=KEY, base_url=server.base_url, max_retries=0)
        call = client._prepare("list", dimensions=8)
        window = call.window(["held"], 0)
        (flow,) = window.flows
        stop = threading.Event()
        threading.Thread(target=lambda: arrived.wait(5) and stop.set()).start()
        try:
            with client._pools.client() as http, pytest.raises(_Stopped):
                drive_sync(flow(), http, Gate(1), stop, SyncCall())
        finally:
            release.set()
            client.close()
