"""Parsers of the BTCTurk websocket's private frames: our fills and our order events.

Source: reference/btcturk_api.md sections 6 and 6.1: 423 user trade, 441 order match and
451/452/453 order insert/delete/update, received only after the 114 login. Each parser takes the
frame's payload object and ``received_ms`` (epoch ms, the stamp of frames without exchange
time) and returns its message from :mod:`~trading.exchange.btcturk.ws_messages`. These events
are hints: orders and fills are reconciled over REST.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trading.domain.orders import Side
from trading.domain.reports import TradeReport
from trading.domain.symbols import Symbol
from trading.exchange.btcturk.ws_fields import (
    field_error,
    read_asset,
    read_bool,
    read_decimal,
    read_id,
    read_int,
    read_non_negative,
    read_positive,
    read_symbol,
    read_text,
    required,
)
from trading.exchange.btcturk.ws_messages import (
    Ignored,
    Message,
    OrderEvent,
    UserOrderMatch,
    UserTrade,
)


def parse_423(payload: dict[str, Any], received_ms: int) -> UserTrade:
    amount = read_decimal(required(payload, "amount", "423"), "423.amount")
    if amount == 0:
        raise field_error("423.amount", "must not be 0")
    side = Side.SELL if amount < 0 else Side.BUY
    # The sign of amount decides the side; a "buy"/"sell" orderType that disagrees means the
    # frame is not what we think it is. Other orderType values are not documented: ignored.
    order_type = str(payload.get("orderType")).lower()
    if order_type in ("buy", "sell") and order_type != side.value:
        raise field_error("423.orderType", f"{order_type!r} contradicts amount {amount}")
    quote = read_asset(required(payload, "denominatorSymbol", "423"), "423.denominatorSymbol")
    report = TradeReport(
        trade_id=read_id(required(payload, "id", "423"), "423.id"),
        order_id=read_id(required(payload, "orderId", "423"), "423.orderId"),
        client_order_id=read_text(payload.get("orderClientId"), "423.orderClientId"),
        symbol=Symbol(
            read_asset(required(payload, "numeratorSymbol", "423"), "423.numeratorSymbol"), quote
        ),
        side=side,
        price=read_positive(required(payload, "price", "423"), "423.price"),
        quantity=abs(amount),
        # BTCTurk reports fee and tax negative; charged in the quote asset (reference 7).
        fee=abs(read_decimal(payload.get("fee", 0), "423.fee")),
        tax=abs(read_decimal(payload.get("tax", 0), "423.tax")),
        fee_asset=quote,
        ts_ms=read_int(required(payload, "timestamp", "423"), "423.timestamp"),
    )
    return UserTrade(report)


def parse_441(payload: dict[str, Any], received_ms: int) -> UserOrderMatch:
    return UserOrderMatch(
        order_id=read_id(required(payload, "id", "441"), "441.id"),
        client_order_id=read_text(payload.get("clientId"), "441.clientId"),
        symbol=read_symbol(required(payload, "symbol", "441"), "441.symbol"),
        side=Side.BUY if read_bool(required(payload, "isBid", "441"), "441.isBid") else Side.SELL,
        method=read_int(required(payload, "method", "441"), "441.method"),
        quantity=read_positive(required(payload, "amount", "441"), "441.amount"),
        price=read_positive(required(payload, "price", "441"), "441.price"),
        ts_ms=received_ms,
    )


def order_event_parser(
    cls: type[OrderEvent], code: int
) -> Callable[[dict[str, Any], int], Message]:
    def parse(payload: dict[str, Any], received_ms: int) -> Message:
        f = str(code)
        if payload.get("id") in (0, "0"):
            return Ignored(code, "order event with id 0 (zero-filled noise after connect)")
        # UNVERIFIED (reference 6): orderType 0 = buy, 1 = sell.
        order_type = read_int(required(payload, "orderType", f), f"{f}.orderType")
        if order_type not in (0, 1):
            raise field_error(f"{f}.orderType", f"expected 0 (buy) or 1 (sell), got {order_type}")
        return cls(
            order_id=read_id(required(payload, "id", f), f"{f}.id"),
            client_order_id=read_text(payload.get("newOrderClientId"), f"{f}.newOrderClientId"),
            symbol=read_symbol(required(payload, "symbol", f), f"{f}.symbol"),
            side=Side.BUY if order_type == 0 else Side.SELL,
            method=read_int(required(payload, "method", f), f"{f}.method"),
            price=read_non_negative(required(payload, "price", f), f"{f}.price"),
            quantity=read_non_negative(required(payload, "amount", f), f"{f}.amount"),
            remaining=read_non_negative(required(payload, "numLeft", f), f"{f}.numLeft"),
            quote_remaining=read_non_negative(required(payload, "denomLeft", f), f"{f}.denomLeft"),
            ts_ms=received_ms,
        )

    return parse
