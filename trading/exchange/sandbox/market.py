"""The replay market of the sandbox exchange: a bar clock over a replay dataset and its views.

Clock. The dataset's bar open times of all symbols form one timeline. ``steps`` timeline
entries have closed; the replay time ``now_ms`` is the **close** of the last closed bar
(``open time + interval``); it jumps bar by bar and never shows a bar still forming. At start
``warmup_steps`` entries are closed (default: the fewest that give every symbol a bar). At the
end of the dataset the clock stops (``at_end``).

Views (prices quote per base unit, amounts base units, times replay epoch ms UTC):
:meth:`ReplayMarket.ticker`, :meth:`ReplayMarket.trades` and :meth:`ReplayMarket.candles`
(see :mod:`trading.exchange.sandbox.stats`) and :meth:`ReplayMarket.book` (see
:mod:`trading.exchange.sandbox.book`; tickers and books are cached per step); the ``CS`` (change set)
of a symbol's book increases by one each time :meth:`ReplayMarket.book_updates` finds it
changed. Only closed bars are ever visible.

Liquidity. Orders submitted to the sandbox take from the current book
(:meth:`ReplayMarket.taker_levels`); what they took is recorded per symbol, book side and
price (:meth:`ReplayMarket.record_taken`) and is not available again until the clock steps
(then the book is rebuilt from the new bar and the record is cleared). Two orders in one
step, of one account or of several, therefore share each level's amount. The published book
(REST ``/orderbook``, websocket 431/432) is the replayed book as built, taken amounts not
subtracted: it stays a function of the dataset and the step alone.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from replay.domain.dataset import ReplayDataset
from trading.domain.market import Bar
from trading.domain.orders import Side
from trading.domain.reports import PublicTrade
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol
from trading.exchange.sandbox.book import (
    Book,
    BookDiff,
    BookShape,
    Level,
    book_diff,
    synthetic_book,
)
from trading.exchange.sandbox.stats import (
    Candle,
    TickerStats,
    bar_trades,
    bucket_candles,
    ticker_stats,
)

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """A symbol's book changed: the new ``book``, its change set ``cs`` and the ``diff``."""

    symbol: Symbol
    cs: int
    book: Book
    diff: BookDiff


