"""The exchange ports of an account's cycle (DESIGN.md section 1: only the ports differ).

- **live**: the process's :class:`~trading.exchange.btcturk.client.BtcturkClient` for the
  ``BTCTURK_*`` settings (BTCTurk, or the sandbox exchange when ``BTCTURK_BASE_URL`` points at
  it; :func:`~trading.exchange.btcturk.client.btcturk_client_shared`, so cycles reuse its
  connections and measured clock offset) for both market data and orders;
- **paper**: market data from that client's public endpoints (no key needed), orders on the
  account's simulated venue restored from its rows (:mod:`trading.services.paper`) behind a
  :class:`~trading.exchange.simulated.SimulatedExchange` whose clock is the cycle's.

``market`` is a :class:`CycleMarket` over the client: the tickers that
:func:`cycle_clock` read (``TRADING_CLOCK=exchange``) also serve the snapshot's quotes, so a
cycle asks for tickers once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings

from trading.domain.reports import Ticker
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol
from trading.domain.venue import SimulatedVenue
from trading.exchange.base import ExchangeClient
from trading.exchange.btcturk.client import btcturk_client_shared
from trading.exchange.simulated import SimulatedExchange
from trading.models import Account
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
    """Ports for ``account`` (module docstring). The shared client is not closed with the
    ports (:func:`~trading.exchange.btcturk.client.btcturk_clients_close` does that at process
    exit). Raises ``ConfigurationError`` for unusable ``BTCTURK_*`` settings."""
    client = btcturk_client_shared()
    ports = AccountPorts(market=CycleMarket(client), orders=client)
    ports.rules = instruments_ensure(account, client)
    if not account.is_live:
        ports.paper = paper_session_open(account, ports.rules)
        ports.orders = ports.paper.exchange
    return ports


class CycleMarket:
    """The market-data port of one cycle: ``client``'s methods, except that the tickers read
    by :meth:`tickers_fresh` (the cycle clock) answer the next :meth:`tickers` call for the
    same or fewer symbols (the snapshot's quotes) once, if that call comes within
    ``reuse_s`` seconds of ``clock`` (monotonic seconds). Any other call goes to ``client``."""

    def __init__(
        self,
        client: ExchangeClient,
        *,
        reuse_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._reuse_s = reuse_s
        self._clock = clock
        self._held: tuple[float, frozenset[Symbol], tuple[Ticker, ...]] | None = None

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def tickers_fresh(self, symbols: Sequence[Symbol]) -> tuple[Ticker, ...]:
        """Tickers of ``symbols`` from the venue now (one request), kept for the next
        :meth:`tickers`."""
        tickers = self._client.tickers(symbols)
        self._held = (self._clock(), frozenset(symbols), tickers)
        return tickers

    def tickers(self, symbols: Sequence[Symbol] | None = None) -> tuple[Ticker, ...]:
        """As ``ExchangeClient.tickers``; answered from the held tickers when they cover
        ``symbols`` and are younger than ``reuse_s`` (then dropped: used once)."""
        held, self._held = self._held, None
        if held is not None and symbols is not None:
            taken_at, covered, tickers = held
            wanted = set(symbols)
            if wanted <= covered and self._clock() - taken_at <= self._reuse_s:
                return tuple(t for t in tickers if t.symbol in wanted)
        return self._client.tickers(symbols)


def paper_session_open(account: Account, rules: dict[Symbol, ExchangeRules]) -> PaperSession:
    """Restore ``account``'s venue from its rows, behind a simulated exchange port."""
    venue, cursor = paper_venue_load(account=account, rules=rules)
    clock = [0]
    exchange = SimulatedExchange(venue, rules=rules, clock=lambda: clock[0])
    return PaperSession(venue=venue, exchange=exchange, cursor=cursor, clock=clock)


def instruments_ensure(account: Account, client: ExchangeClient) -> dict[Symbol, ExchangeRules]:
    """The exchange rules of the account's symbols from their ``Instrument`` rows, syncing the
    rows from the exchange first when a symbol has none (a fresh database); afterwards the
    hourly ``instruments_sync`` task keeps them current. One query when every row exists."""
    rules = instrument_rules(account.symbol_list)
    if len(rules) < len({symbol.pair_normalized for symbol in account.symbol_list}):
        instruments_sync(client=client)
        rules = instrument_rules(account.symbol_list)
    return rules


def cycle_clock(account: Account, ports: AccountPorts) -> int:
    """The cycle clock of ``account`` now (module docstring), epoch ms UTC."""
    if settings.TRADING_CLOCK == "exchange":
        market = ports.market
        read = market.tickers_fresh if isinstance(market, CycleMarket) else market.tickers
        tickers = read(account.symbol_list)
        raw = max((t.ts_ms for t in tickers), default=0)
    else:
        raw = time.time_ns() // 1_000_000
    interval = account.bar_interval_s * 1000
    return raw // interval * interval
