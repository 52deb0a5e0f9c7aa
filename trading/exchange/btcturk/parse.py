"""Shared parsing core for BTCTurk responses: the envelope, error classification, typed fields.

The endpoint parsers live in :mod:`.parse_market` (public ``/api/v2`` and graph API) and
:mod:`.parse_account` (private ``/api/v1``); both build on the pieces here:

- :func:`unwrap` checks the ``{"success", "message", "code", "data"}`` envelope
  (reference/btcturk_api.md sections 1 and 5) and returns ``data``; bare payloads (server
  time, graph API, and the ``data``-only parts kept by recorded sources) pass through.
- :func:`classify_error` turns an HTTP status plus BTCTurk ``code``/``message`` into the
  error taxonomy of :mod:`trading.exchange.errors`. It is also used by the client for non-2xx
  responses, so a reject reads the same whether it arrives with HTTP 400 or 200.
- :class:`Node` reads one field of decoded JSON and converts it strictly. Numbers may be JSON
  numbers (``int``, ``float``, or ``Decimal`` when decoded with ``parse_float=Decimal``) or
  strings and become ``Decimal(str(x))``; bools, NaN, infinities, ``"1_000"``,
  exponents beyond +-40 and over-long text are refused; ids are canonical decimal strings (they
  exceed 2**53). Every failure is a :class:`~trading.exchange.errors.PayloadError` naming the
  field path (``data.asks[3].price``) and the endpoint; no ``KeyError``/``TypeError``/
  ``ValueError``/``InvalidOperation`` escapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from enum import Enum
from typing import TypeVar

from trading.domain.bounds import MAX_INSTANT_MS
from trading.domain.orders import Side
from trading.domain.symbols import Symbol, SymbolError, parse_symbol
from trading.exchange.errors import (
    AUTH_MESSAGE_MARKERS,
    INVALID_NONCE_CODE,
    NOT_FOUND_MESSAGES,
    ORDER_ERROR_CODES,
    ORDER_NOT_FOUND_CODE,
    ORDER_REJECT_MESSAGES,
    AuthenticationError,
    ExchangeError,
    NonRetryableError,
    OrderNotFound,
    OrderRejected,
    PayloadError,
    RateLimited,
    RetryableError,
)

E = TypeVar("E", bound=Enum)

ENVELOPE_KEYS = frozenset({"success", "code", "data"})
# BTCTurk order error codes span 1118..1227 (reference 5); 1152 inside it means "not found".
ORDER_CODE_RANGE = range(1118, 1228)

# ASCII only: ``\d`` would also admit Arabic-Indic digits, which Decimal() happily reads.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_INTEGER_TEXT = re.compile(r"[0-9]{1,30}")
MAX_NUMBER_TEXT = 64  # longest numeric string accepted ("0.0003670154826363" is 18)
MAX_ABS_EXPONENT = 40  # |adjusted exponent| of any money/size value
MAX_TIMESTAMP_MS = MAX_INSTANT_MS - 1  # the shared time bound: 2200-01-01 (exclusive)
_MISSING = object()

SIDES: dict[str, Side] = {"buy": Side.BUY, "sell": Side.SELL}


# --- envelope and errors -------------------------------------------------------------------


def unwrap(payload: object, *, endpoint: str, http_status: int | None = None) -> object:
    """Return ``data`` of an enveloped response, or ``payload`` itself when it has no envelope.

    A mapping with any of ``success``/``code``/``data`` is an envelope. It is an error when
    ``success`` is false or ``code`` is non-zero, whatever ``success`` says: BTCTurk answered
    an invalid stamp with ``success: true, code: 1037`` (reference 5). ``code`` may be a
    string (``"0"``). Raises the classified error (:func:`classify_error`) or
    :class:`PayloadError` when ``success``/``code`` have the wrong type. ``data`` may be
    missing (cancel); then ``None`` is returned.
    """
    if not isinstance(payload, Mapping) or not ENVELOPE_KEYS & payload.keys():
        return payload
    success = payload.get("success", True)
    if success is None:
        success = True
    if not isinstance(success, bool):
        raise PayloadError("not a boolean", field="success", endpoint=endpoint)
    code = envelope_code(payload, endpoint=endpoint)
    if not success or code not in (None, 0):
        raise classify_error(
            endpoint=endpoint,
            http_status=http_status,
            code=code,
            message=envelope_message(payload),
        )
    return payload.get("data")


def envelope_code(payload: Mapping, *, endpoint: str) -> int | None:
    """The envelope's ``code`` as an int (``"0"`` -> 0), ``None`` when absent."""
    raw = payload.get("code")
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"-?[0-9]{1,9}", raw.strip()):
        return int(raw.strip())
    raise PayloadError("not an integer code", field="code", endpoint=endpoint)


def envelope_message(payload: Mapping) -> str:
    """The envelope's ``message`` (``""`` when absent or not a string), at most 200 chars."""
    message = payload.get("message")
    return message.strip()[:200] if isinstance(message, str) else ""


