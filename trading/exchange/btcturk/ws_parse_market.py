"""Parsers of the BTCTurk websocket's public market frames: tickers, trades and order books.

Source: reference/btcturk_api.md section 6: 401/402 tickers, 421/422 public trades, 431 book
snapshot and 432 book diff. Each ``parse_<type>(payload, received_ms)`` takes the frame's
payload object and returns its message from :mod:`~trading.exchange.btcturk.ws_messages`;
tickers carry no exchange time and are stamped with ``received_ms`` (epoch ms).
"""

from __future__ import annotations

from typing import Any

from trading.domain.orderbook import BookSide, LevelAction, LevelChange
from trading.domain.reports import BookLevel, PublicTrade, Ticker
from trading.domain.symbols import Symbol, SymbolError, parse_symbol
from trading.exchange.btcturk.ws_fields import (
    field_error,
    read_id,
    read_int,
    read_list,
    read_non_negative,
    read_object,
    read_optional_price,
    read_positive,
    read_symbol,
    read_taker_side,
    required,
)
from trading.exchange.btcturk.ws_messages import (
    BookDiff,
    BookSnapshot,
    TickerAll,
    TickerPair,
    TradeList,
    TradeSingle,
)


def _ticker(row: dict[str, Any], field: str, received_ms: int) -> Ticker:
    bid = read_optional_price(row, "B", field)
    ask = read_optional_price(row, "A", field)
    return Ticker(
        symbol=read_symbol(required(row, "PS", field), f"{field}.PS"),
        ts_ms=received_ms,
        last=read_positive(required(row, "LA", field), f"{field}.LA"),
        # A zero bid/ask means an empty side; never let it pose as a price.
        bid=bid or None,
        ask=ask or None,
        open=read_optional_price(row, "O", field),
        high=read_optional_price(row, "H", field),
        low=read_optional_price(row, "L", field),
        volume=read_optional_price(row, "V", field),
    )


def parse_401(payload: dict[str, Any], received_ms: int) -> TickerAll:
    tickers = []
    for i, row in enumerate(read_list(payload, "items", "401")):
        field = f"401.items[{i}]"
        row = read_object(row, field)
        if not isinstance(row.get("PS"), str):
            raise field_error(f"{field}.PS", "missing")
        try:
            parse_symbol(row["PS"])
        except SymbolError:
            continue  # a pair with a quote we do not know: not ours, skip rather than fail all
        tickers.append(_ticker(row, field, received_ms))
    return TickerAll(tuple(tickers))


def parse_402(payload: dict[str, Any], received_ms: int) -> TickerPair:
    return TickerPair(_ticker(payload, "402", received_ms))


def _public_trade(row: dict[str, Any], symbol: Symbol, field: str) -> PublicTrade:
    return PublicTrade(
        symbol=symbol,
        trade_id=read_id(required(row, "I", field), f"{field}.I"),
        ts_ms=read_int(required(row, "D", field), f"{field}.D"),
        price=read_positive(required(row, "P", field), f"{field}.P"),
        quantity=read_positive(required(row, "A", field), f"{field}.A"),
        side=read_taker_side(required(row, "S", field), f"{field}.S"),
    )


def parse_421(payload: dict[str, Any], received_ms: int) -> TradeList:
    symbol = read_symbol(required(payload, "symbol", "421"), "421.symbol")
    rows = read_list(payload, "items", "421")
    trades = tuple(
        _public_trade(read_object(row, f"421.items[{i}]"), symbol, f"421.items[{i}]")
        for i, row in enumerate(rows)
    )
    return TradeList(symbol, trades)


def parse_422(payload: dict[str, Any], received_ms: int) -> TradeSingle:
    symbol = read_symbol(required(payload, "PS", "422"), "422.PS")
    return TradeSingle(_public_trade(payload, symbol, "422"))


def _levels(payload: dict[str, Any], key: str) -> tuple[BookLevel, ...]:
    levels = []
    for i, row in enumerate(read_list(payload, key, "431")):
        field = f"431.{key}[{i}]"
        row = read_object(row, field)
        price = read_positive(required(row, "P", field), f"{field}.P")
        levels.append(BookLevel(price, read_non_negative(required(row, "A", field), f"{field}.A")))
    return tuple(levels)


def parse_431(payload: dict[str, Any], received_ms: int) -> BookSnapshot:
    return BookSnapshot(
        symbol=read_symbol(required(payload, "PS", "431"), "431.PS"),
        changeset=read_int(required(payload, "CS", "431"), "431.CS"),
        bids=_levels(payload, "BO"),
        asks=_levels(payload, "AO"),
    )


def _changes(payload: dict[str, Any], key: str, side: BookSide) -> list[LevelChange]:
    changes = []
    # A side with no changes may be absent or empty.
    for i, row in enumerate(payload.get(key) or []):
        field = f"432.{key}[{i}]"
        row = read_object(row, field)
        code = read_int(required(row, "CP", field), f"{field}.CP")
        try:
            action = LevelAction(code)
        except ValueError:
            raise field_error(f"{field}.CP", f"expected 0, 1 or 3, got {code}") from None
        price = read_positive(required(row, "P", field), f"{field}.P")
        quantity = row.get("A")
        if quantity is None and action is LevelAction.DELETE:
            quantity = 0
        changes.append(LevelChange(side, action, price, read_non_negative(quantity, f"{field}.A")))
    return changes


def parse_432(payload: dict[str, Any], received_ms: int) -> BookDiff:
    for key in ("BO", "AO"):
        if payload.get(key) is not None and not isinstance(payload[key], list):
            raise field_error(f"432.{key}", "expected a list")
    return BookDiff(
        symbol=read_symbol(required(payload, "PS", "432"), "432.PS"),
        changeset=read_int(required(payload, "CS", "432"), "432.CS"),
        changes=(
            *_changes(payload, "BO", BookSide.BID),
            *_changes(payload, "AO", BookSide.ASK),
        ),
    )
