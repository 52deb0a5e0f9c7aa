"""Sandbox exchange: BTCTurk's REST and websocket API on loopback, over a replay dataset.

Paper trading, end-to-end tests and demos point any BTCTurk client (ours, ccxt) at it instead of
``api.btcturk.com`` (DESIGN.md section 6; contract: reference/btcturk_api.md). Set
``BTCTURK_BASE_URL`` and ``BTCTURK_GRAPH_URL`` to ``http://127.0.0.1:<port>`` and
``BTCTURK_WS_URL`` to ``ws://127.0.0.1:<port>``; one port serves all three.

Behind the API: a :class:`~trading.exchange.sandbox.market.ReplayMarket` (bar clock, tickers,
synthetic books and trades; market data, orders and fills carry **replay** times, only
``server/time`` and ``exchangeinfo.serverTime`` the wall clock clients sign with) and one
:class:`~trading.domain.venue.SimulatedVenue` per API key (orders take the current book's
levels on submit as a taker; what rests matches as bars close).

Modules: ``market``, ``book``, ``stats`` (market views); ``records``, ``accounts`` (keys,
venues, order ids, fills, private frames); ``exchange`` (the locked core and its events);
``wire``, ``wire_public``, ``frames`` (BTCTurk JSON and websocket frames); ``rest_public``,
``rest_private``, ``ws``, ``app`` (routes, fault middleware, ``/sandbox/*`` control routes);
``faults`` (spec grammar and seeded injector); ``server`` (thread for tests, ``serve`` for the
command).

Python API (tests, demos)::

    sandbox = start_sandbox(path_or_dataset, balances={"TRY": Decimal(100000)})  # port 0
    sandbox.base_url, sandbox.graph_url, sandbox.ws_url, sandbox.api_key, sandbox.api_secret
    sandbox.advance(5)                                  # close 5 bars, match every account
    sandbox.faults.force("http5xx", count=2, method="GET")   # or faults.configure("...")
    sandbox.exchange.add_account(AccountSpec(key, secret, balances))
    sandbox.stop()

Command: ``python manage.py sandbox_exchange --dataset NAME_OR_DIR`` (see its ``--help``).
"""

from __future__ import annotations

from trading.exchange.sandbox.exchange import SandboxExchange
from trading.exchange.sandbox.faults import FaultInjector, FaultSpec, FaultSpecError, parse_faults
from trading.exchange.sandbox.records import AccountSpec, FeeSchedule, generate_credentials
from trading.exchange.sandbox.server import (
    SandboxConfig,
    SandboxServer,
    is_loopback,
    serve,
    start_sandbox,
)

__all__ = [
    "AccountSpec",
    "FaultInjector",
    "FaultSpec",
    "FaultSpecError",
    "FeeSchedule",
    "SandboxConfig",
    "SandboxExchange",
    "SandboxServer",
    "generate_credentials",
    "is_loopback",
    "parse_faults",
    "serve",
    "start_sandbox",
]