def classify_error(
    *,
    endpoint: str,
    http_status: int | None,
    code: int | None,
    message: str,
    retry_after: float | None = None,
) -> ExchangeError:
    """Map a failed response to the error taxonomy (reference 5, 4.6, 4.8).

    Order of rules: 401/403, code 1037 or an auth message -> :class:`AuthenticationError`;
    429 (HTTP or body) -> :class:`RateLimited`; 5xx -> :class:`RetryableError`; code 1152 or
    ``NO_ORDER_MATCHES_YOUR_REQUEST``/``Order not found`` -> :class:`OrderNotFound`; codes
    1118..1227 or a documented reject message -> :class:`OrderRejected` (``reason``: the
    documented message, else the code's name, else the message); anything else ->
    :class:`NonRetryableError`. Write-specific handling (uncertain outcomes) is the client's.
    """
    text = message or "request failed"
    upper = text.upper()
    kwargs = {"endpoint": endpoint, "http_status": http_status, "code": code}
    if (
        http_status in (401, 403)
        or code == INVALID_NONCE_CODE
        or any(marker in upper for marker in AUTH_MESSAGE_MARKERS)
    ):
        return AuthenticationError(text, **kwargs)
    if http_status == 429 or code == 429 or upper == "TOO_MANY_REQUESTS":
        return RateLimited(text, retry_after=retry_after, **kwargs)
    if http_status is not None and http_status >= 500:
        return RetryableError(text, **kwargs)
    if code == ORDER_NOT_FOUND_CODE or upper in NOT_FOUND_MESSAGES:
        return OrderNotFound(text, **kwargs)
    if (code is not None and code in ORDER_CODE_RANGE) or upper in ORDER_REJECT_MESSAGES:
        return OrderRejected(text, reason=_reject_reason(code, upper, text), **kwargs)
    return NonRetryableError(text, **kwargs)


def _reject_reason(code: int | None, upper: str, text: str) -> str:
    """BTCTurk's name for a refusal: its documented message, else the code's, else the text."""
    if upper in ORDER_REJECT_MESSAGES:
        return upper
    return ORDER_ERROR_CODES.get(code, text) if code is not None else text


# --- typed field access --------------------------------------------------------------------


