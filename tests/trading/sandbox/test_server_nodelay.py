"""Every connection the sandbox accepts has TCP_NODELAY (no ~40 ms Nagle/delayed-ACK stall).

Checked on both event loops uvicorn may pick: uvloop (in the dev venv, through ccxt) and the
stdlib asyncio loop (the Docker image, which has no uvloop), which does not set the option on
sockets accepted from the sandbox's pre-bound listener by itself.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from websockets.sync.client import connect

from replay.domain.dataset import ReplayDataset
from trading.exchange.sandbox import SandboxServer, start_sandbox
from trading.exchange.sandbox.server import _bind

LOOPS = [
    "asyncio",
    pytest.param(
        "uvloop",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("uvloop") is None, reason="uvloop not installed"
        ),
    ),
]


@pytest.fixture(params=LOOPS)
def served(
    request: pytest.FixtureRequest, mini_dataset: ReplayDataset, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SandboxServer, str]]:
    """A sandbox on the asyncio loop (uvloop hidden: uvicorn's "auto" falls back) or on uvloop."""
    if request.param == "asyncio":
        monkeypatch.setitem(sys.modules, "uvloop", None)
    server = start_sandbox(mini_dataset, publish_interval_s=3600.0)
    yield server, request.param
    server.stop()


def nodelay(sock: object) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def accepted(server: SandboxServer, client_address: tuple) -> object:
    """The server-side socket of the connection from ``client_address``."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for sock in server.connection_sockets():
            if sock.getpeername()[:2] == client_address[:2]:
                return sock
        time.sleep(0.01)
    raise AssertionError(f"no server-side connection from {client_address}")


def test_the_loop_under_test_is_the_one_serving(served: tuple[SandboxServer, str]) -> None:
    server, loop = served
    with socket.create_connection((server.host, server.port)) as client:
        sock = accepted(server, client.getsockname())
        # asyncio's TransportSocket vs uvloop's PseudoSocket: the parametrisation took effect.
        assert type(sock).__module__.startswith(loop)


def test_http_keep_alive_connection_has_nodelay_on_both_ends(
    served: tuple[SandboxServer, str],
) -> None:
    server, _ = served
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=5) as http:
        response = http.get("/api/v2/server/time")
        assert response.status_code == 200
        client_sock = response.extensions["network_stream"].get_extra_info("socket")
        assert nodelay(client_sock), "httpx/httpcore should set TCP_NODELAY on its side"
        assert nodelay(accepted(server, client_sock.getsockname()))

        # The effect: sequential keep-alive requests on this one connection do not each wait
        # for a delayed ACK (~40 ms with Nagle on). Generous bound: 50 x 40 ms would be 2 s.
        started = time.perf_counter()
        for _ in range(50):
            assert http.get("/api/v2/server/time").status_code == 200
        assert time.perf_counter() - started < 1.0


def test_raw_connection_has_nodelay_before_any_request(served: tuple[SandboxServer, str]) -> None:
    server, _ = served
    with socket.create_connection((server.host, server.port)) as client:
        assert nodelay(accepted(server, client.getsockname()))


def test_websocket_connection_has_nodelay(served: tuple[SandboxServer, str]) -> None:
    server, _ = served
    with connect(server.ws_url, open_timeout=5) as ws:
        assert nodelay(accepted(server, ws.socket.getsockname()))


def test_nodelay_does_not_depend_on_the_listener_protocol_number(
    mini_dataset: ReplayDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listener made with proto 0 (asyncio then skips TCP_NODELAY): the hook still sets it."""
    monkeypatch.setitem(sys.modules, "uvloop", None)

    def bind_proto_zero(host: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((host, port))
        sock.listen(16)
        return sock

    monkeypatch.setattr("trading.exchange.sandbox.server._bind", bind_proto_zero)
    server = start_sandbox(mini_dataset, balances={"TRY": Decimal(1000)})
    try:
        assert server._socket.proto == 0
        with socket.create_connection((server.host, server.port)) as client:
            assert nodelay(accepted(server, client.getsockname()))
    finally:
        server.stop()


def test_the_listener_is_a_tcp_socket() -> None:
    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
