"""Order vocabulary: sides, order types, the order state machine and client order ids.

State machine (DESIGN.md section 5)::

    NEW -> SUBMITTED -> OPEN -> PARTIALLY_FILLED -> FILLED | CANCELED | REJECTED
    UNKNOWN: a submit or cancel whose outcome is uncertain (timeout after sending, 5xx)

Terminal states are FILLED, CANCELED and REJECTED. ``UNKNOWN`` is resolved by reconciliation
into any state the order could really be in.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from trading.domain.symbols import Symbol

CLIENT_ORDER_ID_MAX = 50  # BTCTurk newOrderClientId maxLength (reference/btcturk_api.md 4.7)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class OrderStatus(StrEnum):
    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"


TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED})

_S = OrderStatus
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.NEW: frozenset({_S.SUBMITTED, _S.REJECTED, _S.UNKNOWN}),
    _S.SUBMITTED: frozenset(
        {_S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED, _S.UNKNOWN}
    ),
    _S.OPEN: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.UNKNOWN}),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.UNKNOWN}),
    _S.UNKNOWN: frozenset(
        {_S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED, _S.UNKNOWN}
    ),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
}


class InvalidTransition(ValueError):
    """Raised when an order would move between states the state machine does not allow."""


def order_transition(current: OrderStatus, new: OrderStatus) -> OrderStatus:
    """Return ``new`` if ``current -> new`` is allowed, else raise :class:`InvalidTransition`."""
    if new not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransition(f"order cannot move from {current} to {new}")
    return new


def client_order_id(*, account: str, cycle_ms: int, symbol: Symbol, side: Side, key: str) -> str:
    """Deterministic client order id: same inputs, same id; at most 50 characters.

    Shape: ``mv-<SYMBOL>-<b|s>-<cycle ms base36>-<12 hex of sha256>``. ``account`` namespaces
    a live account or a backtest run; ``key`` distinguishes orders of one cycle (strategy and
    sequence). The readable prefix helps operators; the hash makes the id unique, so when the
    id would exceed 50 characters the prefix is shortened, never the hash.
    """
    digest = hashlib.sha256(
        f"{account}|{cycle_ms}|{symbol.pair}|{side}|{key}".encode()
    ).hexdigest()[:12]
    prefix = f"mv-{symbol.pair[:12]}-{side.value[0]}-{_base36(cycle_ms)}"
    return f"{prefix[: CLIENT_ORDER_ID_MAX - len(digest) - 1]}-{digest}"


def _base36(number: int) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    if number <= 0:
        return "0"
    out = []
    while number:
        number, rem = divmod(number, 36)
        out.append(alphabet[rem])
    return "".join(reversed(out))


class OrderRequest(NamedTuple):
    """A quantized order ready for a venue.

    ``quantity`` is in base units; for a market **buy** BTCTurk expects the quote amount to
    spend instead, carried in ``quote_amount`` (reference/btcturk_api.md 4.7). ``price`` is the
    limit price in quote per base unit (``None`` for market orders).
    """

    client_order_id: str
    symbol: Symbol
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None = None
    quote_amount: Decimal | None = None
    strategy: str = ""
    reason: str = ""

    @property
    def notional(self) -> Decimal:
        """Quote value of the order: price x quantity, or the quote amount of a market buy."""
        if self.quote_amount is not None:
            return self.quote_amount
        return (self.price or Decimal(0)) * self.quantity
