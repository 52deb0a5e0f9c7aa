"""The ``ExchangeClient`` port: what the cycle needs from a venue, and nothing else.

Implementations: :class:`trading.exchange.btcturk.client.BtcturkClient` (BTCTurk REST, also
pointed at the sandbox exchange) and :class:`trading.exchange.simulated.SimulatedExchange`
(the in-memory venue of backtests and paper trading).

=======================  ========  =============================================================
method                   required  BTCTurk source (reference/btcturk_api.md)
=======================  ========  =============================================================
``exchange_rules``       yes       2.1 ``GET /api/v2/server/exchangeinfo``
``tickers``              yes       2.2 ``GET /api/v2/ticker``
``order_book``           yes       2.3 ``GET /api/v2/orderbook``
``recent_trades``        optional  2.4 ``GET /api/v2/trades``
``candles``              optional  2.5 graph API ``klines/history``
``server_time_ms``       yes       2.6 ``GET /api/v2/server/time``
``balances``             yes       4.1 ``GET /api/v1/users/balances``
``open_orders``          yes       4.4 ``GET /api/v1/openOrders``
``all_orders``           yes       4.5 ``GET /api/v1/allOrders``
``order``                yes       4.6 ``GET /api/v1/order/{id}``
``user_trades``          yes       4.2 ``GET /api/v1/users/transactions/trade``
``submit_order``         yes       4.7 ``POST /api/v1/order``
``cancel_order``         yes       4.8 ``DELETE /api/v1/order?id=``
=======================  ========  =============================================================

An optional method an implementation lacks raises :class:`NotSupported`. Every method raises
only :mod:`trading.exchange.errors` types: ``RetryableError`` (already retried where allowed),
``NonRetryableError`` (``OrderRejected``, ``OrderNotFound``, ``PayloadError``),
``OutcomeUncertain`` (writes only) or ``FatalError``. Reads may be retried by the adapter;
``submit_order`` and ``cancel_order`` never are. Only the execution service may call them
(``tests/test_architecture.py``), after the safety gate (DESIGN.md section 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from trading.domain.orders import OrderRequest
from trading.domain.reports import (
    AssetBalance,
    CancelAck,
    Candle,
    OrderBook,
    OrderReport,
    PublicTrade,
    SubmitAck,
    Ticker,
    TradeReport,
)
from trading.domain.rules import RulesBook
from trading.domain.symbols import Symbol
from trading.exchange.errors import NonRetryableError


class NotSupported(NonRetryableError):
    """An optional port method this implementation does not provide."""


@runtime_checkable
class ExchangeClient(Protocol):
    """A spot venue. Shapes and units: see :mod:`trading.domain.reports`."""

    def exchange_rules(self) -> RulesBook:
        """Trading rules per symbol; entries that cannot be parsed are in ``skipped``."""
        ...

    def tickers(self, symbols: Sequence[Symbol] | None = None) -> tuple[Ticker, ...]:
        """Tickers of ``symbols`` (``None`` = every listed pair), in the venue's order."""
        ...

    def order_book(self, symbol: Symbol, *, depth: int = 100) -> OrderBook:
        """Top ``depth`` levels per side (1..1000)."""
        ...

    def recent_trades(self, symbol: Symbol, *, limit: int = 50) -> tuple[PublicTrade, ...]:
        """Optional. The last ``limit`` public trades, newest first."""
        ...

    def candles(
        self, symbol: Symbol, *, interval_s: int, start_ms: int, end_ms: int
    ) -> tuple[Candle, ...]:
        """Optional. Candles of ``interval_s`` seconds opening in ``[start_ms, end_ms]``."""
        ...

    def server_time_ms(self) -> int:
        """The venue's clock, epoch milliseconds UTC."""
        ...

    def balances(self) -> dict[str, AssetBalance]:
        """Every asset of the account, keyed by upper-case asset code."""
        ...

    def open_orders(self, symbol: Symbol | None = None) -> tuple[OrderReport, ...]:
        """Open and partially filled orders (of ``symbol``, or all), oldest first."""
        ...

    def all_orders(
        self, symbol: Symbol, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> tuple[OrderReport, ...]:
        """Orders of ``symbol`` in any status created in ``[start_ms, end_ms]``."""
        ...

    def order(self, order_id: str) -> OrderReport:
        """One order by exchange id; raises ``OrderNotFound``."""
        ...

    def user_trades(
        self, *, since_ms: int, symbol: Symbol | None = None
    ) -> tuple[TradeReport, ...]:
        """Our fills with ``ts_ms >= since_ms`` (the cursor), oldest first.

        The caller dedupes on ``trade_id`` (a cursor at a fill's timestamp returns it again).
        """
        ...

    def submit_order(self, request: OrderRequest) -> SubmitAck:
        """Send a limit or market order carrying ``request.client_order_id``.

        Raises ``OrderRejected`` (with BTCTurk's code) or ``OutcomeUncertain``; never retried.
        """
        ...

    def cancel_order(self, order_id: str) -> CancelAck:
        """Ask to cancel; raises ``OrderNotFound``, ``OrderRejected`` or ``OutcomeUncertain``."""
        ...
