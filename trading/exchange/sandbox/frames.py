"""Websocket frames of the sandbox exchange (reference/btcturk_api.md section 6).

Every frame is ``[type, payload]`` with ``payload["type"] == type``; channel frames also carry
``channel`` and ``event``. Values are decimal strings (book and trade frames with the tick's /
step's decimals, private frames without trailing zeros); ids, ``CS``, ``S`` and enums are ints.
Enum ints in private frames: ``method`` 0 limit, 1 market; ``orderType`` 0 buy, 1 sell; 422
``S`` 0 buy, 1 sell. The builders at the end turn the market's state into the frames of each
subscription ``(channel, event)``: ``event`` is the pair as ``BTCTRY``, or ``all`` for 401.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from trading.domain.market import Bar
from trading.domain.orders import OrderType, Side
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol
from trading.exchange.sandbox.book import Book, BookDiff
from trading.exchange.sandbox.wire import dec, plain, scale_of, user_trade_row

if TYPE_CHECKING:
    from trading.domain.reports import PublicTrade
    from trading.exchange.sandbox.market import BookUpdate, ReplayMarket
    from trading.exchange.sandbox.records import OrderRecord, UserTrade
    from trading.exchange.sandbox.stats import TickerStats

Frame = list
SubscriptionKey = tuple[str, str]  # (channel, pair as BTCTRY or "all")
CHANNELS = ("ticker", "trade", "orderbook", "obdiff")
MAX_TRADES_PUSHED = 100  # per symbol and step: a long manual advance pushes only the newest
SNAPSHOT_TRADES = 50


def frame(frame_type: int, payload: dict) -> list:
    """``[type, payload]`` with ``payload["type"] = type``."""
    return [frame_type, {**payload, "type": frame_type}]


def welcome() -> list:
    return frame(991, {"current": "5.1.0", "min": "2.3.0"})


def result(ok: bool, message: str) -> list:
    return frame(100, {"ok": ok, "message": message})


def login_result(ok: bool, message: str | None) -> list:
    return frame(114, {"ok": ok, "id": 0, "message": message})


def ticker_fields(t: TickerStats, rules: ExchangeRules) -> dict:
    """402 fields (strings; ids and precisions ints); also the rows of a 401."""
    return {
        "PS": t.symbol.pair,
        "H": dec(t.high),
        "L": dec(t.low),
        "LA": dec(t.last),
        "O": dec(t.open),
        "V": dec(t.volume),
        "AV": dec(t.average),
        "D": dec(t.daily),
        "DP": dec(t.daily_percent),
        "B": dec(t.bid),
        "A": dec(t.ask),
        "DS": t.symbol.quote,
        "NS": t.symbol.base,
        "PId": t.pair_id,
        "NPr": scale_of(rules.step_size),
        "DPr": scale_of(rules.tick_size),
        "Ord": 1000 * t.pair_id,
    }


def channel_frame(frame_type: int, channel: str, event: str, payload: dict) -> list:
    return frame(frame_type, {**payload, "channel": channel, "event": event})


def trade_items(trades: Iterable[PublicTrade]) -> list[dict]:
    return [
        {
            "D": str(t.ts_ms),
            "I": t.trade_id,
            "A": dec(t.quantity),
            "P": dec(t.price),
            "S": 0 if t.side is Side.BUY else 1,
        }
        for t in trades
    ]


def book_full(pair: str, channel: str, book: Book, cs: int) -> list:
    """431 OrderBookFull: ``AO``/``BO`` lists of ``{A, P}``."""
    payload = {
        "CS": cs,
        "PS": pair,
        "AO": [{"A": dec(a), "P": dec(p)} for p, a in book.asks],
        "BO": [{"A": dec(a), "P": dec(p)} for p, a in book.bids],
    }
    return channel_frame(431, channel, pair, payload)


def book_diff_frame(pair: str, diff: BookDiff, cs: int) -> list:
    """432 OrderBookDifference: rows ``{CP, P, A}`` (CP 0 updated, 1 added, 3 deleted)."""
    payload = {
        "CS": cs,
        "PS": pair,
        "AO": [{"CP": cp, "P": dec(p), "A": dec(a)} for cp, p, a in diff.asks],
        "BO": [{"CP": cp, "P": dec(p), "A": dec(a)} for cp, p, a in diff.bids],
    }
    return channel_frame(432, "obdiff", pair, payload)


def order_event(frame_type: int, r: OrderRecord, *, user_id: int, pair_id: int) -> list:
    """451 OrderInsert / 452 OrderDelete / 453 OrderUpdate (reference 6)."""
    num_left = r.left if not r.market_buy else Decimal(0)
    return frame(
        frame_type,
        {
            "pairId": pair_id,
            "symbol": r.symbol.pair,
            "id": r.exchange_id,
            "method": 0 if r.method is OrderType.LIMIT else 1,
            "userId": user_id,
            "orderType": 0 if r.side is Side.BUY else 1,
            "price": plain(r.price) if r.price is not None else "0",
            "amount": plain(r.quantity),
            "numLeft": plain(num_left),
            "denomLeft": plain(r.denom_left),
            "newOrderClientId": r.client_order_id,
        },
    )


def order_match(r: OrderRecord, t: UserTrade, *, user_id: int, pair_id: int) -> list:
    """441 UserOrderMatch: one per fill, ``amount``/``price`` of the fill (reference 6)."""
    return frame(
        441,
        {
            "id": r.exchange_id,
            "user": user_id,
            "isBid": r.side is Side.BUY,
            "method": 0 if r.method is OrderType.LIMIT else 1,
            "pair": pair_id,
            "symbol": r.symbol.pair,
            "amount": plain(t.quantity),
            "price": plain(t.price),
            "clientId": r.client_order_id,
        },
    )


def user_trade(t: UserTrade) -> list:
    """423 UserTrade: the ``users/transactions/trade`` item plus ``orderClientId``."""
    return frame(423, {**user_trade_row(t), "orderClientId": t.client_order_id})


# --- frames of the market's state, by subscription ------------------------------------------


def ticker_frames(market: ReplayMarket) -> dict[SubscriptionKey, list[Frame]]:
    """A 402 per pair with a ticker and one 401 with every row."""
    frames: dict[SubscriptionKey, list[Frame]] = {}
    rows = []
    for symbol in market.symbols:
        ticker = market.ticker(symbol)
        if ticker is None:
            continue
        fields = ticker_fields(ticker, market.rules(symbol))
        rows.append(fields)
        frames[("ticker", symbol.pair)] = [channel_frame(402, "ticker", symbol.pair, fields)]
    frames[("ticker", "all")] = [channel_frame(401, "ticker", "all", {"items": rows})]
    return frames


def step_frames(
    market: ReplayMarket, closed: list[tuple[Symbol, Bar]], updates: list[BookUpdate]
) -> dict[SubscriptionKey, list[Frame]]:
    """After bars closed: tickers, a 422 per new trade, and 431/432 per changed book."""
    frames = ticker_frames(market)
    bars_of: dict[Symbol, list[Bar]] = {}
    for symbol, bar in closed:
        bars_of.setdefault(symbol, []).append(bar)
    for symbol, bars in bars_of.items():
        pair = symbol.pair
        trades = [
            t for bar in bars[-MAX_TRADES_PUSHED:] for t in market.trades_at(symbol, bar.ts_ms)
        ]
        frames[("trade", pair)] = [
            channel_frame(422, "trade", pair, {**item, "PS": pair})
            for item in trade_items(trades[-MAX_TRADES_PUSHED:])
        ]
    for update in updates:
        pair = update.symbol.pair
        frames[("orderbook", pair)] = [book_full(pair, "orderbook", update.book, update.cs)]
        frames[("obdiff", pair)] = [book_diff_frame(pair, update.diff, update.cs)]
    return frames


def periodic_frames(market: ReplayMarket) -> dict[SubscriptionKey, list[Frame]]:
    """Pushed on the timer: tickers (401/402) and full books (431 on ``orderbook``)."""
    frames = ticker_frames(market)
    for symbol in market.symbols:
        published = market.published_book(symbol)
        if published is not None:
            book, cs = published
            frames[("orderbook", symbol.pair)] = [book_full(symbol.pair, "orderbook", book, cs)]
    return frames


def snapshot(market: ReplayMarket, channel: str, event: str) -> tuple[str, list[Frame], int] | None:
    """What a new subscriber gets first: ``(key event, frames, CS)``; ``None`` if unknown.

    ``key event`` is the pair as ``BTCTRY`` (or ``"all"`` for tickers); ``CS`` is the change
    set of the book snapshot (0 for other channels): later book frames with a lower CS, or
    diffs with the same, are stale for this subscriber.
    """
    if channel == "ticker" and event.lower() == "all":
        return "all", ticker_frames(market)[("ticker", "all")], 0
    symbol = market.symbol_for(event)
    if channel not in CHANNELS or symbol is None:
        return None
    pair = symbol.pair
    if channel == "ticker":
        return pair, ticker_frames(market).get(("ticker", pair), []), 0
    if channel == "trade":
        items = trade_items(market.trades(symbol, SNAPSHOT_TRADES))
        return pair, [channel_frame(421, "trade", pair, {"symbol": pair, "items": items})], 0
    published = market.published_book(symbol)
    if published is None:
        return pair, [], 0
    book, cs = published
    return pair, [book_full(pair, channel, book, cs)], cs
