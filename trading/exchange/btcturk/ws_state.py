"""What a BTCTurk websocket feed knows: books, tickers, recent trades and its health counters.

Source: reference/btcturk_api.md section 6 (431/432 books with changeset resync, 401/402
tickers, 421/422 trades, 100 subscription acks, 801 system messages) and 6.2 (a quiet book
also ages). :class:`FeedState` applies parsed frames under a lock and serves thread-safe reads;
:class:`~trading.exchange.btcturk.ws_feed.BtcturkFeed` adds the connection on top of it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from trading.domain.orderbook import L2Book
from trading.domain.reports import OrderBook, PublicTrade, Ticker
from trading.domain.symbols import Symbol, parse_symbol
from trading.exchange.btcturk.ws_connection import CHANNELS
from trading.exchange.btcturk.ws_messages import (
    BookDiff,
    BookSnapshot,
    Message,
    Result,
    SystemMessage,
    TickerAll,
    TickerPair,
    TradeList,
    TradeSingle,
)
from trading.exchange.btcturk.ws_parse import decode_frame, frame_pair, parse_frame
from trading.exchange.errors import ConfigurationError, PayloadError

# Log under the feed's public module name: the JSON logs' "logger" field stays as it was.
logger = logging.getLogger("trading.exchange.btcturk.ws")

RECENT_TRADES = 100


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """Health of a feed. Ages in milliseconds; ``out_of_sync`` books awaiting a snapshot."""

    connected: bool
    last_message_age_ms: int | None
    connects: int
    reconnects: int
    resyncs: int
    parse_errors: int
    unknown_deletes: int
    out_of_sync: tuple[Symbol, ...]
    server_version: str
    last_error: str


class FeedState:
    """Books (``obdiff``), tickers and recent trades of ``symbols`` and the feed's counters.

    ``symbols`` and ``channels`` are deduplicated in order; a pair that does not split back
    into its symbol or an unknown channel raises ``ValueError``. ``clock`` returns epoch ms.
    Frames are applied on the feed's event loop; the read accessors are thread-safe.
    """

    def __init__(
        self, symbols: Iterable[Symbol], *, channels: Iterable[str], clock: Callable[[], int]
    ) -> None:
        self.symbols = tuple(dict.fromkeys(symbols))
        if odd := [s for s in self.symbols if parse_symbol(s.pair) != s]:
            raise ValueError(f"pairs {[s.pair for s in odd]} do not split back into {odd}")
        self.channels = tuple(dict.fromkeys(channels))
        if unknown := set(self.channels) - CHANNELS:
            raise ValueError(f"unknown channels {sorted(unknown)}; use {sorted(CHANNELS)}")
        self._clock = clock
        self._by_pair = {symbol.pair: symbol for symbol in self.symbols}
        self._books = {s: L2Book(s) for s in self.symbols} if "obdiff" in self.channels else {}
        self._tickers: dict[Symbol, Ticker] = {}
        self._trades: dict[Symbol, deque[PublicTrade]] = {}
        self._lock = threading.Lock()
        self._connected = False
        self._pending_acks: set[str] = set()
        self._resync_pending: dict[Symbol, float] = {}  # symbol -> monotonic time of the join
        self._resync_wanted: set[Symbol] = set()
        self._last_message_ms: int | None = None
        self._last_message_mono = time.monotonic()
        self._connects = self._reconnects = self._resyncs = self._parse_errors = 0
        self._server_version = ""
        self._last_error = ""

    # --- state --------------------------------------------------------------------------

    def _dispatch(self, raw: str | bytes) -> Message | None:
        received_ms = self._clock()
        self._last_message_mono = time.monotonic()
        frame: Any = None
        try:
            frame = decode_frame(raw)
            message = parse_frame(frame, received_ms=received_ms)
        except PayloadError as exc:
            self._bad_frame(frame, exc)
            return None
        with self._lock:
            self._last_message_ms = received_ms
            self._apply(message, received_ms)
        return message

    def _bad_frame(self, frame: Any, exc: PayloadError) -> None:
        self._parse_errors += 1
        self._last_error = str(exc)
        logger.warning("btcturk websocket: dropped malformed frame: %s", exc)
        symbol = self._by_pair.get(frame_pair(frame) or "")
        code = frame[0] if isinstance(frame, list) and frame else None
        if symbol in self._books and code in (431, 432):
            with self._lock:
                self._books[symbol].mark_out_of_sync(f"malformed {exc.field}")
                self._want_resync(symbol)

    def _want_resync(self, symbol: Symbol) -> None:
        if symbol not in self._resync_pending:
            self._resync_wanted.add(symbol)

    def _ours(self, symbol: Symbol) -> Symbol | None:
        return self._by_pair.get(symbol.pair)

    def _apply(self, message: Message, received_ms: int) -> None:
        if isinstance(message, BookSnapshot | BookDiff):
            symbol = self._ours(message.symbol)
            book = self._books.get(symbol) if symbol is not None else None
            if symbol is None or book is None:
                return
            if isinstance(message, BookSnapshot):
                book.apply_snapshot(message.changeset, message.bids, message.asks, received_ms)
                self._resync_pending.pop(symbol, None)
            else:
                book.apply_diff(message.changeset, message.changes, received_ms)
            if not book.in_sync:
                self._want_resync(symbol)
        elif isinstance(message, TickerPair | TickerAll):
            tickers = (message.ticker,) if isinstance(message, TickerPair) else message.tickers
            for ticker in tickers:
                if (symbol := self._ours(ticker.symbol)) is not None:
                    self._tickers[symbol] = ticker
        elif isinstance(message, TradeList | TradeSingle):
            self._record_trades(message)
        elif isinstance(message, Result):
            self._on_result(message)
        elif isinstance(message, SystemMessage):
            logger.warning("btcturk websocket system message: %s", message.message)

    def _record_trades(self, message: TradeList | TradeSingle) -> None:
        symbol = self._ours(
            message.symbol if isinstance(message, TradeList) else message.trade.symbol
        )
        if symbol is None:
            return
        if isinstance(message, TradeList):  # sent on (re)join: replaces what we had
            recent = self._trades[symbol] = deque(maxlen=RECENT_TRADES)
            recent.extend(sorted(message.trades, key=lambda trade: trade.ts_ms))
        else:
            self._trades.setdefault(symbol, deque(maxlen=RECENT_TRADES)).append(message.trade)

    def _on_result(self, result: Result) -> None:
        if result.ok:
            self._pending_acks.discard(result.message)
            return
        self._last_error = f"subscription refused: {result.message}"
        logger.warning("btcturk websocket: %s", self._last_error)
        if self._pending_acks:
            raise ConfigurationError(
                f"websocket subscription refused ({result.message or 'no reason given'}) "
                f"while waiting for {', '.join(sorted(self._pending_acks))}",
                endpoint="websocket 151",
            )

    # --- read accessors (thread-safe) -----------------------------------------------------

    def order_book(self, symbol: Symbol, depth: int = 10) -> OrderBook | None:
        """Best ``depth`` levels per side, or ``None`` when the book is not in sync."""
        with self._lock:
            book = self._books.get(symbol)
            if book is None or not book.in_sync:
                return None
            return book.top(depth)

    def ticker(self, symbol: Symbol) -> Ticker | None:
        """Last 402/401 ticker (``ts_ms`` = receive time), or ``None`` before the first."""
        with self._lock:
            return self._tickers.get(symbol)

    def recent_trades(self, symbol: Symbol) -> tuple[PublicTrade, ...]:
        """Up to the last 100 public trades, oldest first (``trade`` channel)."""
        with self._lock:
            return tuple(self._trades.get(symbol, ()))

    def stale_symbols(self, now_ms: int | None = None, max_age_ms: int = 30_000) -> list[Symbol]:
        """Symbols whose data must not be trusted at ``now_ms`` (epoch ms, default ``clock``).

        Stale = the feed is disconnected, or the book is out of sync or its last update is
        older than ``max_age_ms``, or the last ticker is missing or older than ``max_age_ms``
        (each check only for subscribed channels; a quiet book also ages, reference 6.2).
        """
        now = self._clock() if now_ms is None else now_ms
        with self._lock:
            return [
                s for s in self.symbols if not self._connected or self._stale(s, now, max_age_ms)
            ]

    def _stale(self, symbol: Symbol, now_ms: int, max_age_ms: int) -> bool:
        book = self._books.get(symbol)
        if book is not None:
            age = book.age_ms(now_ms)
            if not book.in_sync or age is None or age > max_age_ms:
                return True
        if "ticker" in self.channels:
            ticker = self._tickers.get(symbol)
            if ticker is None or now_ms - ticker.ts_ms > max_age_ms:
                return True
        return False

    def status(self, now_ms: int | None = None) -> FeedStatus:
        """Counters and health for metrics and the admin (ages in ms at ``now_ms``)."""
        now = self._clock() if now_ms is None else now_ms
        with self._lock:
            last = self._last_message_ms
            return FeedStatus(
                connected=self._connected,
                last_message_age_ms=None if last is None else max(0, now - last),
                connects=self._connects,
                reconnects=self._reconnects,
                resyncs=self._resyncs,
                parse_errors=self._parse_errors,
                unknown_deletes=sum(book.unknown_deletes for book in self._books.values()),
                out_of_sync=tuple(s for s, book in self._books.items() if not book.in_sync),
                server_version=self._server_version,
                last_error=self._last_error,
            )
