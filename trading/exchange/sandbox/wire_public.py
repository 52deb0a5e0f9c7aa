"""Public REST JSON of the sandbox exchange (reference/btcturk_api.md section 2).

Shapes and types as recorded (``tests/fixtures/btcturk/``, see :mod:`trading.exchange.sandbox.
wire` for the conventions): exchangeinfo symbol entries generated from
:class:`~trading.domain.rules.ExchangeRules`, ticker rows with JSON numbers, the order book
and public trades with decimal strings, graph candles as bare arrays with times in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from trading.domain.rules import ExchangeRules
from trading.exchange.sandbox.book import Book
from trading.exchange.sandbox.wire import ASSET_NAMES, FIAT, dec, num, plain, scale_of

if TYPE_CHECKING:
    from trading.domain.reports import PublicTrade
    from trading.exchange.sandbox.stats import Candle, TickerStats

ORDER_METHOD_ORDER = ("MARKET", "LIMIT", "STOP_MARKET", "STOP_LIMIT")


def _loose_float(value: Decimal, *, down: bool) -> float:
    """The float nearest ``value`` whose decimal repr is not tighter than ``value``.

    Band prices go out as JSON numbers; rounding toward the loose side keeps the band that a
    client derives (max of minPrice and minimumLimitOrderPrice, min of the maxima) exact.
    """
    f = float(value)
    while (Decimal(repr(f)) > value) if down else (Decimal(repr(f)) < value):
        f = math.nextafter(f, -math.inf if down else math.inf)
    return int(f) if f.is_integer() else f


def symbol_entry(rules: ExchangeRules, pair_id: int) -> dict:
    """One exchangeinfo symbol, shaped like the recorded entries, that
    :func:`trading.domain.rules.symbol_rules_from_entry` turns back into ``rules``.

    ``numeratorScale`` from the step (must be a power of ten: ``ValueError`` otherwise),
    ``denominatorScale`` = the tick's decimals and ``tickSize`` = the tick; the band goes into
    both the PRICE_FILTER (``minPrice`` "0" when unbounded, ``maxPrice`` null) and the
    ``minimum``/``maximumLimitOrderPrice`` numbers.
    """
    symbol, tick, step = rules.symbol, rules.tick_size, rules.step_size
    quantity_scale = scale_of(step)
    if Decimal(1).scaleb(-quantity_scale) != step:
        raise ValueError(f"{symbol}: step size {step} is not a power of ten")
    price_scale = scale_of(tick)
    low, high = rules.min_price, rules.max_price
    methods = [m for m in ORDER_METHOD_ORDER if m in rules.order_methods]
    methods += sorted(rules.order_methods - set(ORDER_METHOD_ORDER))
    return {
        "id": pair_id,
        "name": symbol.pair,
        "nameNormalized": symbol.pair_normalized,
        "status": rules.status,
        "numerator": symbol.base,
        "denominator": symbol.quote,
        "numeratorScale": quantity_scale,
        "denominatorScale": price_scale,
        "hasFraction": tick < 1,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0" if low is None else plain(low),
                "maxPrice": None if high is None else plain(high),
                "tickSize": plain(tick),
                "minExchangeValue": plain(rules.min_notional),
                "minAmount": None,
                "maxAmount": None,
            }
        ],
        "orderMethods": methods,
        "displayFormat": "#,###" if price_scale == 0 else "#,##0." + "0" * price_scale,
        "commissionFromNumerator": False,
        "order": 1000 * pair_id,
        "priceRounding": False,
        "isNew": False,
        "marketPriceWarningThresholdPercentage": 0.25,
        "maximumOrderAmount": None,
        "maximumLimitOrderPrice": None if high is None else _loose_float(high, down=False),
        "minimumLimitOrderPrice": 0 if low is None else _loose_float(low, down=True),
    }


def currency_entries(assets: Iterable[str]) -> list[dict]:
    """``currencies`` of exchangeinfo (shape UNVERIFIED in the reference; minimal fields)."""
    return [
        {
            "id": i + 1,
            "symbol": asset,
            "name": ASSET_NAMES.get(asset, asset),
            "precision": 2 if asset in FIAT else 8,
            "type": "FIAT" if asset in FIAT else "CRYPTO",
        }
        for i, asset in enumerate(sorted(assets))
    ]


def ticker_row(t: TickerStats) -> dict:
    """One ``GET /api/v2/ticker`` row; prices and volumes are JSON numbers (reference 2.2)."""
    return {
        "pair": t.symbol.pair,
        "pairNormalized": t.symbol.pair_normalized,
        "timestamp": t.ts_ms,
        "last": num(t.last),
        "high": num(t.high),
        "low": num(t.low),
        "bid": num(t.bid),
        "ask": num(t.ask),
        "open": num(t.open),
        "volume": num(t.volume),
        "average": num(t.average),
        "daily": num(t.daily),
        "dailyPercent": num(t.daily_percent),
        "denominatorSymbol": t.symbol.quote,
        "numeratorSymbol": t.symbol.base,
        "order": 1000 * t.pair_id,
    }


def orderbook_data(book: Book | None, ts_ms: int, limit: int | None = None) -> dict:
    """``data`` of ``GET /api/v2/orderbook``: ``[price, amount]`` string pairs (reference 2.3),
    the best ``limit`` levels per side (``None`` = all)."""
    bids = [] if book is None else book.bids[:limit]
    asks = [] if book is None else book.asks[:limit]
    return {
        "timestamp": float(ts_ms),
        "bids": [[dec(p), dec(a)] for p, a in bids],
        "asks": [[dec(p), dec(a)] for p, a in asks],
    }


def trade_row(trade: PublicTrade) -> dict:
    """One ``GET /api/v2/trades`` item (reference 2.4)."""
    return {
        "pair": trade.symbol.pair,
        "pairNormalized": trade.symbol.pair_normalized,
        "numerator": trade.symbol.base,
        "denominator": trade.symbol.quote,
        "date": trade.ts_ms,
        "tid": trade.trade_id,
        "price": dec(trade.price),
        "amount": dec(trade.quantity),
        "side": trade.side.value,
    }


def klines(candles: list[Candle]) -> dict:
    """Graph ``klines/history``: bare ``{s,t,o,h,l,c,v}``, ``t`` in seconds (reference 2.5)."""
    return {
        "s": "ok" if candles else "no_data",
        "t": [c.ts_ms // 1000 for c in candles],
        "o": [num(c.open) for c in candles],
        "h": [num(c.high) for c in candles],
        "l": [num(c.low) for c in candles],
        "c": [num(c.close) for c in candles],
        "v": [num(c.volume) for c in candles],
    }


def ohlc_rows(pair: str, candles: list[Candle]) -> list[dict]:
    """Graph ``ohlcs``: a bare array of daily rows, numbers, ``time`` in seconds (reference 2.5)."""
    rows = []
    for c in candles:
        change = c.close - c.open
        average = c.total / c.volume if c.volume else c.close
        rows.append(
            {
                "pair": pair,
                "time": c.ts_ms // 1000,
                "open": num(c.open),
                "high": num(c.high),
                "low": num(c.low),
                "close": num(c.close),
                "volume": num(c.volume),
                "total": num(c.total),
                "average": num(average.quantize(Decimal("0.01"))),
                "dailyChangeAmount": num(change),
                "dailyChangePercentage": num((change / c.open * 100).quantize(Decimal("0.01"))),
            }
        )
    return rows
