"""Market statistics of the sandbox exchange, computed from one symbol's candle series.

Pure functions over :class:`~replay.domain.dataset.CandleSeries` (exact scaled integers, so
sums and extremes are exact); prices quote per base unit, amounts base units, times epoch ms.

- :func:`ticker_stats`: 24 h statistics over the closed bars opened in the 24 h before the
  replay time: ``open`` of the first, ``last`` close, ``high``/``low``, ``volume`` (sum) and
  ``average`` (volume weighted close, the close's decimals); ``bid``/``ask`` from the book.
- :func:`bar_trades`: ``n`` synthetic public trades per bar with volume: prices open, low,
  high, close for a rising bar (open, high, low, close for a falling one), amount
  ``volume / n`` rounded down to the step (at least one step), times spread inside the bar,
  ``side`` buy when the price did not fall from the previous trade (the previous bar's close
  for the first); trade id ``<bar open ms><pair id:04d><j:02d>`` (a string, increasing).
- :func:`bucket_candles`: closed bars aggregated into epoch-aligned buckets.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from decimal import Decimal

from replay.domain.dataset import CandleSeries
from trading.domain.market import Bar
from trading.domain.orders import Side
from trading.domain.reports import PublicTrade
from trading.domain.symbols import Symbol
from trading.exchange.sandbox.book import Book

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class TickerStats:
    """24 h statistics of one symbol at replay time ``ts_ms`` (module docstring)."""

    symbol: Symbol
    pair_id: int
    ts_ms: int
    last: Decimal
    high: Decimal
    low: Decimal
    open: Decimal
    volume: Decimal
    average: Decimal
    bid: Decimal
    ask: Decimal

    @property
    def daily(self) -> Decimal:
        return self.last - self.open

    @property
    def daily_percent(self) -> Decimal:
        return (self.daily / self.open * 100).quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True)
class Candle:
    """Aggregated bars: ``ts_ms`` bucket start; ``total`` = sum of close x volume (quote)."""

    ts_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    total: Decimal


def ticker_stats(
    series: CandleSeries, pos: int, *, now_ms: int, book: Book, pair_id: int
) -> TickerStats:
    """Statistics as of bar ``pos`` (the last closed one) at replay time ``now_ms``."""
    lo = min(bisect_left(series.ts, now_ms - DAY_MS), pos)
    scale, vscale = -series.price_scale, -series.volume_scale
    closes, volumes = series.close_i[lo : pos + 1], series.volume_i[lo : pos + 1]
    volume_i = sum(volumes)
    weighted = sum(c * v for c, v in zip(closes, volumes, strict=True))
    last = series.close_decimal(pos)
    average = (Decimal(weighted) / volume_i).scaleb(scale) if volume_i else last
    return TickerStats(
        symbol=series.symbol,
        pair_id=pair_id,
        ts_ms=now_ms,
        last=last,
        high=Decimal(max(series.high_i[lo : pos + 1])).scaleb(scale),
        low=Decimal(min(series.low_i[lo : pos + 1])).scaleb(scale),
        open=series.open_decimal(lo),
        volume=Decimal(volume_i).scaleb(vscale),
        average=average.quantize(Decimal(1).scaleb(scale)),
        bid=book.best_bid,
        ask=book.best_ask,
    )


def bar_trades(
    series: CandleSeries, i: int, *, n: int, step: Decimal, pair_id: int
) -> list[PublicTrade]:
    """The ``n`` synthetic trades of bar ``i``, oldest first (module docstring)."""
    bar = series.bar(i)
    if bar.volume <= 0:
        return []
    amount = max((bar.volume / n // step) * step, step)
    previous = series.close_decimal(i - 1) if i > 0 else bar.open
    trades = []
    for j, price in enumerate(_price_path(bar, n)):
        side = Side.BUY if price >= previous else Side.SELL
        previous = price
        trades.append(
            PublicTrade(
                symbol=series.symbol,
                trade_id=f"{bar.ts_ms}{pair_id:04d}{j:02d}",
                ts_ms=bar.ts_ms + j * series.interval_ms // n,
                price=price,
                quantity=amount,
                side=side,
            )
        )
    return trades


def _price_path(bar: Bar, n: int) -> list[Decimal]:
    """``n`` trade prices walking the bar: open, the extremes, close."""
    extremes = [bar.low, bar.high] if bar.close >= bar.open else [bar.high, bar.low]
    anchors = [bar.open, *extremes, bar.close]
    if n <= len(anchors):
        return [anchors[round(j * (len(anchors) - 1) / max(n - 1, 1))] for j in range(n)]
    return [anchors[min(j * len(anchors) // n, len(anchors) - 1)] for j in range(n)]


def bucket_candles(
    series: CandleSeries, last: int, *, start_ms: int, end_ms: int, bucket_ms: int
) -> list[Candle]:
    """Bars ``0..last`` in ``bucket_ms`` buckets (epoch aligned) starting in ``[start_ms, end_ms]``.

    A bucket holds every bar up to ``last`` opened inside it. Raises ``ValueError`` unless
    ``bucket_ms`` is a positive multiple of the series' bar interval.
    """
    interval = series.interval_ms
    if bucket_ms <= 0 or interval <= 0 or bucket_ms % interval:
        raise ValueError(f"resolution {bucket_ms} ms is not a multiple of {interval} ms")
    first_bucket = start_ms + (-start_ms) % bucket_ms  # first bucket start >= start_ms
    out: list[Candle] = []
    group: list[int] = []
    key = first_bucket
    for i in range(bisect_left(series.ts, first_bucket), last + 1):
        ts = series.ts[i]
        bucket = ts - ts % bucket_ms
        if bucket > end_ms:
            break
        if group and bucket != key:
            out.append(_aggregate(series, group, key))
            group = []
        key = bucket
        group.append(i)
    if group:
        out.append(_aggregate(series, group, key))
    return out


def _aggregate(series: CandleSeries, group: list[int], bucket: int) -> Candle:
    scale, vscale = -series.price_scale, -series.volume_scale
    total = sum(series.close_i[i] * series.volume_i[i] for i in group)
    return Candle(
        ts_ms=bucket,
        open=series.open_decimal(group[0]),
        high=Decimal(max(series.high_i[i] for i in group)).scaleb(scale),
        low=Decimal(min(series.low_i[i] for i in group)).scaleb(scale),
        close=series.close_decimal(group[-1]),
        volume=Decimal(sum(series.volume_i[i] for i in group)).scaleb(vscale),
        total=Decimal(total).scaleb(scale + vscale),
    )
