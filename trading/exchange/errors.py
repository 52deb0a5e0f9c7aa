"""Exchange error taxonomy: every adapter failure is one of four kinds, each with an owner.

=============  ==========================================================  =====================
kind           meaning                                                     who handles it
=============  ==========================================================  =====================
retryable      transient; the request had no effect (429, 5xx or timeout   the retry layer
               on a GET, connection refused before sending)                (GETs only)
non_retryable  the exchange refused the request (order rejects with        the caller: record
               BTCTurk codes, not found, bad parameters, broken payload)   the reason, move on
uncertain      a write (POST/DELETE) may or may not have taken effect      reconciliation by
               (timeout or 5xx after sending, unreadable 2xx body)         client order id
fatal          configuration or credentials are wrong (401, bad secret,    the operator: stop
               permission, IP block)                                       trading and alert
=============  ==========================================================  =====================

Source: reference/btcturk_api.md section 5 (codes, HTTP statuses) and 4.8 (cancel errors).
Messages never include API keys, secrets or signatures.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorKind(StrEnum):
    RETRYABLE = "retryable"
    NON_RETRYABLE = "non_retryable"
    UNCERTAIN = "uncertain"
    FATAL = "fatal"


class ExchangeError(Exception):
    """Base of every adapter error.

    ``endpoint`` is ``"METHOD /path"``; ``http_status`` and ``code`` (BTCTurk's numeric code)
    are ``None`` when not known; ``message`` is the exchange's message or ours.
    """

    kind: ClassVar[ErrorKind] = ErrorKind.NON_RETRYABLE

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        http_status: int | None = None,
        code: int | None = None,
    ) -> None:
        self.message = message
        self.endpoint = endpoint
        self.http_status = http_status
        self.code = code
        super().__init__(self._text())

    def _text(self) -> str:
        parts = [f"{self.endpoint}: " if self.endpoint else "", self.message]
        extra = []
        if self.http_status is not None:
            extra.append(f"HTTP {self.http_status}")
        if self.code is not None:
            extra.append(f"code {self.code}")
        if extra:
            parts.append(f" ({', '.join(extra)})")
        return "".join(parts)


class RetryableError(ExchangeError):
    """Transient failure of a request that had no effect; safe to repeat (GETs only)."""

    kind = ErrorKind.RETRYABLE

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class RateLimited(RetryableError):
    """HTTP 429 (or our own throttle gave up); ``retry_after`` seconds from ``Retry-After``."""


class NonRetryableError(ExchangeError):
    """The exchange refused the request; repeating it unchanged gives the same answer."""

    kind = ErrorKind.NON_RETRYABLE


class OrderRejected(NonRetryableError):
    """An order or cancel refused with a BTCTurk code (1123 min total, 1126 price scale, ...).

    ``reason`` names the refusal in one word for the record (execution stores it as the
    denial code ``VENUE_<reason>``): BTCTurk's message (``FAILED_MIN_TOTAL_AMOUNT``) for the
    BTCTurk client, the venue reject code (``MIN_NOTIONAL``) for the simulated exchange;
    ``""`` when unknown.
    """

    def __init__(self, message: str, *, reason: str = "", **kwargs) -> None:
        self.reason = reason
        super().__init__(message, **kwargs)


class OrderNotFound(NonRetryableError):
    """The order id is unknown (1152 on ``GET /order/{id}``, NO_ORDER_MATCHES on cancel)."""


class PayloadError(NonRetryableError):
    """A response that breaks the contract: a required field missing or malformed.

    ``field`` is the dotted path of the offending field (``data[3].price``). On a write the
    client re-raises this as :class:`OutcomeUncertain`: the order may exist.
    """

    def __init__(self, message: str, *, field: str = "", **kwargs) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message, **kwargs)


class OutcomeUncertain(ExchangeError):
    """A POST or DELETE whose effect is unknown. Never retried: reconcile by client order id.

    ``client_order_id`` is set for submits (the key to look the order up by), ``order_id``
    for cancels.
    """

    kind = ErrorKind.UNCERTAIN

    def __init__(
        self,
        message: str,
        *,
        client_order_id: str = "",
        order_id: str = "",
        **kwargs,
    ) -> None:
        self.client_order_id = client_order_id
        self.order_id = order_id
        super().__init__(message, **kwargs)


class FatalError(ExchangeError):
    """Credentials, permissions or configuration are wrong: stop trading and alert."""

    kind = ErrorKind.FATAL


class AuthenticationError(FatalError):
    """401 (bad signature, invalid nonce/stamp, unknown key, IP not whitelisted) or 403."""


class ConfigurationError(FatalError):
    """A setting is unusable (e.g. an API secret that is not base64); names the variable."""


# BTCTurk order error codes (reference 5, numeric values fixed 2024-05-06) -> message.
ORDER_ERROR_CODES: dict[int, str] = {
    1118: "FAILED_MARKET_ORDER",
    1120: "FAILED_LIMIT_ORDER",
    1122: "FAILED_ORDER_WITH_OPEN_ORDERS",
    1123: "FAILED_MIN_TOTAL_AMOUNT",
    1124: "FAILED_STOP_PRICE_GREATER_THAN_BEST_ASK",
    1125: "FAILED_STOP_PRICE_LESS_THAN_BEST_BID",
    1126: "FAILED_INVALID_PRICE_SCALE",
    1127: "FAILED_INVALID_QUANTITY_SCALE",
    1128: "FAILED_INVALID_STOP_PRICE_SCALE",
    1134: "ORDER_METHOD_NOT_SUPPORTED",
    1193: "ORDER_TYPE_NOT_SUPPORTED",
    1226: "PRICE_MUST_BE_LESS_THAN_MAXPRICE",
    1227: "PRICE_MUST_BE_LESS_THAN_MINPRICE",
}
ORDER_NOT_FOUND_CODE = 1152
INVALID_NONCE_CODE = 1037

# Documented messages without a fixed number (reference 5, 4.8).
NOT_FOUND_MESSAGES = frozenset({"NO_ORDER_MATCHES_YOUR_REQUEST", "ORDER NOT FOUND"})
ORDER_REJECT_MESSAGES = frozenset(
    {
        *ORDER_ERROR_CODES.values(),
        "BALANCE_NOT_ENOUGH",
        "FAILED_ORDER_PARAMETER",
        "STOP_PRICE_GREATER_THAN_MARKET",
        "STOP_PRICE_LESS_THAN_MARKET",
        "ORDER_MIN_PRICE_EXCEEDED",
        "ORDER_MAX_PRICE_EXCEEDED",
        "ORDER_COULD_NOT_BE_CANCELED",
        "ORDER_CANCEL_BLOCKED",
    }
)
AUTH_MESSAGE_MARKERS = ("UNAUTHORIZED", "INVALID NONCE", "INVALID SIGNATURE", "HEADERS ARE MISSING")
