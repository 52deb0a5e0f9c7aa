"""The ``ExchangeClient`` adapter around the simulated venue (DESIGN.md sections 1 and 6).

:class:`SimulatedExchange` gives backtests and paper sessions the same port the BTCTurk client
gives live trading: it translates :class:`~trading.domain.venue.SimulatedVenue` objects into
:mod:`trading.domain.reports` types and venue reject codes into BTCTurk's errors
(:data:`VENUE_REJECT_TO_BTCTURK`, which the sandbox exchange serves too). The venue has no
market data of its own: the caller feeds the latest bar, ticker and order book per symbol
through :meth:`~SimulatedExchange.observe_bar`, :meth:`~SimulatedExchange.observe_ticker` and
:meth:`~SimulatedExchange.observe_book`; matching happens only in ``observe_bar``.

Differences from BTCTurk, on purpose: a rejected submit leaves no order behind (BTCTurk
answers an error and no id), so rejected venue orders are invisible here; ``user_trades``
carries the client order id (BTCTurk REST does not); fees are charged in the quote asset with
no tax; ``recent_trades`` and ``candles`` raise :class:`NotSupported`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from ledger.domain.fills import Fill
from trading.domain.market import Bar
from trading.domain.orders import OrderRequest, OrderStatus, OrderType, Side
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
from trading.domain.rules import ExchangeRules, RulesBook
from trading.domain.symbols import Symbol
from trading.domain.venue import OrderAck, RejectCode, SimulatedVenue, UnknownOrder, VenueOrder
from trading.exchange.base import NotSupported
from trading.exchange.btcturk import urls
from trading.exchange.errors import (
    ORDER_NOT_FOUND_CODE,
    NonRetryableError,
    OrderNotFound,
    OrderRejected,
)

ZERO = Decimal(0)

# Venue reject code (trading.domain.venue.RejectCode and check_order's rule codes) ->
# (BTCTurk numeric code or None, BTCTurk message). Source: reference/btcturk_api.md 4.8, 5.
# Codes without a documented BTCTurk number carry the closest documented message.
VENUE_REJECT_TO_BTCTURK: dict[str, tuple[int | None, str]] = {
    RejectCode.UNKNOWN_SYMBOL.value: (None, "FAILED_ORDER_PARAMETER"),
    RejectCode.INVALID_ORDER.value: (None, "FAILED_ORDER_PARAMETER"),
    # no documented BTCTurk answer for a pair that is not trading (UNVERIFIED)
    "SYMBOL_NOT_TRADING": (None, "FAILED_ORDER_PARAMETER"),
    "ORDER_METHOD_NOT_SUPPORTED": (1134, "ORDER_METHOD_NOT_SUPPORTED"),
    "MIN_NOTIONAL": (1123, "FAILED_MIN_TOTAL_AMOUNT"),
    "PRICE_ABOVE_BAND": (1226, "PRICE_MUST_BE_LESS_THAN_MAXPRICE"),
    "PRICE_BELOW_BAND": (1227, "PRICE_MUST_BE_LESS_THAN_MINPRICE"),
    RejectCode.INVALID_PRICE_SCALE.value: (1126, "FAILED_INVALID_PRICE_SCALE"),
    RejectCode.INVALID_QUANTITY_SCALE.value: (1127, "FAILED_INVALID_QUANTITY_SCALE"),
    # ours: BTCTurk's server-side uniqueness of newOrderClientId is UNVERIFIED (reference 4.7)
    RejectCode.DUPLICATE_CLIENT_ORDER_ID.value: (None, "FAILED_ORDER_PARAMETER"),
    RejectCode.INSUFFICIENT_BALANCE.value: (1122, "FAILED_ORDER_WITH_OPEN_ORDERS"),
    RejectCode.ORDER_NOT_FOUND.value: (None, "NO_ORDER_MATCHES_YOUR_REQUEST"),
    RejectCode.ORDER_COULD_NOT_BE_CANCELED.value: (None, "ORDER_COULD_NOT_BE_CANCELED"),
}


class SimulatedExchange:
    """An :class:`~trading.exchange.base.ExchangeClient` over a :class:`SimulatedVenue`.

    ``rules`` are what :meth:`exchange_rules` reports (pass the venue's own rules);
    ``clock`` returns the current time in epoch milliseconds UTC (the replay clock in a
    backtest, the wall clock in paper mode) and stamps submits, cancels and observations.
    Thread-safe as long as the venue is driven only through this adapter.
    """

    def __init__(
        self,
        venue: SimulatedVenue,
        *,
        rules: RulesBook | Mapping[Symbol, ExchangeRules],
        clock: Callable[[], int],
    ) -> None:
        self._venue = venue
        self._rules = rules if isinstance(rules, RulesBook) else RulesBook(rules=dict(rules))
        self._clock = clock
        self._lock = threading.RLock()
        self._tickers: dict[Symbol, Ticker] = {}
        self._books: dict[Symbol, OrderBook] = {}
        # Order index in submission order, grown through the venue's orders_since cursor.
        self._order_ids: list[str] = []
        self._order_cursor = 0
        self._order_id_by_coid: dict[str, str] = {}
        self._canceled_ms: dict[str, int] = {}
        # Fills translated so far, and per order: quote spent and the last fill time.
        self._trades: list[TradeReport] = []
        self._fill_cursor = 0
        self._spent: dict[str, Decimal] = {}
        self._last_fill_ms: dict[str, int] = {}

    # --- market view fed by the caller ---------------------------------------------------

    def observe_bar(self, symbol: Symbol, bar: Bar) -> tuple[TradeReport, ...]:
        """Match open orders of ``symbol`` against the just-closed ``bar``; return new fills.

        As for :meth:`SimulatedVenue.on_bar`, every open order of ``symbol`` must have been
        submitted before ``bar`` opened. The bar's close becomes the ticker's last price
        (stamped with the clock); bid and ask come from the latest observed book, if any. Raises ``NonRetryableError`` for a symbol
        without rules.
        """
        with self._lock:
            self._known(symbol)
            fills = self._venue.on_bar(symbol, bar)
            book = self._books.get(symbol)
            self._tickers[symbol] = Ticker(
                symbol=symbol,
                ts_ms=self._clock(),
                last=bar.close,
                bid=None if book is None else book.best_bid,
                ask=None if book is None else book.best_ask,
            )
            return tuple(self._sync_trades()[-len(fills) :]) if fills else ()

    def observe_ticker(self, ticker: Ticker) -> None:
        """Take ``ticker`` as the latest of its symbol; its last price values market sells."""
        with self._lock:
            self._known(ticker.symbol)
            self._tickers[ticker.symbol] = ticker
            self._venue.observe_price(ticker.symbol, ticker.last)

    def observe_book(self, book: OrderBook) -> None:
        """Take ``book`` as the latest of its symbol; its best bid/ask update the ticker."""
        with self._lock:
            self._known(book.symbol)
            self._books[book.symbol] = book
            ticker = self._tickers.get(book.symbol)
            if ticker is not None:
                self._tickers[book.symbol] = Ticker(
                    symbol=ticker.symbol,
                    ts_ms=max(ticker.ts_ms, book.ts_ms),
                    last=ticker.last,
                    bid=book.best_bid,
                    ask=book.best_ask,
                    open=ticker.open,
                    high=ticker.high,
                    low=ticker.low,
                    volume=ticker.volume,
                )

    # --- market data ---------------------------------------------------------------------

    def exchange_rules(self) -> RulesBook:
        """The rules given at construction."""
        return self._rules

    def tickers(self, symbols: Sequence[Symbol] | None = None) -> tuple[Ticker, ...]:
        """Latest observed tickers of ``symbols`` (``None`` = all), in the rules' order.

        A symbol with nothing observed yet has no ticker and is left out.
        """
        with self._lock:
            wanted = self._rules.rules.keys() if symbols is None else symbols
            return tuple(self._tickers[s] for s in wanted if s in self._tickers)

    def order_book(self, symbol: Symbol, *, depth: int = 100) -> OrderBook:
        """The latest observed book cut to ``depth`` levels per side (1..1000).

        The venue matches against bars, not a book, so with no book observed the answer is an
        empty book stamped with the clock. Raises ``ValueError`` for a depth outside 1..1000
        and ``NonRetryableError`` for a symbol without rules.
        """
        if not 1 <= depth <= 1000:
            raise ValueError(f"depth must be in 1..1000, got {depth}")
        with self._lock:
            self._known(symbol)
            book = self._books.get(symbol)
            if book is None:
                return OrderBook(symbol=symbol, ts_ms=self._clock(), bids=(), asks=())
            return OrderBook(symbol, book.ts_ms, book.bids[:depth], book.asks[:depth])

    def recent_trades(self, symbol: Symbol, *, limit: int = 50) -> tuple[PublicTrade, ...]:
        """Not available: the venue sees bars, not public trades. Raises ``NotSupported``."""
        raise NotSupported("the simulated exchange has no public trades")

    def candles(
        self, symbol: Symbol, *, interval_s: int, start_ms: int, end_ms: int
    ) -> tuple[Candle, ...]:
        """Not available: bars come from the caller's dataset. Raises ``NotSupported``."""
        raise NotSupported("the simulated exchange keeps no candle history")

    def server_time_ms(self) -> int:
        """The clock given at construction, epoch milliseconds UTC."""
        return self._clock()

    # --- account -------------------------------------------------------------------------

    def balances(self) -> dict[str, AssetBalance]:
        """Every asset the venue has seen: free and locked, exact Decimal."""
        with self._lock:
            return {
                asset: AssetBalance(asset=asset, free=b.free, locked=b.locked)
                for asset, b in self._venue.balances().items()
            }

    def open_orders(self, symbol: Symbol | None = None) -> tuple[OrderReport, ...]:
        """``OPEN``/``PARTIALLY_FILLED`` orders (of ``symbol``, or all), oldest first."""
        with self._lock:
            self._sync_trades()
            return tuple(self._report(o) for o in self._venue.open_orders(symbol))

    def all_orders(
        self, symbol: Symbol, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> tuple[OrderReport, ...]:
        """Accepted orders of ``symbol`` in any status, created in ``[start_ms, end_ms]``."""
        with self._lock:
            self._sync_trades()
            reports = []
            for order_id in self._sync_orders():
                order = self._venue.get_order(order_id)
                if order.symbol != symbol or order.status is OrderStatus.REJECTED:
                    continue
                if start_ms is not None and order.created_ms < start_ms:
                    continue
                if end_ms is not None and order.created_ms > end_ms:
                    continue
                reports.append(self._report(order))
            return tuple(reports)

    def order(self, order_id: str) -> OrderReport:
        """One accepted order by id; raises ``OrderNotFound`` (1152) for any other id."""
        with self._lock:
            self._sync_trades()
            order = self._accepted(order_id)
            if order is None:
                raise OrderNotFound(
                    f"Order not found (no order with id {order_id!r})",
                    endpoint=urls.ORDER_GET.label,
                    code=ORDER_NOT_FOUND_CODE,
                )
            return self._report(order)

    def user_trades(
        self, *, since_ms: int, symbol: Symbol | None = None
    ) -> tuple[TradeReport, ...]:
        """Our fills with ``ts_ms >= since_ms`` (of ``symbol``, or all), oldest first.

        Fees are positive, in the quote asset; tax is 0; ``client_order_id`` is set.
        """
        with self._lock:
            trades = [
                t
                for t in self._sync_trades()
                if t.ts_ms >= since_ms and (symbol is None or t.symbol == symbol)
            ]
            return tuple(sorted(trades, key=lambda t: t.ts_ms))  # stable: fill order within ms

    # --- orders --------------------------------------------------------------------------

    def submit_order(self, request: OrderRequest) -> SubmitAck:
        """Submit to the venue at the clock's time; never retried, never uncertain.

        ``SubmitAck.quantity`` is what BTCTurk echoes: the quote amount for a market buy,
        base units otherwise. Raises ``OrderRejected`` with BTCTurk's code and message
        (:data:`VENUE_REJECT_TO_BTCTURK`) when the venue refuses.
        """
        with self._lock:
            now = self._clock()
            ack = self._venue.submit_order(request, now_ms=now)
            if ack.status is OrderStatus.REJECTED:
                raise _rejected(ack, OrderRejected, urls.ORDER_SUBMIT.label)
            self._sync_orders()
            market_buy = request.order_type is OrderType.MARKET and request.side is Side.BUY
            return SubmitAck(
                order_id=ack.order_id,
                client_order_id=request.client_order_id,
                symbol=request.symbol,
                side=request.side,
                order_type=request.order_type,
                price=request.price if request.order_type is OrderType.LIMIT else None,
                quantity=request.quote_amount if market_buy else request.quantity,
                ts_ms=now,
            )

    def cancel_order(self, order_id: str) -> CancelAck:
        """Cancel an open or partially filled order (its lock is released at once).

        Raises ``OrderNotFound`` for an id the venue never accepted and ``OrderRejected``
        (ORDER_COULD_NOT_BE_CANCELED) for an order already filled or canceled.
        """
        endpoint = urls.ORDER_CANCEL.label
        with self._lock:
            if self._accepted(order_id) is None:
                # BTCTurk: NO_ORDER_MATCHES_YOUR_REQUEST, HTTP 400, no numeric code (reference 4.8)
                _, message = VENUE_REJECT_TO_BTCTURK[RejectCode.ORDER_NOT_FOUND.value]
                raise OrderNotFound(f"{message} (no order with id {order_id!r})", endpoint=endpoint)
            now = self._clock()
            ack = self._venue.cancel_order(order_id, now_ms=now)
            if ack.status is OrderStatus.REJECTED:
                raise _rejected(ack, OrderRejected, endpoint)
            self._canceled_ms[order_id] = now
            return CancelAck(order_id=order_id)

    # --- translation ---------------------------------------------------------------------

    def _known(self, symbol: Symbol) -> None:
        if symbol not in self._rules.rules:
            raise NonRetryableError(f"{symbol} is not listed on the simulated exchange")

    def _accepted(self, order_id: str) -> VenueOrder | None:
        """The venue order ``order_id``, or ``None`` if unknown or rejected at submit."""
        try:
            order = self._venue.get_order(order_id)
        except UnknownOrder:
            return None
        return None if order.status is OrderStatus.REJECTED else order

    def _sync_orders(self) -> list[str]:
        """Extend the order index with orders the venue took since the last call; all ids."""
        orders, self._order_cursor = self._venue.orders_since(self._order_cursor)
        for order in orders:
            self._order_ids.append(order.order_id)
            if order.status is not OrderStatus.REJECTED:
                self._order_id_by_coid[order.client_order_id] = order.order_id
        return self._order_ids

    def _sync_trades(self) -> list[TradeReport]:
        """Translate the venue's new fills; all trades so far, in fill order."""
        fills, self._fill_cursor = self._venue.fills_since(self._fill_cursor)
        if fills:
            self._sync_orders()
        for fill in fills:
            self._trades.append(self._trade(fill))
        return self._trades

    def _trade(self, fill: Fill) -> TradeReport:
        order_id = self._order_id_by_coid[fill.client_order_id]
        self._spent[order_id] = self._spent.get(order_id, ZERO) + fill.notional
        self._last_fill_ms[order_id] = max(self._last_fill_ms.get(order_id, 0), fill.ts_ms)
        return TradeReport(
            trade_id=fill.trade_id,
            order_id=order_id,
            client_order_id=fill.client_order_id,
            symbol=fill.symbol,
            side=fill.side,
            price=fill.price,
            quantity=fill.quantity,
            fee=abs(fill.fee),
            tax=ZERO,
            fee_asset=fill.fee_asset,
            ts_ms=fill.ts_ms,
        )

    def _report(self, order: VenueOrder) -> OrderReport:
        """``order`` as BTCTurk reports it; a market buy's sizes are quote amounts."""
        if order.order_type is OrderType.MARKET and order.side is Side.BUY:
            quantity = order.quote_amount or ZERO
            remaining = max(ZERO, quantity - self._spent.get(order.order_id, ZERO))
        else:
            quantity = order.quantity
            remaining = quantity - order.filled_quantity
        updated = max(
            order.created_ms,
            self._last_fill_ms.get(order.order_id, 0),
            self._canceled_ms.get(order.order_id, 0),
        )
        return OrderReport(
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            status=order.status,
            price=order.price,
            quantity=quantity,
            remaining=remaining,
            created_ms=order.created_ms,
            updated_ms=updated,
        )


def _rejected(ack: OrderAck, error: type[NonRetryableError], endpoint: str) -> NonRetryableError:
    """The exception for a refused venue ack: BTCTurk's code and message, then our detail."""
    venue_code = ack.reject_code or ""
    code, message = VENUE_REJECT_TO_BTCTURK.get(venue_code, (None, venue_code))
    detail = f"{venue_code}: {ack.detail}" if ack.detail else venue_code
    return error(f"{message} ({detail})", endpoint=endpoint, code=code)
