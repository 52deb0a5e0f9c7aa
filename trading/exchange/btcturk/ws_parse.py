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

Message types live in :mod:`~trading.exchange.btcturk.ws_messages` (re-exported here), field
readers in :mod:`~trading.exchange.btcturk.ws_fields`, frame parsers in
:mod:`~trading.exchange.btcturk.ws_parse_market` and
:mod:`~trading.exchange.btcturk.ws_parse_account`; this module holds the session frames (991,
100, 114, 801, 201), the type table and the entry points.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from trading.domain.jsonsafe import json_loads_bounded
from trading.exchange.btcturk.ws_fields import ENDPOINT as ENDPOINT
from trading.exchange.btcturk.ws_fields import MAX_EXPONENT as MAX_EXPONENT
from trading.exchange.btcturk.ws_fields import field_error, read_bool, read_int, read_text, required
from trading.exchange.btcturk.ws_messages import PRIVATE_MESSAGES as PRIVATE_MESSAGES
from trading.exchange.btcturk.ws_messages import (
    BalanceUpdated,
    LoginResult,
    Message,
    OrderDelete,
    OrderInsert,
    OrderUpdate,
    Result,
    SystemMessage,
    Unknown,
    Welcome,
)
from trading.exchange.btcturk.ws_messages import BookDiff as BookDiff
from trading.exchange.btcturk.ws_messages import BookSnapshot as BookSnapshot
from trading.exchange.btcturk.ws_messages import Ignored as Ignored
from trading.exchange.btcturk.ws_messages import OrderEvent as OrderEvent
from trading.exchange.btcturk.ws_messages import TickerAll as TickerAll
from trading.exchange.btcturk.ws_messages import TickerPair as TickerPair
from trading.exchange.btcturk.ws_messages import TradeList as TradeList
from trading.exchange.btcturk.ws_messages import TradeSingle as TradeSingle
from trading.exchange.btcturk.ws_messages import UserOrderMatch as UserOrderMatch
from trading.exchange.btcturk.ws_messages import UserTrade as UserTrade
from trading.exchange.btcturk.ws_parse_account import order_event_parser, parse_423, parse_441
from trading.exchange.btcturk.ws_parse_market import (
    parse_401,
    parse_402,
    parse_421,
    parse_422,
    parse_431,
    parse_432,
)

# --- session frames ------------------------------------------------------------------------

# A websocket frame is at most a full order book (a few hundred KB).
FRAME_MAX_BYTES = 4_000_000


def _parse_991(payload: dict[str, Any], received_ms: int) -> Welcome:
    return Welcome(
        read_text(payload.get("current"), "991.current"), read_text(payload.get("min"), "991.min")
    )


def _parse_100(payload: dict[str, Any], received_ms: int) -> Result:
    raw_id = payload.get("id")
    return Result(
        ok=read_bool(required(payload, "ok", "100"), "100.ok"),
        message=read_text(payload.get("message"), "100.message"),
        id=None if raw_id is None else read_int(raw_id, "100.id"),
    )


def _parse_114(payload: dict[str, Any], received_ms: int) -> LoginResult:
    return LoginResult(
        ok=read_bool(required(payload, "ok", "114"), "114.ok"),
        message=read_text(payload.get("message"), "114.message"),
    )


def _parse_801(payload: dict[str, Any], received_ms: int) -> SystemMessage:
    ok = payload.get("ok")
    return SystemMessage(ok=ok is not False, message=str(payload.get("message") or ""))


_PARSERS: dict[int, Callable[[dict[str, Any], int], Message]] = {
    100: _parse_100,
    114: _parse_114,
    201: lambda payload, received_ms: BalanceUpdated(received_ms),
    401: parse_401,
    402: parse_402,
    421: parse_421,
    422: parse_422,
    423: parse_423,
    431: parse_431,
    432: parse_432,
    441: parse_441,
    451: order_event_parser(OrderInsert, 451),
    452: order_event_parser(OrderDelete, 452),
    453: order_event_parser(OrderUpdate, 453),
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
        frame = json_loads_bounded(
            text, max_bytes=FRAME_MAX_BYTES, max_depth=16, what="frame", parse_float=Decimal
        )
    except ValueError as exc:  # JsonRejected: malformed, too large or too deep
        raise field_error("frame", str(exc)) from None
    frame_type(frame)
    return frame


def frame_type(frame: Any) -> int:
    """The type code of a decoded frame; :class:`PayloadError` when it is not ``[int, {}]``."""
    if not isinstance(frame, list) or len(frame) != 2:
        raise field_error("frame", "expected a [type, payload] array")
    code, payload = frame
    if isinstance(code, bool) or not isinstance(code, int):
        raise field_error("frame", f"type must be an integer, got {code!r}")
    if not isinstance(payload, dict):
        raise field_error(f"{code}", f"payload must be an object, got {type(payload).__name__}")
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
