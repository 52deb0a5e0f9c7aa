"""Records of the sandbox accounts: credentials and fees, accepted orders and their fills.

Money is Decimal: prices quote per base unit, quantities base units, fees in the quote asset,
times replay epoch milliseconds (see :mod:`trading.exchange.sandbox.accounts`).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from trading.domain.orders import TERMINAL_STATUSES, OrderStatus, OrderType, Side
from trading.domain.symbols import Symbol

ZERO = Decimal(0)
Frame = list  # a websocket frame [type, payload]


def generate_credentials() -> tuple[str, str]:
    """A new ``(api_key, api_secret)``: a UUID4 key and the base64 of 32 random bytes."""
    return str(uuid.uuid4()), base64.b64encode(secrets.token_bytes(32)).decode("ascii")


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """Credentials and starting free balances (asset -> amount) of one sandbox account.

    ``api_secret`` must be standard base64 (BTCTurk secrets are); ``user_id`` 0 = assigned.
    """

    api_key: str
    api_secret: str
    balances: Mapping[str, Decimal]
    user_id: int = 0


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Commission in basis points of the notional before VAT, and the VAT rate on it."""

    maker_bps: Decimal = Decimal(5)
    taker_bps: Decimal = Decimal(9)
    tax_rate: Decimal = Decimal("0.20")


@dataclass(slots=True)
class OrderRecord:
    """One accepted order as BTCTurk shows it.

    ``quantity`` as submitted (base units; the quote amount for a market buy); ``filled``
    base units, ``spent`` quote notional of the fills; ``status`` the venue status last seen;
    ``denom_left`` the quote value at stake when accepted (BTCTurk 451 ``denomLeft``: what a buy
    locks, fee included; price x quantity for a limit sell, 0 for a market sell).
    """

    exchange_id: int
    venue_id: str
    client_order_id: str
    symbol: Symbol
    side: Side
    method: OrderType
    price: Decimal | None
    quantity: Decimal
    created_ms: int
    updated_ms: int
    status: OrderStatus
    denom_left: Decimal
    filled: Decimal = ZERO
    spent: Decimal = ZERO
    first_fill_price: Decimal | None = None

    @property
    def market_buy(self) -> bool:
        return self.method is OrderType.MARKET and self.side is Side.BUY

    @property
    def left(self) -> Decimal:
        """What is left to trade: quote units for a market buy, base units otherwise."""
        if self.status in TERMINAL_STATUSES and self.status is not OrderStatus.CANCELED:
            return ZERO
        return self.quantity - (self.spent if self.market_buy else self.filled)


@dataclass(frozen=True, slots=True)
class UserTrade:
    """One fill of an account. ``fee``/``tax`` positive quote amounts (shown negative)."""

    trade_id: int
    order_id: int
    client_order_id: str
    symbol: Symbol
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    tax: Decimal
    ts_ms: int


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """An accepted ``order`` (its frames, and the ``trades`` it made on submit) or a venue
    ``reject_code`` with ``detail``."""

    order: OrderRecord | None
    reject_code: str | None = None
    detail: str = ""
    frames: tuple[Frame, ...] = ()
    trades: tuple[UserTrade, ...] = ()
