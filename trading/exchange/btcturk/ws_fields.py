"""Field readers for BTCTurk websocket payloads: each checks one value and names it on failure.

Source: reference/btcturk_api.md section 6 (field types). Numbers may arrive as JSON numbers or
strings and become ``Decimal``; booleans, NaN, infinities and absurd exponents are refused; ids
stay strings. Every failure is a :class:`~trading.exchange.errors.PayloadError` whose ``field``
is the frame type and path, e.g. ``431.AO[2].P``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from trading.domain.orders import Side
from trading.domain.symbols import Symbol, SymbolError, parse_symbol
from trading.exchange.errors import PayloadError

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"-?\d{1,30}")  # bounded: int() refuses > 4300 digits
_ASSET = re.compile(r"[A-Z0-9]{1,20}")
ENDPOINT = "websocket"
MAX_EXPONENT = 30  # no BTCTurk price or amount is near 1e30 or 1e-30; beyond is garbage


def field_error(field: str, problem: str) -> PayloadError:
    return PayloadError(problem, field=field, endpoint=ENDPOINT)


def required(payload: dict[str, Any], key: str, field: str) -> Any:
    value = payload.get(key)
    if value is None:
        raise field_error(f"{field}.{key}", "missing")
    return value


def read_decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise field_error(field, f"expected a number, got {type(value).__name__}")
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip()):
        raise field_error(field, f"not a decimal number: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise field_error(field, f"not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise field_error(field, f"not a finite number: {value!r}")
    if number and abs(number.adjusted()) > MAX_EXPONENT:
        raise field_error(field, f"out of range: {value!r}")
    return number


def read_positive(value: Any, field: str) -> Decimal:
    number = read_decimal(value, field)
    if number <= 0:
        raise field_error(field, f"must be > 0, got {number}")
    return number


def read_non_negative(value: Any, field: str) -> Decimal:
    number = read_decimal(value, field)
    if number < 0:
        raise field_error(field, f"must be >= 0, got {number}")
    return number


def read_int(value: Any, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise field_error(field, f"expected an integer, got {value!r}")


def read_id(value: Any, field: str) -> str:
    """An id as a decimal string; JSON floats are refused (they lose digits above 2**53)."""
    number = read_int(value, field)
    if number < 0:
        raise field_error(field, f"must be >= 0, got {number}")
    return str(number)


def read_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise field_error(field, f"expected true/false, got {value!r}")
    return value


def read_text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise field_error(field, f"expected a string, got {type(value).__name__}")
    return value


def read_symbol(value: Any, field: str) -> Symbol:
    try:
        return parse_symbol(read_text(value, field))
    except SymbolError as exc:
        raise field_error(field, str(exc)) from None


def read_asset(value: Any, field: str) -> str:
    text = read_text(value, field).strip().upper()
    if not _ASSET.fullmatch(text):
        raise field_error(field, f"not an asset code: {value!r}")
    return text


def read_list(payload: dict[str, Any], key: str, field: str) -> list[Any]:
    value = required(payload, key, field)
    if not isinstance(value, list):
        raise field_error(f"{field}.{key}", f"expected a list, got {type(value).__name__}")
    return value


def read_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise field_error(field, f"expected an object, got {type(value).__name__}")
    return value


def read_optional_price(payload: dict[str, Any], key: str, field: str) -> Decimal | None:
    value = payload.get(key)
    return None if value is None else read_non_negative(value, f"{field}.{key}")


def read_taker_side(value: Any, field: str) -> Side:
    # UNVERIFIED (reference 6, 422): S 0 = buy, 1 = sell.
    code = read_int(value, field)
    if code not in (0, 1):
        raise field_error(field, f"expected 0 (buy) or 1 (sell), got {code}")
    return Side.BUY if code == 0 else Side.SELL