class ReplayMarket:
    """Market views over ``dataset`` as of the replay clock (module docstring). Not thread-safe:
    the owner (:class:`~trading.exchange.sandbox.exchange.SandboxExchange`) holds a lock."""

    def __init__(
        self,
        dataset: ReplayDataset,
        *,
        shape: BookShape | None = None,
        trades_per_bar: int = 4,
        warmup_steps: int | None = None,
    ) -> None:
        if trades_per_bar < 1:
            raise ValueError("trades_per_bar must be >= 1")
        self.dataset = dataset
        self.shape = shape or BookShape()
        self.trades_per_bar = trades_per_bar
        self.interval_ms = dataset.interval_ms
        self.symbols: tuple[Symbol, ...] = dataset.symbols
        self.pair_ids = {symbol: i + 1 for i, symbol in enumerate(self.symbols)}
        self._names = {}
        for symbol in self.symbols:
            self._names[symbol.pair] = symbol
            self._names[symbol.pair_normalized] = symbol
        self._timeline = sorted({ts for s in dataset.series.values() for ts in s.ts})
        first_full = max(self._timeline.index(s.first_ts) for s in dataset.series.values()) + 1
        steps = first_full if warmup_steps is None else warmup_steps
        if not 1 <= steps <= len(self._timeline):
            raise ValueError(f"warmup_steps {steps} outside 1..{len(self._timeline)}")
        self._steps = 0
        self._pos = dict.fromkeys(self.symbols, -1)
        self._cache: dict[tuple[str, Symbol], object] = {}
        self._published: dict[Symbol, Book] = {}
        self._cs = dict.fromkeys(self.symbols, 0)
        self._taken: dict[tuple[Symbol, Side], dict[Decimal, Decimal]] = {}
        self.advance(steps)
        for symbol in self.symbols:
            book = self.book(symbol)
            if book is not None:
                self._published[symbol] = book

    # --- clock ----------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        """Timeline entries closed so far."""
        return self._steps

    @property
    def total_steps(self) -> int:
        return len(self._timeline)

    @property
    def at_end(self) -> bool:
        return self._steps >= len(self._timeline)

    @property
    def now_ms(self) -> int:
        """Replay time: close of the last closed bar (epoch ms UTC)."""
        return self._timeline[self._steps - 1] + self.interval_ms

    def next_close_ms(self) -> int | None:
        """Replay time the next step would move to, ``None`` at the end."""
        if self.at_end:
            return None
        return self._timeline[self._steps] + self.interval_ms

    def steps_due(self, replay_ms: int) -> int:
        """How many more steps close at or before replay time ``replay_ms``."""
        return max(0, bisect_right(self._timeline, replay_ms - self.interval_ms) - self._steps)

    def advance(self, steps: int = 1) -> list[tuple[Symbol, Bar]]:
        """Close up to ``steps`` more timeline entries; return the closed bars, oldest first."""
        closed: list[tuple[Symbol, Bar]] = []
        for _ in range(max(0, steps)):
            if self.at_end:
                break
            ts = self._timeline[self._steps]
            self._steps += 1
            for symbol, series in self.dataset.series.items():
                nxt = self._pos[symbol] + 1
                if nxt < len(series) and series.ts[nxt] == ts:
                    self._pos[symbol] = nxt
                    closed.append((symbol, series.bar(nxt)))
        if closed:
            self._cache.clear()
            self._taken.clear()
        return closed

    # --- lookups ----------------------------------------------------------------------------

    def symbol_for(self, pair: str | None) -> Symbol | None:
        """The listed symbol named ``BTCTRY``/``BTC_TRY`` (any case), else ``None``."""
        return None if pair is None else self._names.get(pair.strip().upper())

    def rules(self, symbol: Symbol) -> ExchangeRules:
        return self.dataset.rules[symbol]

    def last_bar(self, symbol: Symbol) -> Bar | None:
        pos = self._pos[symbol]
        return None if pos < 0 else self.dataset.series[symbol].bar(pos)

    # --- views ------------------------------------------------------------------------------

    def ticker(self, symbol: Symbol) -> TickerStats | None:
        """24 h statistics (module docstring); ``None`` before the symbol's first bar."""
        key = ("ticker", symbol)
        if key not in self._cache:
            self._cache[key] = self._ticker(symbol)
        return self._cache[key]

    def _ticker(self, symbol: Symbol) -> TickerStats | None:
        pos, book = self._pos[symbol], self.book(symbol)
        if pos < 0 or book is None:
            return None
        series = self.dataset.series[symbol]
        return ticker_stats(
            series, pos, now_ms=self.now_ms, book=book, pair_id=self.pair_ids[symbol]
        )

    def book(self, symbol: Symbol) -> Book | None:
        """The current book (module docstring); ``None`` before the symbol's first bar."""
        key = ("book", symbol)
        if key not in self._cache:
            bar = self.last_bar(symbol)
            self._cache[key] = None if bar is None else self._build_book(symbol, bar)
        return self._cache[key]

    def _build_book(self, symbol: Symbol, bar: Bar) -> Book:
        top = None
        quotes = self.dataset.books.get(symbol)
        if quotes is not None:
            i = bisect_right(quotes.ts, self.now_ms) - 1
            if i >= 0:
                top = (quotes.bid_decimal(i), quotes.ask_decimal(i))
        return synthetic_book(
            rules=self.rules(symbol), bar=bar, shape=self.shape, ts_ms=self.now_ms, top=top
        )

    def taker_levels(
        self, symbol: Symbol, side: Side, *, band: Decimal | None = None
    ) -> list[Level]:
        """Levels an order on ``side`` can take now, best first, as ``(price, amount)``.

        Asks for a buy, bids for a sell, each less what was taken in this step (levels with
        nothing left are dropped); ``band`` (e.g. ``0.05``) keeps only prices within that
        fraction of the best available one. ``[]`` before the symbol's first bar.
        """
        book = self.book(symbol)
        if book is None:
            return []
        taken = self._taken.get((symbol, side), {})
        levels = book.asks if side is Side.BUY else book.bids
        out = [(p, a - taken.get(p, ZERO)) for p, a in levels if a > taken.get(p, ZERO)]
        if band is None or not out:
            return out
        best = out[0][0]
        if side is Side.BUY:
            return [level for level in out if level[0] <= best * (1 + band)]
        return [level for level in out if level[0] >= best * (1 - band)]

    def record_taken(self, symbol: Symbol, side: Side, fills: Iterable[Level]) -> None:
        """Remember ``(price, quantity)`` taken from ``symbol``'s book by orders on ``side``."""
        taken = self._taken.setdefault((symbol, side), {})
        for price, quantity in fills:
            taken[price] = taken.get(price, ZERO) + quantity

    def published_book(self, symbol: Symbol) -> tuple[Book, int] | None:
        """The book :meth:`book_updates` last reported for ``symbol`` and its ``CS``."""
        book = self._published.get(symbol)
        return None if book is None else (book, self._cs[symbol])

    def book_updates(self) -> list[BookUpdate]:
        """Symbols whose book changed since the last call, with the diff and a new ``CS``."""
        updates = []
        for symbol in self.symbols:
            book = self.book(symbol)
            old = self._published.get(symbol)
            if book is None or old is None:
                continue
            diff = book_diff(old, book)
            if diff:
                self._cs[symbol] += 1
                self._published[symbol] = book
                updates.append(BookUpdate(symbol, self._cs[symbol], book, diff))
        return updates

    def trades(self, symbol: Symbol, last: int) -> list[PublicTrade]:
        """The newest ``last`` public trades of ``symbol``, newest first."""
        out: list[PublicTrade] = []
        pos = self._pos[symbol]
        while pos >= 0 and len(out) < last:
            out.extend(reversed(self.bar_trades(symbol, pos)))
            pos -= 1
        return out[:last]

    def trades_at(self, symbol: Symbol, ts_ms: int) -> list[PublicTrade]:
        """Synthetic trades of the bar of ``symbol`` that opened at ``ts_ms``, oldest first."""
        series = self.dataset.series[symbol]
        i = bisect_left(series.ts, ts_ms)
        if i >= len(series) or series.ts[i] != ts_ms:
            return []
        return self.bar_trades(symbol, i)

    def bar_trades(self, symbol: Symbol, i: int) -> list[PublicTrade]:
        """Synthetic trades of bar ``i`` of ``symbol``, oldest first."""
        return bar_trades(
            self.dataset.series[symbol],
            i,
            n=self.trades_per_bar,
            step=self.rules(symbol).step_size,
            pair_id=self.pair_ids[symbol],
        )

    def candles(
        self, symbol: Symbol, *, start_ms: int, end_ms: int, bucket_ms: int
    ) -> list[Candle]:
        """Closed bars in ``bucket_ms`` buckets starting in ``[start_ms, end_ms]``; raises
        ``ValueError`` unless ``bucket_ms`` is a positive multiple of the bar interval."""
        return bucket_candles(
            self.dataset.series[symbol],
            self._pos[symbol],
            start_ms=start_ms,
            end_ms=end_ms,
            bucket_ms=bucket_ms,
        )
