"""What an exchange reports: market data and account state as frozen Decimal dataclasses.

These are the return types of the :class:`~trading.exchange.base.ExchangeClient` port (the
reconciliation reports of DESIGN.md section 5). Every adapter (BTCTurk REST and websocket,
the simulated venue) produces exactly these, so reconciliation, the ledger and the planner
never see a venue's wire format. Units: prices quote per base unit, quantities base units,
times epoch milliseconds UTC, ids strings (BTCTurk trade ids exceed 2**53).

One type represents an order in each layer: the planner sends an
:class:`~trading.domain.orders.OrderRequest` and sees resting orders as :class:`OrderReport`;
every venue and the exchange port (BTCTurk, the simulated venue, its adapter) answer with
:class:`OrderReport`; the database holds ``trading.models.Order``; the sandbox exchange's wire
side keeps its ``OrderRecord``. A fill is a :class:`TradeReport` until the ledger turns it
into a ``ledger.domain.fills.Fill`` (``trading.domain.cycle.fill_from_trade``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading.domain.orders import OrderStatus, OrderType, Side
from trading.domain.symbols import Symbol

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Ticker:
    """Last price and top of book of one symbol (reference/btcturk_api.md 2.2).

    ``bid``/``ask`` may be ``None`` when the venue has no book side; ``open``/``high``/``low``/
    ``volume`` (base units) cover the venue's rolling day and are ``None`` when not reported.
    """

    symbol: Symbol
    ts_ms: int
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    volume: Decimal | None = None

    @property
    def mid(self) -> Decimal | None:
        """``(bid + ask) / 2`` when both sides are known, else ``None``."""
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class BookLevel:
    """One price level: ``price`` quote per base unit, ``quantity`` base units (> 0)."""

    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Top of the order book (reference 2.3): bids best (highest) first, asks best (lowest) first."""

    symbol: Symbol
    ts_ms: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        """Mid price, or ``None`` when a side is empty."""
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2

    @property
    def spread_bps(self) -> Decimal | None:
        """``(ask - bid) / mid`` in basis points, or ``None`` when a side is empty."""
        mid = self.mid
        if mid is None or mid == 0:
            return None
        return (self.asks[0].price - self.bids[0].price) / mid * 10000


@dataclass(frozen=True, slots=True)
class PublicTrade:
    """One public trade (reference 2.4). ``side`` is the taker's side."""

    symbol: Symbol
    trade_id: str
    ts_ms: int
    price: Decimal
    quantity: Decimal
    side: Side


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV candle. ``ts_ms`` is the open time; ``volume`` base units."""

    symbol: Symbol
    ts_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class AssetBalance:
    """Balance of one asset (reference 4.1): ``free`` tradable, ``locked`` in orders/withdrawals."""

    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class OrderReport:
    """An order as the exchange reports it (reference 4.4-4.6).

    ``quantity`` is the original size in base units (for a market buy, BTCTurk reports the
    quote amount to spend here; ``order_type`` says which); ``remaining`` what is left unfilled
    in the same unit. ``price`` is ``None`` for market orders. ``client_order_id`` is ``""``
    when the exchange did not echo one. ``status`` uses our states: Untouched -> ``OPEN``,
    Partial -> ``PARTIALLY_FILLED``, Closed -> ``FILLED``, Canceled -> ``CANCELED``.
    """

    order_id: str
    client_order_id: str
    symbol: Symbol
    side: Side
    order_type: OrderType
    status: OrderStatus
    price: Decimal | None
    quantity: Decimal
    remaining: Decimal
    created_ms: int
    updated_ms: int

    @property
    def filled(self) -> Decimal:
        """Filled size, in the unit of ``quantity``."""
        return self.quantity - self.remaining


@dataclass(frozen=True, slots=True)
class TradeReport:
    """One of our own fills (reference 4.2, websocket 423).

    ``quantity`` is positive base units whatever the side; ``fee`` and ``tax`` are positive
    amounts charged in ``fee_asset`` (BTCTurk reports them negative; ``tax`` is VAT on the
    fee). ``client_order_id`` is ``""`` when the source does not carry it (REST trades).
    ``liquidity`` is ``"maker"`` or ``"taker"`` when the venue says which (the simulated
    venue, websocket events), ``None`` when it does not (BTCTurk REST trades).
    """

    trade_id: str
    order_id: str
    client_order_id: str
    symbol: Symbol
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    tax: Decimal
    fee_asset: str
    ts_ms: int
    liquidity: str | None = None

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity


@dataclass(frozen=True, slots=True)
class SubmitAck:
    """The exchange accepted an order (reference 4.7). ``ts_ms`` is its ``datetime``."""

    order_id: str
    client_order_id: str
    symbol: Symbol
    side: Side
    order_type: OrderType
    price: Decimal | None
    quantity: Decimal
    ts_ms: int


@dataclass(frozen=True, slots=True)
class CancelAck:
    """The exchange accepted a cancel request (reference 4.8).

    Since 2024-04 BTCTurk's 200 means "accepted after validation"; the final outcome is the
    order's status (websocket 452 or a REST read), so this is not proof of cancellation.
    """

    order_id: str