class Node:
    """One value of decoded JSON with its path, converted strictly on request.

    ``path`` is dotted with list indices (``data.asks[0].price``); ``endpoint`` is
    ``"METHOD /path"``. Conversions raise :class:`PayloadError` naming both.
    """

    __slots__ = ("value", "path", "endpoint")

    def __init__(self, value: object, path: str, endpoint: str) -> None:
        self.value = value
        self.path = path
        self.endpoint = endpoint

    def fail(self, problem: str) -> PayloadError:
        """The error for this field (returned, for ``raise node.fail(...)``)."""
        return PayloadError(problem, field=self.path or "<root>", endpoint=self.endpoint)

    def _child_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def mapping(self) -> Mapping:
        if not isinstance(self.value, Mapping):
            raise self.fail(f"expected an object, got {_kind(self.value)}")
        return self.value

    def req(self, key: str) -> Node:
        """The field ``key`` of this object; missing or ``null`` is an error."""
        value = self.mapping().get(key, _MISSING)
        child = Node(value, self._child_path(key), self.endpoint)
        if value is _MISSING or value is None:
            raise child.fail("missing")
        return child

    def opt(self, key: str) -> Node | None:
        """The field ``key``, or ``None`` when it is missing or ``null``."""
        value = self.mapping().get(key)
        return None if value is None else Node(value, self._child_path(key), self.endpoint)

    def first(self, *keys: str) -> Node:
        """The first of ``keys`` that is present and not ``null`` (error names the first key)."""
        for key in keys:
            child = self.opt(key)
            if child is not None:
                return child
        return self.req(keys[0])

    def items(self) -> Iterator[Node]:
        """The elements of this list, each with its index in the path."""
        if not isinstance(self.value, list):
            raise self.fail(f"expected a list, got {_kind(self.value)}")
        for index, value in enumerate(self.value):
            yield Node(value, f"{self.path}[{index}]", self.endpoint)

    def at(self, index: int) -> Node:
        """Element ``index`` of this list."""
        if not isinstance(self.value, list):
            raise self.fail(f"expected a list, got {_kind(self.value)}")
        child = Node(_MISSING, f"{self.path}[{index}]", self.endpoint)
        if index >= len(self.value) or self.value[index] is None:
            raise child.fail("missing")
        child.value = self.value[index]
        return child

    def text(self) -> str:
        """A non-empty string, stripped."""
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.fail(f"expected a non-empty string, got {_kind(self.value)}")
        return self.value.strip()

    def decimal(self, *, minimum: Decimal | None = None, positive: bool = False) -> Decimal:
        """A JSON number or numeric string as an exact ``Decimal(str(x))``.

        ``minimum`` (inclusive) and ``positive`` (> 0) bound the value.
        """
        number = self._number()
        if positive and number <= 0:
            raise self.fail(f"{number} is not positive")
        if minimum is not None and number < minimum:
            raise self.fail(f"{number} is below {minimum}")
        return number

    def _number(self) -> Decimal:
        value = self.value
        if isinstance(value, Decimal):  # json.loads(..., parse_float=Decimal)
            if not value.is_finite():
                raise self.fail(f"{_preview(value)} is not a finite decimal number")
            return self._bounded(value)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(f"expected a number, got {_kind(value)}")
        if isinstance(value, int) and abs(value) >= 10**MAX_ABS_EXPONENT:
            raise self.fail("number out of range")
        text = value.strip() if isinstance(value, str) else str(value)
        if len(text) > MAX_NUMBER_TEXT or not _DECIMAL_TEXT.fullmatch(text):
            raise self.fail(f"{_preview(value)} is not a finite decimal number")
        try:
            number = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
            raise self.fail(f"{_preview(value)} is not a decimal number") from None
        return self._bounded(number)

    def _bounded(self, number: Decimal) -> Decimal:
        if number and not -MAX_ABS_EXPONENT <= number.adjusted() <= MAX_ABS_EXPONENT:
            raise self.fail("number out of range")
        return number

    def ms(self) -> int:
        """Epoch milliseconds: an integer, integral float or digit string (fractions floored)."""
        number = self._number()
        if number < 0:
            raise self.fail("negative timestamp")
        millis = int(number.to_integral_value(rounding=ROUND_FLOOR))
        if millis > MAX_TIMESTAMP_MS:
            raise self.fail("timestamp out of range")
        return millis

    def seconds_as_ms(self) -> int:
        """Epoch seconds (graph API) converted to milliseconds; must be integral."""
        number = self._number()
        if number < 0 or number != number.to_integral_value():
            raise self.fail(f"{number} is not a whole number of seconds")
        millis = int(number) * 1000
        if millis > MAX_TIMESTAMP_MS:
            raise self.fail("timestamp out of range")
        return millis

    def ident(self) -> str:
        """An exchange id (order id, trade id) as a canonical decimal string.

        Integers and digit strings are accepted (``"007"`` -> ``"7"``); floats are refused
        because ids beyond 2**53 lose digits as floats.
        """
        value = self.value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**30:
            return str(value)
        if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
            return str(int(value.strip()))
        raise self.fail(f"{_preview(value)} is not an integer id")

    def choice(self, table: Mapping[str, E]) -> E:
        """Look the stripped, lower-cased string up in ``table`` (keys lower case)."""
        key = self.text().lower()
        if key not in table:
            raise self.fail(f"unknown value {_preview(self.value)}")
        return table[key]

    def asset(self) -> str:
        """An asset code (``BTC``, ``TRY``): alphanumeric, upper-cased."""
        text = self.text()
        code = text.upper()
        if not text.isascii() or not code.isalnum() or len(code) > 20:
            raise self.fail(f"{_preview(self.value)} is not an asset code")
        return code

    def pair(self) -> Symbol:
        """A pair name (``BTC_TRY`` or ``BTCTRY``) parsed with :func:`parse_symbol`."""
        text = self.text()
        if len(text) > 40 or not text.isascii():
            raise self.fail(f"{_preview(self.value)} is not a pair name")
        try:
            return parse_symbol(text)
        except SymbolError as exc:
            raise self.fail(str(exc)) from None


def symbol_from(node: Node, asset_keys: tuple[str, str], pair_keys: tuple[str, ...]) -> Symbol:
    """Symbol from explicit base/quote fields when both are present, else a pair name.

    Base and quote fields (``numeratorSymbol``/``denominatorSymbol``) are preferred because
    they need no guessing; pair names are parsed with :func:`parse_symbol`, separator first.
    """
    base_key, quote_key = asset_keys
    base, quote = node.opt(base_key), node.opt(quote_key)
    if base is not None and quote is not None:
        return Symbol(base.asset(), quote.asset())
    return node.first(*pair_keys).pair()


def root(payload: object, endpoint: str, *, name: str = "data") -> Node:
    """``Node`` over the unwrapped ``data`` of ``payload`` (see :func:`unwrap`).

    ``name`` roots the field paths: ``data`` for enveloped endpoints (also when a recorded
    source kept only the ``data`` part), ``""`` for the bare graph API and server time.
    """
    data = unwrap(payload, endpoint=endpoint)
    node = Node(data, name, endpoint)
    if data is None:
        raise node.fail("missing")
    return node


def _kind(value: object) -> str:
    if value is _MISSING or value is None:
        return "nothing"
    return type(value).__name__


def _preview(value: object) -> str:
    """Short, safe rendering of a bad value (never the repr of a container or a huge int)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"{value[:37]!r}..."
    if isinstance(value, Decimal):
        return f"Decimal({str(value)[:30]!r})"
    if isinstance(value, bool | float) or (
        isinstance(value, int) and abs(value) < 10**MAX_ABS_EXPONENT
    ):
        return repr(value)
    return f"<{type(value).__name__}>"
