"""Running the sandbox exchange: in a background thread for tests, or blocking for the command.

Typical test use::

    with start_sandbox("data/sample/try-1m", balances={"TRY": Decimal(100000)}) as sandbox:
        sandbox.base_url, sandbox.graph_url, sandbox.ws_url   # http://127.0.0.1:<port>, ws://...
        sandbox.api_key, sandbox.api_secret                   # the first account
        sandbox.advance(3)                                    # close three more bars
        sandbox.faults.force("http5xx", count=2, method="GET") # next two GETs answer 503

The server binds its socket before starting (port 0 = a free port), so the URLs are known at
once; :meth:`SandboxServer.start` returns when uvicorn accepts connections (or raises
``RuntimeError`` after ``timeout`` seconds).

Every accepted connection gets ``TCP_NODELAY`` (:class:`NoDelayHTTPProtocol`). Without it a
keep-alive client stalls about 40 ms per request (Nagle holding the response's last segment
until the client's delayed ACK): ~180 req/s instead of thousands with 8 clients
(``bench/sandbox_throughput.py``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from replay.domain.dataset import ReplayDataset, load_dataset
from trading.exchange.sandbox.app import build_app
from trading.exchange.sandbox.book import BookShape
from trading.exchange.sandbox.exchange import SandboxExchange
from trading.exchange.sandbox.faults import FaultInjector, FaultSpec
from trading.exchange.sandbox.records import AccountSpec, FeeSchedule, generate_credentials

DEFAULT_QUOTE_BALANCE = Decimal(100_000)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names the loopback interface (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on ``transport``'s TCP socket (no-op for other sockets)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHTTPProtocol(AutoHTTPProtocol):
    """uvicorn's HTTP protocol (httptools or h11, as uvicorn's ``http="auto"`` picks) with
    ``TCP_NODELAY`` set on each accepted connection; passed as ``uvicorn.Config(http=...)``,
    which takes a protocol class. A websocket upgrade keeps the same socket.

    Why a hook: uvloop sets ``TCP_NODELAY`` on accepted sockets, but the stdlib asyncio loop
    (uvicorn's choice without uvloop, as in the Docker image: uvloop is only in the dev venv,
    through ccxt) only does so for sockets whose ``proto`` is ``IPPROTO_TCP``, and a socket
    accepted from a listener made with ``socket.socket(family, SOCK_STREAM)`` has ``proto``
    0. Setting the option here does not depend on the loop, on how the listener was made, or
    on whether the OS copies the listener's options to accepted sockets.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:
        set_nodelay(transport)
        super().connection_made(transport)


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything a sandbox needs. ``accounts`` empty = one generated key whose balances are
    ``default_balances`` (or 100,000 of the dataset's quote asset). ``seed`` seeds the fault
    injector (a ``seed=`` in ``faults`` wins) and the synthetic books. A ``host`` that is not
    loopback needs ``allow_remote`` (anyone reaching the port can trade its accounts)."""

    dataset: ReplayDataset
    host: str = "127.0.0.1"
    port: int = 0
    allow_remote: bool = False
    accounts: tuple[AccountSpec, ...] = ()
    default_balances: Mapping[str, Decimal] | None = None
    speed: float = 0.0
    faults: FaultSpec | str | None = None
    seed: int = 0
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    spread_bps: Decimal = Decimal(10)
    depth: int = 100
    warmup_steps: int | None = None
    max_volume_share: Decimal | None = None
    publish_interval_s: float = 1.0


class SandboxServer:
    """A sandbox exchange on a bound loopback socket (module docstring)."""

    def __init__(self, config: SandboxConfig) -> None:
        if not is_loopback(config.host) and not config.allow_remote:
            raise ValueError(f"host {config.host} is not loopback; set allow_remote to expose it")
        self.config = config
        accounts = config.accounts
        if not accounts:
            key, secret = generate_credentials()
            balances = config.default_balances or {
                config.dataset.quote_asset: DEFAULT_QUOTE_BALANCE
            }
            accounts = (AccountSpec(key, secret, dict(balances)),)
        self.account_specs = accounts
        self.exchange = SandboxExchange(
            config.dataset,
            accounts=accounts,
            fees=config.fees,
            shape=BookShape(spread_bps=config.spread_bps, depth=config.depth, seed=config.seed),
            warmup_steps=config.warmup_steps,
            max_volume_share=config.max_volume_share,
            speed=config.speed,
        )
        self.faults = FaultInjector(config.faults, seed=config.seed)
        self.app = build_app(
            self.exchange, self.faults, publish_interval_s=config.publish_interval_s
        )
        self._socket = _bind(config.host, config.port)
        self.host, self.port = config.host, self._socket.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- addresses and credentials ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``BTCTURK_BASE_URL``: public ``/api/v2`` and private ``/api/v1`` live under it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def graph_url(self) -> str:
        """``BTCTURK_GRAPH_URL``: the same host (``/v1/ohlcs``, ``/v1/klines/history``)."""
        return self.base_url

    @property
    def ws_url(self) -> str:
        """``BTCTURK_WS_URL``: the websocket feed at the root path (``/ws`` works too)."""
        return "ws" + self.base_url[len("http") :]

    @property
    def api_key(self) -> str:
        return self.account_specs[0].api_key

    @property
    def api_secret(self) -> str:
        return self.account_specs[0].api_secret

    def env(self) -> dict[str, str]:
        """The settings to export so the project's BTCTurk client talks to this sandbox."""
        return {
            "BTCTURK_BASE_URL": self.base_url,
            "BTCTURK_GRAPH_URL": self.graph_url,
            "BTCTURK_WS_URL": self.ws_url,
            "BTCTURK_API_KEY": self.api_key,
        }

    # --- control --------------------------------------------------------------------------------

    def advance(self, bars: int = 1) -> int:
        """Close up to ``bars`` more bars now (matching every account); returns how many."""
        return self.exchange.advance(bars)

    def _uvicorn(self) -> uvicorn.Server:
        config = uvicorn.Config(
            self.app,
            http=NoDelayHTTPProtocol,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        return self._server

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Serve in a daemon thread; returns once connections are accepted."""
        server = self._uvicorn()
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [self._socket]},
            name="sandbox-exchange",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sandbox exchange did not start")
            time.sleep(0.01)
        return self

    def stop(self, *, wait: bool = True, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit (idempotent); with ``wait`` join its thread (up to ``timeout``).

        Without ``wait`` the server finishes shutting down in the background (about 0.2 s):
        test fixtures use that to keep suites fast.
        """
        if self._thread is None:
            self._socket.close()  # never served: nobody else owns the socket
            return
        self.app.closing.set()
        self._server.should_exit = True
        if wait and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def connection_sockets(self) -> list[Any]:
        """The server side of each open client connection (diagnostics and tests): the
        loop's read-only socket views (``getsockopt``, ``getsockname``, ``getpeername``).

        Call it while the connections are idle: uvicorn updates the set in its own thread.
        """
        if self._server is None:
            return []
        connections = list(self._server.server_state.connections)
        sockets = (c.transport.get_extra_info("socket") for c in connections)
        return [sock for sock in sockets if sock is not None]

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (uvicorn handles Ctrl-C)."""
        self._uvicorn().run(sockets=[self._socket])

    def __enter__(self) -> SandboxServer:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def summary(self) -> str:
        """One line: where it listens, what it replays, and the values to export."""
        market = self.exchange.market
        exports = " ".join(f"{k}={v}" for k, v in self.env().items())
        secret = ""
        if not self.config.accounts:
            secret = f" BTCTURK_API_SECRET={self.api_secret}"
        return (
            f"sandbox exchange on {self.base_url} replaying {len(market.symbols)} symbols "
            f"({market.steps}/{market.total_steps} bars closed, speed {self.exchange.speed:g}); "
            f"export {exports}{secret}"
        )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: the asyncio loop copies ``proto`` to accepted sockets
    # and enables TCP_NODELAY only on those it sees as TCP (NoDelayHTTPProtocol does anyway).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def start_sandbox(
    dataset: ReplayDataset | Path | str,
    *,
    balances: Mapping[str, Decimal] | None = None,
    accounts: Sequence[AccountSpec] = (),
    **options: object,
) -> SandboxServer:
    """Load ``dataset`` (a directory or a loaded dataset) and start a sandbox in a thread.

    ``balances`` are the generated account's starting balances; other keyword arguments are
    :class:`SandboxConfig` fields (``speed``, ``faults``, ``seed``, ``warmup_steps``, ...).
    """
    if not isinstance(dataset, ReplayDataset):
        dataset = load_dataset(Path(dataset))
    config = SandboxConfig(
        dataset=dataset, accounts=tuple(accounts), default_balances=balances, **options
    )
    return SandboxServer(config).start()


def serve(
    config: SandboxConfig, *, on_ready: Callable[[SandboxServer], None] | None = None
) -> None:
    """Run a sandbox in the calling thread until interrupted; ``on_ready`` gets it first."""
    server = SandboxServer(config)
    if on_ready is not None:
        on_ready(server)
    server.serve_forever()
