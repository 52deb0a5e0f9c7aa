"""Typed, immutable messages of the BTCTurk websocket, one dataclass per frame type.

Source: reference/btcturk_api.md section 6 (type codes and fields). Built by
:func:`~trading.exchange.btcturk.ws_parse.parse_frame`; :data:`Message` is the union of all of
them and :data:`PRIVATE_MESSAGES` the ones only a logged-in connection receives (section 6.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trading.domain.orderbook import LevelChange
from trading.domain.orders import Side
from trading.domain.reports import BookLevel, PublicTrade, Ticker, TradeReport
from trading.domain.symbols import Symbol


@dataclass(frozen=True, slots=True)
class Welcome:
    """991: version banner sent on connect."""

    current: str
    min: str


@dataclass(frozen=True, slots=True)
class Result:
    """100: answer to a 151 subscription (``message`` like ``join|obdiff:BTCTRY``)."""

    ok: bool
    message: str
    id: int | None = None


@dataclass(frozen=True, slots=True)
class LoginResult:
    """114: answer to the HMAC login; ``message`` is ``""`` when the server sent null."""

    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class TickerAll:
    """401: tickers of all pairs (rows whose pair cannot be split are skipped)."""

    tickers: tuple[Ticker, ...]


@dataclass(frozen=True, slots=True)
class TickerPair:
    """402: ticker of one pair; ``ticker.ts_ms`` is the receive time (no exchange stamp)."""

    ticker: Ticker


@dataclass(frozen=True, slots=True)
class TradeList:
    """421: recent public trades sent once after joining the ``trade`` channel."""

    symbol: Symbol
    trades: tuple[PublicTrade, ...]


@dataclass(frozen=True, slots=True)
class TradeSingle:
    """422: one public trade."""

    trade: PublicTrade


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """431: full book; bids and asks in the exchange's order, ``changeset`` is ``CS``."""

    symbol: Symbol
    changeset: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]


@dataclass(frozen=True, slots=True)
class BookDiff:
    """432: level changes, bids (``BO``) first then asks (``AO``)."""

    symbol: Symbol
    changeset: int
    changes: tuple[LevelChange, ...]


@dataclass(frozen=True, slots=True)
class UserTrade:
    """423: one of our fills (private)."""

    report: TradeReport


@dataclass(frozen=True, slots=True)
class UserOrderMatch:
    """441: one fill of our order (private), one message per fill (#412).

    ``quantity`` base units and ``price`` of this fill; ``method`` 0 limit, 1 market, 2 stop
    limit; ``ts_ms`` is the receive time (the timestamp field name is UNVERIFIED).
    """

    order_id: str
    client_order_id: str
    symbol: Symbol
    side: Side
    method: int
    quantity: Decimal
    price: Decimal
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """451/452/453 fields (private). ``quantity`` is ``amount``, ``remaining`` ``numLeft``
    (base units), ``quote_remaining`` ``denomLeft``; ``side`` from ``orderType`` 0 buy,
    1 sell (inferred, reference 6); ``ts_ms`` is the receive time (no exchange stamp).
    """

    order_id: str
    client_order_id: str
    symbol: Symbol
    side: Side
    method: int
    price: Decimal
    quantity: Decimal
    remaining: Decimal
    quote_remaining: Decimal
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderInsert(OrderEvent):
    """451: our order was placed."""


@dataclass(frozen=True, slots=True)
class OrderDelete(OrderEvent):
    """452: our order left the book (cancel outcome; ``remaining < quantity`` = partly filled)."""


@dataclass(frozen=True, slots=True)
class OrderUpdate(OrderEvent):
    """453: our order changed."""


@dataclass(frozen=True, slots=True)
class BalanceUpdated:
    """201: balances changed (information only: re-read balances over REST)."""

    ts_ms: int


@dataclass(frozen=True, slots=True)
class SystemMessage:
    """801: a message from the exchange for the user."""

    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """A known frame that carries nothing (the zero-filled 451 after connect)."""

    frame_type: int
    reason: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """A frame type we do not handle (428, 802, ...). Ignored, never an error."""

    frame_type: int
    payload: dict[str, Any]


Message = (
    Welcome
    | Result
    | LoginResult
    | TickerAll
    | TickerPair
    | TradeList
    | TradeSingle
    | BookSnapshot
    | BookDiff
    | UserTrade
    | UserOrderMatch
    | OrderInsert
    | OrderDelete
    | OrderUpdate
    | BalanceUpdated
    | SystemMessage
    | Ignored
    | Unknown
)
PRIVATE_MESSAGES = (UserTrade, UserOrderMatch, OrderEvent, BalanceUpdated)
