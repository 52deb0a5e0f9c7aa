"""Encoding of BTCTurk REST request fields: the order body, its decimal strings and order ids.

Source: reference/btcturk_api.md section 4.7 (``POST /api/v1/order`` body, OrderInputModel
decimal pattern), 4.6 and 4.8 (numeric order ids in the path and the query string). Order ids
we send are checked strictly; an id read back from an unreadable answer is taken leniently, only
as a reconciliation hint. Everything here raises :class:`NonRetryableError` before anything is
sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from trading.domain.orders import CLIENT_ORDER_ID_MAX, OrderRequest, OrderType
from trading.exchange.btcturk import urls
from trading.exchange.btcturk.parse_account import wire_quantity
from trading.exchange.errors import NonRetryableError

_ORDER_ID = re.compile(r"[0-9]{1,30}")
# OrderInputModel decimal pattern (reference 4.7): no sign, <= 12 integer, <= 16 fraction digits.
_WIRE_DECIMAL = re.compile(r"[0-9]{0,12}(?:\.[0-9]{1,16})?")


def order_body(request: OrderRequest) -> dict[str, str]:
    """The JSON body of ``POST /api/v1/order`` for ``request`` (reference 4.7), in ccxt's order.

    Decimals are sent as plain strings matching BTCTurk's pattern (no exponent, <= 16
    decimals); a market buy sends ``quote_amount`` as ``quantity`` and no order sends a price
    unless it is a limit order. Raises :class:`NonRetryableError` (nothing sent) for a missing
    or over-long client order id, a limit order without price, or an unrepresentable number.
    """
    label = urls.ORDER_SUBMIT.label
    coid = request.client_order_id
    if not coid or len(coid) > CLIENT_ORDER_ID_MAX:
        raise NonRetryableError(
            f"client order id must be 1..{CLIENT_ORDER_ID_MAX} characters", endpoint=label
        )
    body = {"quantity": _wire_decimal(wire_quantity(request), "quantity")}
    if request.order_type is OrderType.LIMIT:
        if request.price is None:
            raise NonRetryableError("a limit order needs a price", endpoint=label)
        body["price"] = _wire_decimal(request.price, "price")
    body["newOrderClientId"] = coid
    body["orderMethod"] = request.order_type.value
    body["orderType"] = request.side.value
    body["pairSymbol"] = request.symbol.pair
    return body


def _wire_decimal(value: Decimal, name: str) -> str:
    # Bound the exponent before formatting: format(Decimal("1E-999999"), "f") is a huge string.
    fits = value.is_finite() and value > 0 and -16 <= value.adjusted() <= 11
    text = format(value.normalize(), "f") if fits else ""
    if not fits or not _WIRE_DECIMAL.fullmatch(text):
        raise NonRetryableError(
            f"{name} {value} is not a positive decimal with <= 12 integer and <= 16 fraction "
            "digits",
            endpoint=urls.ORDER_SUBMIT.label,
        )
    return text


def checked_order_id(order_id: str) -> str:
    """``order_id`` stripped, when it is 1..30 digits; else :class:`NonRetryableError`."""
    text = str(order_id).strip()
    if not _ORDER_ID.fullmatch(text):
        raise NonRetryableError(f"order id {text[:40]!r} is not a BTCTurk order id (digits)")
    return text


def lenient_order_id(payload: object) -> str:
    """``data.id`` when it is readable (to help reconciliation), else ``""``."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    raw = data.get("id") if isinstance(data, Mapping) else None
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 10**30:
        return str(raw)
    if isinstance(raw, str) and _ORDER_ID.fullmatch(raw.strip()):
        return str(int(raw.strip()))
    return ""
