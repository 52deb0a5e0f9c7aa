"""The exchange ports of an account's cycle (DESIGN.md section 1: only the ports differ).

- **live**: one :class:`~trading.exchange.btcturk.client.BtcturkClient` from the ``BTCTURK_*``
  settings (BTCTurk, or the sandbox exchange when ``BTCTURK_BASE_URL`` points at it) for both
  market data and orders;
- **paper**: market data from that client's public endpoints (no key needed), orders on the
  account's simulated venue restored from its rows (:mod:`trading.services.paper`) behind a
  :class:`~trading.exchange.simulated.SimulatedExchange` whose clock is the cycle's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol
from trading.domain.venue import SimulatedVenue
from trading.exchange.base import ExchangeClient
from trading.exchange.btcturk.client import btcturk_client_from_settings
from trading.exchange.simulated import SimulatedExchange
from trading.models import Account, Instrument
from trading.selectors import instrument_rules
from trading.services.instruments import instruments_sync
from trading.services.paper import paper_venue_load


@dataclass(slots=True)
class PaperSession:
    """A paper account's venue for one cycle: the venue, its port and its bar cursor
    (symbol -> open time of the last bar matched, epoch ms)."""

    venue: SimulatedVenue
    exchange: SimulatedExchange
    cursor: dict[Symbol, int]
    clock: list[int]

    def set_clock(self, now_ms: int) -> None:
        self.clock[0] = now_ms


@dataclass(slots=True)
class AccountPorts:
    """``market`` answers market data (and, live, everything); ``orders`` is the venue the
    execution service submits to; ``rules`` the exchange rules of the account's symbols (from
    ``Instrument`` rows, read once); ``paper`` is set for paper accounts only."""

    market: ExchangeClient
    orders: ExchangeClient
    rules: dict[Symbol, ExchangeRules] = field(default_factory=dict)
    paper: PaperSession | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()
        self.closers.clear()


def account_ports(account: Account) -> AccountPorts:
    """Ports for ``account`` (module docstring). Raises ``ConfigurationError`` for unusable
    ``BTCTURK_*`` settings."""
    client = btcturk_client_from_settings()
    ports = AccountPorts(market=client, orders=client, closers=[client.close])
    instruments_ensure(account, client)
    ports.rules = instrument_rules(account.symbol_list)
    if not account.is_live:
        ports.paper = paper_session_open(account, ports.rules)
        ports.orders = ports.paper.exchange
    return ports


def paper_session_open(account: Account, rules: dict[Symbol, ExchangeRules]) -> PaperSession:
    """Restore ``account``'s venue from its rows, behind a simulated exchange port."""
    venue, cursor = paper_venue_load(account=account, rules=rules)
    clock = [0]
    exchange = SimulatedExchange(venue, rules=rules, clock=lambda: clock[0])
    return PaperSession(venue=venue, exchange=exchange, cursor=cursor, clock=clock)


def instruments_ensure(account: Account, client: ExchangeClient) -> None:
    """Sync ``Instrument`` rows from the exchange when one of the account's symbols has none
    (a fresh database); afterwards the hourly ``instruments_sync`` task keeps them current."""
    names = {symbol.pair_normalized for symbol in account.symbol_list}
    if Instrument.objects.filter(symbol__in=names).count() < len(names):
        instruments_sync(client=client)


def cycle_clock(account: Account, ports: AccountPorts) -> int:
    """The cycle clock of ``account`` now (module docstring), epoch ms UTC."""
    if settings.TRADING_CLOCK == "exchange":
        tickers = ports.market.tickers(account.symbol_list)
        raw = max((t.ts_ms for t in tickers), default=0)
    else:
        raw = time.time_ns() // 1_000_000
    interval = account.bar_interval_s * 1000
    return raw // interval * interval
