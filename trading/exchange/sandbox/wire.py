"""BTCTurk REST JSON of the sandbox exchange (reference/btcturk_api.md sections 2, 4 and 5).

Types follow the recorded payloads in ``tests/fixtures/btcturk/``: ticker, exchangeinfo band
prices, graph candles and ``preciseAmount`` are JSON **numbers** (ints when integral, else
floats); order book, trades, balances, orders and user trades carry **decimal strings** (plain
notation, never an exponent: the book and public trades with the tick's / step's decimals,
private values without trailing zeros); ids are ints except public trade ids (strings); times
are epoch milliseconds except the graph API (seconds). The order book ``timestamp`` is a
float, as recorded. Websocket frames are in :mod:`trading.exchange.sandbox.frames`.

Order statuses: venue ``OPEN`` -> ``Untouched``, ``PARTIALLY_FILLED`` -> ``Partial``,
``FILLED`` -> ``Closed``, ``CANCELED`` -> ``Canceled`` (reference 4.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from trading.domain.orders import OrderStatus, Side
from trading.domain.reports import AssetBalance
from trading.exchange.simulated import VENUE_REJECT_TO_BTCTURK

if TYPE_CHECKING:
    from trading.exchange.sandbox.records import OrderRecord, UserTrade

STATUS_NAMES = {
    OrderStatus.OPEN: "Untouched",
    OrderStatus.PARTIALLY_FILLED: "Partial",
    OrderStatus.FILLED: "Closed",
    OrderStatus.CANCELED: "Canceled",
}
ASSET_NAMES = {
    "TRY": "Türk Lirası",
    "USDT": "Tether",
    "BTC": "Bitcoin",
    "ETH": "Ethereum",
    "AVAX": "Avalanche",
    "SOL": "Solana",
}
FIAT = frozenset({"TRY", "USD", "EUR", "GBP"})


def dec(value: Decimal) -> str:
    """A decimal string in plain notation (``"10"``, ``"0.00000001"``)."""
    return format(value, "f")


def plain(value: Decimal) -> str:
    """Like :func:`dec` without trailing zeros (``10.00`` -> ``"10"``)."""
    return dec(value.normalize()) if value else "0"


def num(value: Decimal) -> int | float:
    """A JSON number: an int when ``value`` is integral, else the nearest float."""
    return int(value) if value == value.to_integral_value() else float(value)


def scale_of(step: Decimal) -> int:
    """Decimals of ``step`` (``10`` -> 0, ``0.01`` -> 2)."""
    return max(0, -step.normalize().as_tuple().exponent)


# --- envelopes and errors -------------------------------------------------------------------

UNNUMBERED_CODE = 400  # body ``code`` for messages BTCTurk documents without a number


def venue_reject(reject_code: str) -> tuple[int, str]:
    """``(code, message)`` of the HTTP 400 body for a venue reject code.

    The mapping is :data:`trading.exchange.simulated.VENUE_REJECT_TO_BTCTURK` (shared with the
    in-memory adapter); a message without a documented number gets code 400; an unknown venue
    code is passed through as the message.
    """
    code, message = VENUE_REJECT_TO_BTCTURK.get(reject_code, (None, reject_code))
    return (UNNUMBERED_CODE if code is None else code), message


def envelope(data: object, message: str | None = None) -> dict:
    """``{"success": true, "message": ..., "code": 0, "data": ...}`` (reference 1)."""
    return {"success": True, "message": message, "code": 0, "data": data}


def error_body(message: str, code: int) -> dict:
    """``{"success": false, "message": ..., "code": ...}`` (reference 5)."""
    return {"success": False, "message": message, "code": code}


# --- private --------------------------------------------------------------------------------


def balance_rows(balances: Mapping[str, AssetBalance]) -> list[dict]:
    """``GET /api/v1/users/balances`` rows, decimal strings (reference 4.1)."""
    return [
        {
            "asset": asset,
            "assetname": ASSET_NAMES.get(asset, asset),
            "balance": plain(b.total),
            "locked": plain(b.locked),
            "free": plain(b.free),
            "orderFund": "0",
            "requestFund": "0",
            "precision": 2 if asset in FIAT else 8,
        }
        for asset, b in sorted(balances.items())
    ]


def order_object(r: OrderRecord) -> dict:
    """The order object of openOrders / allOrders / order/{id} (reference 4.6).

    ``price`` is the limit price, for a market order its first fill price ("0" before it);
    ``amount``/``quantity`` as submitted; ``leftAmount`` what is left (quote units for a
    market buy); ``time`` creation and ``updateTime`` last change, replay ms.
    """
    price = r.price if r.price is not None else (r.first_fill_price or Decimal(0))
    return {
        "id": r.exchange_id,
        "price": plain(price),
        "amount": plain(r.quantity),
        "quantity": plain(r.quantity),
        "stopPrice": "0",
        "pairSymbol": r.symbol.pair,
        "pairSymbolNormalized": r.symbol.pair_normalized,
        "type": r.side.value,
        "method": r.method.value,
        "orderClientId": r.client_order_id,
        "time": r.created_ms,
        "updateTime": r.updated_ms,
        "status": STATUS_NAMES.get(r.status, str(r.status)),
        "leftAmount": plain(r.left),
    }


def submit_data(r: OrderRecord) -> dict:
    """``data`` of a successful ``POST /api/v1/order`` (reference 4.7)."""
    return {
        "id": r.exchange_id,
        "datetime": r.created_ms,
        "type": r.side.value,
        "method": r.method.value,
        "price": plain(r.price) if r.price is not None else "0",
        "stopPrice": None,
        "quantity": plain(r.quantity),
        "pairSymbol": r.symbol.pair,
        "pairSymbolNormalized": r.symbol.pair_normalized,
        "newOrderClientId": r.client_order_id,
    }


def user_trade_row(t: UserTrade) -> dict:
    """A ``users/transactions/trade`` item: amount negative for sells, fee and tax negative."""
    amount = t.quantity if t.side is Side.BUY else -t.quantity
    return {
        "price": plain(t.price),
        "numeratorSymbol": t.symbol.base,
        "denominatorSymbol": t.symbol.quote,
        "orderType": t.side.value,
        "orderId": t.order_id,
        "id": t.trade_id,
        "timestamp": t.ts_ms,
        "amount": plain(amount),
        "fee": plain(-t.fee),
        "tax": plain(-t.tax),
        "preciseAmount": num(amount),
    }
