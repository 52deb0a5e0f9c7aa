"""One symbol's state in the backtest loop: its columns, how many bars have closed, its signal
masks and its book cursor (``replay.domain.engine`` and ``replay.domain.fast_path``)."""

from __future__ import annotations

from bisect import bisect_left

from replay.domain.band_scan import BandBlocks
from replay.domain.dataset import BookSeries, CandleSeries
from trading.domain.strategies.signals import SignalBars
from trading.domain.symbols import Symbol


class SymbolFeed:
    """Loop state of one symbol.

    ``closed`` counts the bars closed so far: bar ``closed - 1`` is the last closed one, and
    ``closed`` is the next to close (``bar_count`` when the series is done). ``first_bar`` is
    ``closed`` at the run's start (bars before it are history the strategy may read).
    ``book_cursor`` counts the book quotes seen so far, the same way. ``columns`` are what each
    cycle's market snapshot reads (``BarWindow``'s), ``close_i`` and ``price_exponent`` the
    exact close (``Decimal(close_i[i]).scaleb(price_exponent)``). ``blocks`` is built on the
    first exit-band scan (``replay.domain.band_scan``).
    """

    __slots__ = (
        "symbol", "series", "ts", "bar_count", "closed", "first_bar", "signals", "book",
        "book_cursor", "blocks", "columns", "close_i", "price_exponent", "largest_close_i",
    )  # fmt: skip

    def __init__(
        self,
        symbol: Symbol,
        series: CandleSeries,
        start_ms: int,
        signals: SignalBars,
        book: BookSeries | None,
    ) -> None:
        self.symbol = symbol
        self.series = series
        self.ts = series.ts
        self.bar_count = len(series.ts)
        self.columns = (
            series.ts, series.open, series.high, series.low, series.close, series.volume,
        )  # fmt: skip
        self.close_i = series.close_i
        self.price_exponent = -series.price_scale
        self.closed = self.first_bar = bisect_left(series.ts, start_ms)
        self.signals = signals
        self.book = book
        self.book_cursor = 0
        self.blocks: BandBlocks | None = None
        # the largest abs of the scaled closes of the whole series (found at load): a bound for
        # ledger.domain.portfolio.ScaledMarks of any stretch of it
        self.largest_close_i = series.largest_close_i
