"""Reading BTCTurk REST responses: body decoding and classification of failed answers.

Source: reference/btcturk_api.md section 5 (HTTP statuses, error codes, ``Retry-After``).
:func:`decode_body` keeps JSON decimals exact; :func:`status_error` maps a non-2xx answer
into the error taxonomy of :mod:`trading.exchange.errors` through
:func:`~trading.exchange.btcturk.parse.classify_error` (the table is in the
:mod:`~trading.exchange.btcturk.client` docstring).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import httpx

from trading.domain.jsonsafe import json_loads_bounded
from trading.exchange.btcturk import urls
from trading.exchange.btcturk.parse import classify_error, envelope_code, envelope_message
from trading.exchange.errors import ExchangeError, NonRetryableError, PayloadError

# Exchange answers are at most a few MB (exchangeinfo) and a few levels deep.
MAX_BODY_BYTES = 16_000_000
MAX_DEPTH = 16
NOT_JSON = object()  # what decode_body returns for a body that is not JSON


def decode_body(response: httpx.Response) -> object:
    """The decoded JSON body of ``response``, or :data:`NOT_JSON`."""
    try:
        # Decimal for fractional numbers: nothing is lost between the wire and the parser.
        return json_loads_bounded(
            response.content,
            max_bytes=MAX_BODY_BYTES,
            max_depth=MAX_DEPTH,
            what="response",
            parse_float=Decimal,
        )
    except ValueError:  # JsonRejected: malformed, too large or too deep
        return NOT_JSON


def status_error(
    response: httpx.Response, payload: object, endpoint: urls.Endpoint
) -> ExchangeError:
    """The classified error for a non-2xx ``response`` whose decoded body is ``payload``."""
    status = response.status_code
    if status < 400:  # redirects are not followed: the endpoint moved or a proxy interferes
        return NonRetryableError(
            f"unexpected HTTP {status}", endpoint=endpoint.label, http_status=status
        )
    code, message = None, ""
    if isinstance(payload, Mapping):
        message = envelope_message(payload)
        try:
            code = envelope_code(payload, endpoint=endpoint.label)
        except PayloadError:
            code = None
    return classify_error(
        endpoint=endpoint.label,
        http_status=status,
        code=code,
        message=message or response.reason_phrase or f"HTTP {status}",
        retry_after=retry_after(response) if status == 429 else None,
    )


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (reference 5); ``None`` when absent or not a number."""
    raw = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(raw)
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None
