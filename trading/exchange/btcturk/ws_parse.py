"""Parse BTCTurk websocket frames ``[type, payload]`` into typed, immutable messages.

Source: reference/btcturk_api.md section 6 (type codes and fields); every recorded frame in
``tests/fixtures/btcturk/ws_*.json`` parses. Rules:

- numbers may arrive as JSON numbers or strings: ``Decimal(str(x))``; booleans, NaN and
  infinities are rejected; ids are kept as strings (423 trade ids exceed 2**53);
- a malformed *known* frame raises :class:`~trading.exchange.errors.PayloadError` whose
  ``field`` names the frame type and the path, e.g. ``431.AO[2].P``;
- unknown types become :class:`Unknown` and known noise (the zero-filled 451 sent right
  after connect) :class:`Ignored`: neither is an error;
- frames without an exchange timestamp (tickers, 441, 451-453, 201) are stamped with
  ``received_ms``, the local receive time in epoch milliseconds.

**UNVERIFIED** mappings, documented where used: 421/422 ``S`` 0 = buy, 1 = sell (taker side);
451-453 ``orderType`` 0 = buy, 1 = sell; 423 fees are charged in the quote asset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from trading.domain.orderbook import BookSide, LevelAction, LevelChange
from trading.domain.orders import Side
from trading.domain.reports import BookLevel, PublicTrade, Ticker, TradeReport
from trading.domain.symbols import Symbol, SymbolError, parse_symbol
from trading.exchange.errors import PayloadError

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"-?\d{1,30}")  # bounded: int() refuses > 4300 digits
_ASSET = re.compile(r"[A-Z0-9]{1,20}")
ENDPOINT = "websocket"
MAX_EXPONENT = 30  # no BTCTurk price or amount is near 1e30 or 1e-30; beyond is garbage


# --- messages ------------------------------------------------------------------------------


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


# --- field readers -------------------------------------------------------------------------


def _error(field: str, problem: str) -> PayloadError:
    return PayloadError(problem, field=field, endpoint=ENDPOINT)


def _get(payload: dict[str, Any], key: str, field: str) -> Any:
    value = payload.get(key)
    if value is None:
        raise _error(f"{field}.{key}", "missing")
    return value


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise _error(field, f"expected a number, got {type(value).__name__}")
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip()):
        raise _error(field, f"not a decimal number: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _error(field, f"not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise _error(field, f"not a finite number: {value!r}")
    if number and abs(number.adjusted()) > MAX_EXPONENT:
        raise _error(field, f"out of range: {value!r}")
    return number


def _positive(value: Any, field: str) -> Decimal:
    number = _decimal(value, field)
    if number <= 0:
        raise _error(field, f"must be > 0, got {number}")
    return number


def _non_negative(value: Any, field: str) -> Decimal:
    number = _decimal(value, field)
    if number < 0:
        raise _error(field, f"must be >= 0, got {number}")
    return number


def _int(value: Any, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise _error(field, f"expected an integer, got {value!r}")


def _id(value: Any, field: str) -> str:
    """An id as a decimal string; JSON floats are refused (they lose digits above 2**53)."""
    number = _int(value, field)
    if number < 0:
        raise _error(field, f"must be >= 0, got {number}")
    return str(number)


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise _error(field, f"expected true/false, got {value!r}")
    return value


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _error(field, f"expected a string, got {type(value).__name__}")
    return value


def _symbol(value: Any, field: str) -> Symbol:
    try:
        return parse_symbol(_text(value, field))
    except SymbolError as exc:
        raise _error(field, str(exc)) from None


def _asset(value: Any, field: str) -> str:
    text = _text(value, field).strip().upper()
    if not _ASSET.fullmatch(text):
        raise _error(field, f"not an asset code: {value!r}")
    return text


def _list(payload: dict[str, Any], key: str, field: str) -> list[Any]:
    value = _get(payload, key, field)
    if not isinstance(value, list):
        raise _error(f"{field}.{key}", f"expected a list, got {type(value).__name__}")
    return value


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _error(field, f"expected an object, got {type(value).__name__}")
    return value


def _optional_price(payload: dict[str, Any], key: str, field: str) -> Decimal | None:
    value = payload.get(key)
    return None if value is None else _non_negative(value, f"{field}.{key}")


def _taker_side(value: Any, field: str) -> Side:
    # UNVERIFIED (reference 6, 422): S 0 = buy, 1 = sell.
    code = _int(value, field)
    if code not in (0, 1):
        raise _error(field, f"expected 0 (buy) or 1 (sell), got {code}")
    return Side.BUY if code == 0 else Side.SELL


# --- frame parsers -------------------------------------------------------------------------


def _ticker(row: dict[str, Any], field: str, received_ms: int) -> Ticker:
    bid = _optional_price(row, "B", field)
    ask = _optional_price(row, "A", field)
    return Ticker(
        symbol=_symbol(_get(row, "PS", field), f"{field}.PS"),
        ts_ms=received_ms,
        last=_positive(_get(row, "LA", field), f"{field}.LA"),
        # A zero bid/ask means an empty side; never let it pose as a price.
        bid=bid or None,
        ask=ask or None,
        open=_optional_price(row, "O", field),
        high=_optional_price(row, "H", field),
        low=_optional_price(row, "L", field),
        volume=_optional_price(row, "V", field),
    )


def _parse_401(payload: dict[str, Any], received_ms: int) -> TickerAll:
    tickers = []
    for i, row in enumerate(_list(payload, "items", "401")):
        field = f"401.items[{i}]"
        row = _object(row, field)
        if not isinstance(row.get("PS"), str):
            raise _error(f"{field}.PS", "missing")
        try:
            parse_symbol(row["PS"])
        except SymbolError:
            continue  # a pair with a quote we do not know: not ours, skip rather than fail all
        tickers.append(_ticker(row, field, received_ms))
    return TickerAll(tuple(tickers))


def _parse_402(payload: dict[str, Any], received_ms: int) -> TickerPair:
    return TickerPair(_ticker(payload, "402", received_ms))


def _public_trade(row: dict[str, Any], symbol: Symbol, field: str) -> PublicTrade:
    return PublicTrade(
        symbol=symbol,
        trade_id=_id(_get(row, "I", field), f"{field}.I"),
        ts_ms=_int(_get(row, "D", field), f"{field}.D"),
        price=_positive(_get(row, "P", field), f"{field}.P"),
        quantity=_positive(_get(row, "A", field), f"{field}.A"),
        side=_taker_side(_get(row, "S", field), f"{field}.S"),
    )


def _parse_421(payload: dict[str, Any], received_ms: int) -> TradeList:
    symbol = _symbol(_get(payload, "symbol", "421"), "421.symbol")
    rows = _list(payload, "items", "421")
    trades = tuple(
        _public_trade(_object(row, f"421.items[{i}]"), symbol, f"421.items[{i}]")
        for i, row in enumerate(rows)
    )
    return TradeList(symbol, trades)


def _parse_422(payload: dict[str, Any], received_ms: int) -> TradeSingle:
    symbol = _symbol(_get(payload, "PS", "422"), "422.PS")
    return TradeSingle(_public_trade(payload, symbol, "422"))


def _levels(payload: dict[str, Any], key: str) -> tuple[BookLevel, ...]:
    levels = []
    for i, row in enumerate(_list(payload, key, "431")):
        field = f"431.{key}[{i}]"
        row = _object(row, field)
        price = _positive(_get(row, "P", field), f"{field}.P")
        levels.append(BookLevel(price, _non_negative(_get(row, "A", field), f"{field}.A")))
    return tuple(levels)


def _parse_431(payload: dict[str, Any], received_ms: int) -> BookSnapshot:
    return BookSnapshot(
        symbol=_symbol(_get(payload, "PS", "431"), "431.PS"),
        changeset=_int(_get(payload, "CS", "431"), "431.CS"),
        bids=_levels(payload, "BO"),
        asks=_levels(payload, "AO"),
    )


def _changes(payload: dict[str, Any], key: str, side: BookSide) -> list[LevelChange]:
    changes = []
    # A side with no changes may be absent or empty.
    for i, row in enumerate(payload.get(key) or []):
        field = f"432.{key}[{i}]"
        row = _object(row, field)
        code = _int(_get(row, "CP", field), f"{field}.CP")
        try:
            action = LevelAction(code)
        except ValueError:
            raise _error(f"{field}.CP", f"expected 0, 1 or 3, got {code}") from None
        price = _positive(_get(row, "P", field), f"{field}.P")
        quantity = row.get("A")
        if quantity is None and action is LevelAction.DELETE:
            quantity = 0
        changes.append(LevelChange(side, action, price, _non_negative(quantity, f"{field}.A")))
    return changes


def _parse_432(payload: dict[str, Any], received_ms: int) -> BookDiff:
    for key in ("BO", "AO"):
        if payload.get(key) is not None and not isinstance(payload[key], list):
            raise _error(f"432.{key}", "expected a list")
    return BookDiff(
        symbol=_symbol(_get(payload, "PS", "432"), "432.PS"),
        changeset=_int(_get(payload, "CS", "432"), "432.CS"),
        changes=(
            *_changes(payload, "BO", BookSide.BID),
            *_changes(payload, "AO", BookSide.ASK),
        ),
    )


def _parse_423(payload: dict[str, Any], received_ms: int) -> UserTrade:
    amount = _decimal(_get(payload, "amount", "423"), "423.amount")
    if amount == 0:
        raise _error("423.amount", "must not be 0")
    side = Side.SELL if amount < 0 else Side.BUY
    # The sign of amount decides the side; a "buy"/"sell" orderType that disagrees means the
    # frame is not what we think it is. Other orderType values are not documented: ignored.
    order_type = str(payload.get("orderType")).lower()
    if order_type in ("buy", "sell") and order_type != side.value:
        raise _error("423.orderType", f"{order_type!r} contradicts amount {amount}")
    quote = _asset(_get(payload, "denominatorSymbol", "423"), "423.denominatorSymbol")
    report = TradeReport(
        trade_id=_id(_get(payload, "id", "423"), "423.id"),
        order_id=_id(_get(payload, "orderId", "423"), "423.orderId"),
        client_order_id=_text(payload.get("orderClientId"), "423.orderClientId"),
        symbol=Symbol(
            _asset(_get(payload, "numeratorSymbol", "423"), "423.numeratorSymbol"), quote
        ),
        side=side,
        price=_positive(_get(payload, "price", "423"), "423.price"),
        quantity=abs(amount),
        # BTCTurk reports fee and tax negative; charged in the quote asset (reference 7).
        fee=abs(_decimal(payload.get("fee", 0), "423.fee")),
        tax=abs(_decimal(payload.get("tax", 0), "423.tax")),
        fee_asset=quote,
        ts_ms=_int(_get(payload, "timestamp", "423"), "423.timestamp"),
    )
    return UserTrade(report)


def _parse_441(payload: dict[str, Any], received_ms: int) -> UserOrderMatch:
    return UserOrderMatch(
        order_id=_id(_get(payload, "id", "441"), "441.id"),
        client_order_id=_text(payload.get("clientId"), "441.clientId"),
        symbol=_symbol(_get(payload, "symbol", "441"), "441.symbol"),
        side=Side.BUY if _bool(_get(payload, "isBid", "441"), "441.isBid") else Side.SELL,
        method=_int(_get(payload, "method", "441"), "441.method"),
        quantity=_positive(_get(payload, "amount", "441"), "441.amount"),
        price=_positive(_get(payload, "price", "441"), "441.price"),
        ts_ms=received_ms,
    )


def _order_event(cls: type[OrderEvent], code: int) -> Callable[[dict[str, Any], int], Message]:
    def parse(payload: dict[str, Any], received_ms: int) -> Message:
        f = str(code)
        if payload.get("id") in (0, "0"):
            return Ignored(code, "order event with id 0 (zero-filled noise after connect)")
        # UNVERIFIED (reference 6): orderType 0 = buy, 1 = sell.
        order_type = _int(_get(payload, "orderType", f), f"{f}.orderType")
        if order_type not in (0, 1):
            raise _error(f"{f}.orderType", f"expected 0 (buy) or 1 (sell), got {order_type}")
        return cls(
            order_id=_id(_get(payload, "id", f), f"{f}.id"),
            client_order_id=_text(payload.get("newOrderClientId"), f"{f}.newOrderClientId"),
            symbol=_symbol(_get(payload, "symbol", f), f"{f}.symbol"),
            side=Side.BUY if order_type == 0 else Side.SELL,
            method=_int(_get(payload, "method", f), f"{f}.method"),
            price=_non_negative(_get(payload, "price", f), f"{f}.price"),
            quantity=_non_negative(_get(payload, "amount", f), f"{f}.amount"),
            remaining=_non_negative(_get(payload, "numLeft", f), f"{f}.numLeft"),
            quote_remaining=_non_negative(_get(payload, "denomLeft", f), f"{f}.denomLeft"),
            ts_ms=received_ms,
        )

    return parse


def _parse_991(payload: dict[str, Any], received_ms: int) -> Welcome:
    return Welcome(
        _text(payload.get("current"), "991.current"), _text(payload.get("min"), "991.min")
    )


def _parse_100(payload: dict[str, Any], received_ms: int) -> Result:
    raw_id = payload.get("id")
    return Result(
        ok=_bool(_get(payload, "ok", "100"), "100.ok"),
        message=_text(payload.get("message"), "100.message"),
        id=None if raw_id is None else _int(raw_id, "100.id"),
    )


def _parse_114(payload: dict[str, Any], received_ms: int) -> LoginResult:
    return LoginResult(
        ok=_bool(_get(payload, "ok", "114"), "114.ok"),
        message=_text(payload.get("message"), "114.message"),
    )


def _parse_801(payload: dict[str, Any], received_ms: int) -> SystemMessage:
    ok = payload.get("ok")
    return SystemMessage(ok=ok is not False, message=str(payload.get("message") or ""))


_PARSERS: dict[int, Callable[[dict[str, Any], int], Message]] = {
    100: _parse_100,
    114: _parse_114,
    201: lambda payload, received_ms: BalanceUpdated(received_ms),
    401: _parse_401,
    402: _parse_402,
    421: _parse_421,
    422: _parse_422,
    423: _parse_423,
    431: _parse_431,
    432: _parse_432,
    441: _parse_441,
    451: _order_event(OrderInsert, 451),
    452: _order_event(OrderDelete, 452),
    453: _order_event(OrderUpdate, 453),
    801: _parse_801,
    991: _parse_991,
}
KNOWN_TYPES = frozenset(_PARSERS)


# --- entry points --------------------------------------------------------------------------


def decode_frame(text: str | bytes) -> list[Any]:
    """JSON text -> ``[type, payload]`` (JSON decimals become ``Decimal``, exactly).

    Raises :class:`PayloadError` (field ``frame``) for bad JSON or a value that is not a
    two-element ``[int, object]`` array.
    """
    try:
        frame = json.loads(text, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _error("frame", f"not JSON: {exc}") from None
    frame_type(frame)
    return frame


def frame_type(frame: Any) -> int:
    """The type code of a decoded frame; :class:`PayloadError` when it is not ``[int, {}]``."""
    if not isinstance(frame, list) or len(frame) != 2:
        raise _error("frame", "expected a [type, payload] array")
    code, payload = frame
    if isinstance(code, bool) or not isinstance(code, int):
        raise _error("frame", f"type must be an integer, got {code!r}")
    if not isinstance(payload, dict):
        raise _error(f"{code}", f"payload must be an object, got {type(payload).__name__}")
    return code


def parse_frame(frame: Any, *, received_ms: int) -> Message:
    """A decoded frame ``[type, payload]`` -> a typed message (see the module docstring).

    ``received_ms`` (epoch ms) stamps messages that carry no exchange time. Raises
    :class:`PayloadError` for a malformed known frame; unknown types return :class:`Unknown`.
    """
    code = frame_type(frame)
    payload = frame[1]
    parser = _PARSERS.get(code)
    if parser is None:
        return Unknown(code, payload)
    return parser(payload, received_ms)


def parse_text(text: str | bytes, *, received_ms: int) -> Message:
    """:func:`decode_frame` then :func:`parse_frame`."""
    return parse_frame(decode_frame(text), received_ms=received_ms)


def frame_pair(frame: Any) -> str | None:
    """Best-effort pair name (``PS``, ``symbol`` or ``event``) of a decoded, maybe broken frame."""
    if isinstance(frame, list) and len(frame) == 2 and isinstance(frame[1], dict):
        for key in ("PS", "symbol", "event"):
            value = frame[1].get(key)
            if isinstance(value, str) and value:
                return value.upper().replace("_", "")
    return None
