"""Market data for paper and live cycles: closed candles kept in the ``Candle`` table, top of
book from the exchange, and the per-symbol :class:`~trading.domain.market.MarketSnapshot`.

Candles come from the graph API (``ExchangeClient.candles``, reference/btcturk_api.md 2.5) and
are stored unique per (symbol, interval, open time); each cycle asks only for the bars after
the newest stored one, and a bar is stored only once it has closed (``open + interval <=
now``): the strategies never see a bar still forming. Top of book comes from a fresh
websocket book when the caller has one (``quotes``), else from one REST ``tickers`` call.

The snapshot a cycle plans on is built exactly as the backtest engine builds it from a replay
dataset: the bar window holds the closed bars as floats (for indicators), ``mark_price`` is
the last close (Decimal), ``age_ms`` is ``now - close time of the last bar``, and ``bid``/
``ask`` are the quote's. A symbol with no closed bar yet has no snapshot (it is left out of
the universe, as in a backtest before its first bar).
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from trading.domain.decimals import decimal_trim as _t
from trading.domain.market import BarWindow, MarketSnapshot
from trading.domain.reports import Candle as CandleReport
from trading.domain.reports import Ticker
from trading.domain.symbols import Symbol
from trading.exchange.base import ExchangeClient
from trading.models import Candle

logger = logging.getLogger(__name__)

# Bars fetched for a symbol seen for the first time, beyond the strategies' warm-up.
EXTRA_HISTORY_BARS = 10
# The graph API answers at most this many bars a call; longer gaps are fetched in pages.
PAGE_BARS = 1000


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book of one symbol: ``bid``/``ask`` quote per base unit (``None`` when a side is
    empty), ``last`` the last price, ``ts_ms`` when the venue stamped it, ``source`` one of
    ``ws`` (websocket book), ``ticker`` (REST)."""

    symbol: Symbol
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    ts_ms: int
    source: str


def candles_refresh(
    *, client: ExchangeClient, symbol: Symbol, interval_s: int, now_ms: int, history_bars: int
) -> int:
    """Fetch and store the closed candles of ``symbol`` that the table lacks; returns how many
    were fetched and written (rows a concurrent refresh stored first are skipped).

    Starts after the newest stored bar, or ``history_bars`` bars before ``now_ms`` when none is
    stored; stops at the last bar closed by ``now_ms``. Exchange errors propagate (the cycle
    fails and records them); rows already stored are never touched.
    """
    interval_ms = interval_s * 1000
    last_closed_open = (now_ms // interval_ms) * interval_ms - interval_ms
    newest = (
        Candle.objects.filter(symbol=symbol.pair_normalized, interval_s=interval_s)
        .order_by("-ts_ms")
        .values_list("ts_ms", flat=True)
        .first()
    )
    start = newest + interval_ms if newest is not None else now_ms - history_bars * interval_ms
    stored = 0
    while start <= last_closed_open:
        end = min(last_closed_open, start + (PAGE_BARS - 1) * interval_ms)
        fetched = client.candles(symbol, interval_s=interval_s, start_ms=start, end_ms=end)
        closed = [c for c in fetched if c.ts_ms + interval_ms <= now_ms]
        stored += _store(symbol, interval_s, closed)
        start = end + interval_ms
    return stored


def _store(symbol: Symbol, interval_s: int, candles: Sequence[CandleReport]) -> int:
    rows = [
        Candle(
            symbol=symbol.pair_normalized,
            interval_s=interval_s,
            ts_ms=c.ts_ms,
            open=c.open,
            high=c.high,
            low=c.low,
            close=c.close,
            volume=c.volume,
        )
        for c in candles
    ]
    # Fetching starts after the newest stored bar, so conflicts only come from a concurrent
    # refresh of the same symbol; those rows are skipped, never overwritten.
    Candle.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def bars_load(*, symbol: Symbol, interval_s: int, now_ms: int, count: int) -> list[CandleReport]:
    """The last ``count`` stored bars of ``symbol`` closed by ``now_ms``, oldest first."""
    interval_ms = interval_s * 1000
    rows = (
        Candle.objects.filter(
            symbol=symbol.pair_normalized, interval_s=interval_s, ts_ms__lte=now_ms - interval_ms
        )
        .order_by("-ts_ms")
        .values_list("ts_ms", "open", "high", "low", "close", "volume")[:count]
    )
    return [_bar(symbol, row) for row in reversed(list(rows))]


def bars_since(
    *, symbol: Symbol, interval_s: int, after_ms: int, now_ms: int
) -> list[CandleReport]:
    """Stored bars of ``symbol`` opening after ``after_ms`` and closed by ``now_ms``, oldest
    first (what a paper venue matches its resting orders against)."""
    interval_ms = interval_s * 1000
    rows = (
        Candle.objects.filter(
            symbol=symbol.pair_normalized,
            interval_s=interval_s,
            ts_ms__gt=after_ms,
            ts_ms__lte=now_ms - interval_ms,
        )
        .order_by("ts_ms")
        .values_list("ts_ms", "open", "high", "low", "close", "volume")
    )
    return [_bar(symbol, row) for row in rows]


def _bar(symbol: Symbol, row: tuple) -> CandleReport:
    ts, o, h, low, c, v = row
    return CandleReport(symbol, ts, _t(o), _t(h), _t(low), _t(c), _t(v))


def quotes_fetch(
    *,
    client: ExchangeClient,
    symbols: Sequence[Symbol],
    fresh: Mapping[Symbol, Quote] | None = None,
) -> dict[Symbol, Quote]:
    """Top of book per symbol: ``fresh`` quotes (a live websocket book) where given, the rest
    from one REST ``tickers`` call (reference 2.2). Symbols the venue does not list are left
    out."""
    quotes = dict(fresh or {})
    missing = [s for s in symbols if s not in quotes]
    if missing:
        for ticker in client.tickers(missing):
            quotes[ticker.symbol] = _quote(ticker)
    return quotes


def _quote(ticker: Ticker) -> Quote:
    return Quote(ticker.symbol, ticker.bid, ticker.ask, ticker.last, ticker.ts_ms, "ticker")


def snapshot_build(
    *,
    symbol: Symbol,
    bars: Sequence[CandleReport],
    interval_s: int,
    now_ms: int,
    quote: Quote | None,
) -> MarketSnapshot | None:
    """The planner's view of ``symbol`` (module docstring), or ``None`` with no closed bar."""
    if not bars:
        return None
    interval_ms = interval_s * 1000
    window = BarWindow(
        ts=array("q", (b.ts_ms for b in bars)),
        open=array("d", (float(b.open) for b in bars)),
        high=array("d", (float(b.high) for b in bars)),
        low=array("d", (float(b.low) for b in bars)),
        close=array("d", (float(b.close) for b in bars)),
        volume=array("d", (float(b.volume) for b in bars)),
        end=len(bars),
        interval_ms=interval_ms,
    )
    last = bars[-1]
    bid = ask = None
    if quote is not None:
        bid, ask = quote.bid, quote.ask
    return MarketSnapshot(
        symbol=symbol,
        bars=window,
        mark_price=last.close,
        age_ms=now_ms - last.ts_ms - interval_ms,
        bid=bid,
        ask=ask,
    )
