"""The ``ExchangeClient`` adapter around the simulated venue (DESIGN.md sections 1 and 6).

:class:`SimulatedExchange` gives backtests and paper sessions the same port the BTCTurk client
gives live trading. The :class:`~trading.domain.venue.SimulatedVenue` already answers in
:mod:`trading.domain.reports` types; this adapter only maps its refusals
(:class:`~trading.domain.venue.VenueReject`) to BTCTurk's errors
(:data:`VENUE_REJECT_TO_BTCTURK`, which the sandbox exchange serves too) and wires the clock
and the observed market data. The venue has no market data of its own: the caller feeds the
latest bar, ticker and order book per symbol through :meth:`~SimulatedExchange.observe_bar`, :meth:`~SimulatedExchange.observe_ticker` and
:meth:`~SimulatedExchange.observe_book`; matching happens only in ``observe_bar``.

Differences from BTCTurk, on purpose: a rejected submit leaves no order behind (BTCTurk
answers an error and no id), so rejected venue orders are invisible here; ``user_trades``
carries the client order id and the liquidity (BTCTurk REST does not); fees are charged in the quote asset with
no tax; ``recent_trades`` and ``candles`` raise :class:`NotSupported`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from trading.domain.market import Bar
from trading.domain.orders import OrderRequest, OrderStatus
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
from trading.domain.venue import RejectCode, SimulatedVenue, UnknownOrder, VenueReject
from trading.exchange.base import NotSupported
from trading.exchange.btcturk import urls
from trading.exchange.errors import (
    ORDER_NOT_FOUND_CODE,
    NonRetryableError,
    OrderNotFound,
    OrderRejected,
)

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

    The venue already answers in the port's report types; this adapter maps its refusals to
    the error taxonomy (:class:`OrderRejected` / :class:`OrderNotFound` with BTCTurk's codes,
    ``OrderRejected.reason`` = the venue reject code), hides orders the venue rejected at
    submit (BTCTurk gives them no id), keeps the observed tickers and books, and stamps
    submits and cancels with ``clock``. ``rules`` are what :meth:`exchange_rules` reports
    (default: the venue's own); ``clock`` returns the current time in epoch milliseconds UTC
    (the replay clock in a backtest, the wall clock in paper mode). Thread-safe as long as
    the venue is driven only through this adapter.
    """

    def __init__(
        self,
        venue: SimulatedVenue,
        *,
        clock: Callable[[], int],
        rules: RulesBook | Mapping[Symbol, ExchangeRules] | None = None,
    ) -> None:
        self._venue = venue
        if rules is None:
            rules = venue.rules
        self._rules = rules if isinstance(rules, RulesBook) else RulesBook(rules=dict(rules))
        self._clock = clock
        self._lock = threading.RLock()
        self._tickers: dict[Symbol, Ticker] = {}
        self._books: dict[Symbol, OrderBook] = {}

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
            return tuple(fills)

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
            return self._venue.balances()

    def open_orders(self, symbol: Symbol | None = None) -> tuple[OrderReport, ...]:
        """``OPEN``/``PARTIALLY_FILLED`` orders (of ``symbol``, or all), oldest first."""
        with self._lock:
            return tuple(self._venue.open_orders(symbol))

    def all_orders(
        self, symbol: Symbol, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> tuple[OrderReport, ...]:
        """Accepted orders of ``symbol`` in any status, created in ``[start_ms, end_ms]``."""
        with self._lock:
            orders, _ = self._venue.orders_since(0)
        return tuple(
            o
            for o in orders
            if o.symbol == symbol
            and o.status is not OrderStatus.REJECTED
            and (start_ms is None or o.created_ms >= start_ms)
            and (end_ms is None or o.created_ms <= end_ms)
        )

    def order(self, order_id: str) -> OrderReport:
        """One accepted order by id; raises ``OrderNotFound`` (1152) for any other id."""
        with self._lock:
            order = self._accepted(order_id)
        if order is None:
            raise OrderNotFound(
                f"Order not found (no order with id {order_id!r})",
                endpoint=urls.ORDER_GET.label,
                code=ORDER_NOT_FOUND_CODE,
            )
        return order

    def user_trades(
        self, *, since_ms: int, symbol: Symbol | None = None
    ) -> tuple[TradeReport, ...]:
        """Our fills with ``ts_ms >= since_ms`` (of ``symbol``, or all), oldest first.

        Fees are positive, in the quote asset; tax is 0; ``client_order_id`` is set.
        """
        with self._lock:
            fills, _ = self._venue.fills_since(0)
        trades = [
            t for t in fills if t.ts_ms >= since_ms and (symbol is None or t.symbol == symbol)
        ]
        return tuple(sorted(trades, key=lambda t: t.ts_ms))  # stable: fill order within ms

    # --- orders --------------------------------------------------------------------------

    def submit_order(self, request: OrderRequest) -> SubmitAck:
        """Submit to the venue at the clock's time; never retried, never uncertain.

        ``SubmitAck.quantity`` is what BTCTurk echoes: the quote amount for a market buy,
        base units otherwise. Raises ``OrderRejected`` with BTCTurk's code and message
        (:data:`VENUE_REJECT_TO_BTCTURK`) and ``reason`` = the venue reject code when the
        venue refuses.
        """
        with self._lock:
            answer = self._venue.submit_order(request, now_ms=self._clock())
        if isinstance(answer, VenueReject):
            raise _rejected(answer, urls.ORDER_SUBMIT.label)
        return answer

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
            answer = self._venue.cancel_order(order_id, now_ms=self._clock())
        if isinstance(answer, VenueReject):
            raise _rejected(answer, endpoint)
        return answer

    # --- translation ---------------------------------------------------------------------

    def _known(self, symbol: Symbol) -> None:
        if symbol not in self._rules.rules:
            raise NonRetryableError(f"{symbol} is not listed on the simulated exchange")

    def _accepted(self, order_id: str) -> OrderReport | None:
        """The venue order ``order_id``, or ``None`` if unknown or rejected at submit."""
        try:
            order = self._venue.get_order(order_id)
        except UnknownOrder:
            return None
        return None if order.status is OrderStatus.REJECTED else order


def _rejected(reject: VenueReject, endpoint: str) -> OrderRejected:
    """The exception for a venue refusal: BTCTurk's code and message, then our detail."""
    code, message = VENUE_REJECT_TO_BTCTURK.get(reject.code, (None, reject.code))
    detail = f"{reject.code}: {reject.detail}" if reject.detail else reject.code
    return OrderRejected(f"{message} ({detail})", endpoint=endpoint, code=code, reason=reject.code)
