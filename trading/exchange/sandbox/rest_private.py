"""Private REST routes of the sandbox exchange (reference/btcturk_api.md sections 3 and 4).

Authentication like BTCTurk (section 3): ``X-PCK``, ``X-Stamp`` (ms) and ``X-Signature`` =
``base64(HMAC_SHA256(base64_decode(secret), key + stamp))`` on every ``/api/v1`` call. HTTP 401:

- a header missing: ``{"success": false, "message": "Unauthorized - Headers are missing", "code": 401}``
- unknown key or wrong signature: ``"Unauthorized - Invalid Signature"``, code 401
- stamp not an integer or more than ``STAMP_TOLERANCE_MS`` (5 s) from the **wall** clock:
  ``"Unauthorized - Invalid Nonce"``, code 1037

=========================================  =====================================================
route                                      answer (envelope ``data``)
=========================================  =====================================================
``GET /api/v1/users/balances``             list of balance rows (every asset of the dataset)
``GET /api/v1/openOrders``                 ``{asks: [sell orders], bids: [buy orders]}``;
                                           ``pairSymbol`` optional
``GET /api/v1/allOrders``                  list, newest first; ``pairSymbol``, ``orderId`` (ids
                                           >= it), ``startTime``/``endTime`` (ms; values below
                                           1e11 are taken as seconds, as ccxt sends them),
                                           ``page`` (1-based), ``limit`` or ``last`` (100, max 1000)
``GET /api/v1/order/{id}``                 one order; unknown -> 400 ``Order not found`` 1152
``POST /api/v1/order``                     ``{id, datetime, type, method, price, stopPrice,
                                           quantity, pairSymbol, pairSymbolNormalized,
                                           newOrderClientId}``, message ``OK``
``DELETE /api/v1/order?id=``               no data, message ``SUCCESS``; unknown id -> 400
                                           ``NO_ORDER_MATCHES_YOUR_REQUEST``
``GET /api/v1/users/transactions/trade``   fills newest first; ``type`` and ``symbol``
                                           repeatable, ``pairSymbol``, ``startDate``/``endDate``
                                           (ms, default the last 30 replay days), or ``orderId``
=========================================  =====================================================

Order body (section 4.7): ``pairSymbol``, ``orderType`` (buy/sell, else 1193), ``orderMethod``
(limit/market; stop methods are not simulated: 1134), ``quantity`` (the quote amount for a
market buy), ``price`` (limit only), ``newOrderClientId`` (<= 50 chars; a UUID4 when absent;
ccxt's ``newClientOrderId`` is ignored as BTCTurk most likely does). Decimals must match
``^\\d{0,12}(\\.\\d{1,16})?$``; a bad body answers 400 ``FAILED_ORDER_PARAMETER``. Venue rejects
answer 400 with BTCTurk's code (:func:`trading.exchange.sandbox.wire.venue_reject`): 1123 min
total, 1126/1127 price/quantity scale, 1226/1227 band, 1122 balance, 1134 method; a client id
already used by an accepted order of the key is ``FAILED_ORDER_PARAMETER`` (the venue refuses
duplicates; BTCTurk's behaviour is UNVERIFIED). An accepted order fills at once as a taker
against the current book, walking its levels (a limit order up to its limit price, a market
order up to 5 % from the best price); a limit order's remainder rests and fills as later bars
trade through it, a market order's remainder is canceled (see
:mod:`trading.exchange.sandbox.accounts`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trading.domain.bounds import BoundError, instant_ms
from trading.domain.jsonsafe import json_loads_bounded
from trading.domain.orders import CLIENT_ORDER_ID_MAX, OrderType, Side
from trading.exchange.btcturk.auth import STAMP_TOLERANCE_MS, signature_valid
from trading.exchange.errors import INVALID_NONCE_CODE, ORDER_NOT_FOUND_CODE
from trading.exchange.sandbox import wire
from trading.exchange.sandbox.accounts import Account
from trading.exchange.sandbox.rest_public import (
    BODY_MAX_BYTES,
    BadParameter,
    bad_request,
    exchange_of,
    int_param,
    symbol_param,
)

DECIMAL_PATTERN = re.compile(r"^\d{0,12}(\.\d{1,16})?$")
THIRTY_DAYS_MS = 30 * 86_400_000
SECONDS_BELOW = 10**11  # a time value below this is seconds, not milliseconds
PARAMETER_ERROR = "FAILED_ORDER_PARAMETER"

Handler = Callable[[Request, Account], Awaitable[JSONResponse]]


def unauthorized(message: str, code: int = 401) -> JSONResponse:
    return JSONResponse(wire.error_body(message, code), status_code=401)


def authenticate(request: Request) -> Account | JSONResponse:
    """The account of a correctly signed request, or the 401 response (module docstring)."""
    exchange = exchange_of(request)
    key = request.headers.get("X-PCK")
    stamp = request.headers.get("X-Stamp")
    given = request.headers.get("X-Signature")
    if not key or not stamp or not given:
        return unauthorized("Unauthorized - Headers are missing")
    account = exchange.account(key)
    if account is None or not signature_valid(key, account.secret_key, stamp, given):
        return unauthorized("Unauthorized - Invalid Signature")
    try:
        skew = abs(int(stamp) - exchange.wall_ms())
    except ValueError:
        skew = STAMP_TOLERANCE_MS + 1
    if skew > STAMP_TOLERANCE_MS:
        return unauthorized("Unauthorized - Invalid Nonce", INVALID_NONCE_CODE)
    return account


def private(handler: Handler) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        account = authenticate(request)
        if isinstance(account, JSONResponse):
            return account
        return await handler(request, account)

    endpoint.__name__ = handler.__name__
    return endpoint


def _time_ms(value: int | None) -> int | None:
    if value is None:
        return None
    return value * 1000 if abs(value) < SECONDS_BELOW else value


def _time_param(request: Request, name: str, default: int | None = None) -> int | None:
    """An epoch seconds-or-milliseconds query parameter as ms, checked by the shared time
    validator (1970 up to 2200); raises :class:`BadParameter` naming it otherwise."""
    value = _time_ms(int_param(request, name))
    if value is None:
        return default
    try:
        return instant_ms(name, value)
    except BoundError:
        raise BadParameter(f"INVALID_PARAMETER: {name}") from None


async def balances(request: Request, account: Account) -> JSONResponse:
    with exchange_of(request).lock:
        rows = wire.balance_rows(account.venue.balances())
    return JSONResponse(wire.envelope(rows))


async def open_orders(request: Request, account: Account) -> JSONResponse:
    symbol = None
    if request.query_params.get("pairSymbol"):
        symbol = symbol_param(request, "pairSymbol")
    with exchange_of(request).lock:
        orders = account.open_orders(symbol)
        data = {
            "asks": [wire.order_object(r) for r in orders if r.side is Side.SELL],
            "bids": [wire.order_object(r) for r in orders if r.side is Side.BUY],
        }
    return JSONResponse(wire.envelope(data))


async def all_orders(request: Request, account: Account) -> JSONResponse:
    symbol = None
    if request.query_params.get("pairSymbol"):
        symbol = symbol_param(request, "pairSymbol")
    first_id = int_param(request, "orderId")
    start = _time_ms(int_param(request, "startTime"))
    end = _time_ms(int_param(request, "endTime"))
    limit = min(max(int_param(request, "limit", int_param(request, "last", 100)), 1), 1000)
    page = max(int_param(request, "page", 1), 1)
    with exchange_of(request).lock:
        chosen = [
            r
            for r in reversed(account.orders.values())
            if (symbol is None or r.symbol == symbol)
            and (first_id is None or r.exchange_id >= first_id)
            and (start is None or r.created_ms >= start)
            and (end is None or r.created_ms <= end)
        ]
        rows = [wire.order_object(r) for r in chosen[(page - 1) * limit : page * limit]]
    return JSONResponse(wire.envelope(rows))


async def order_get(request: Request, account: Account) -> JSONResponse:
    try:
        order_id = int(request.path_params["order_id"])
    except ValueError:
        order_id = None
    with exchange_of(request).lock:
        record = account.orders.get(order_id)
        if record is None:
            body = wire.error_body("Order not found", ORDER_NOT_FOUND_CODE)
            return JSONResponse(body, status_code=400)
        return JSONResponse(wire.envelope(wire.order_object(record)))


def _decimal(body: dict, name: str, *, required: bool) -> Decimal | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise BadParameter(PARAMETER_ERROR)
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not DECIMAL_PATTERN.match(text) or text in ("", "."):
        raise BadParameter(PARAMETER_ERROR)
    return Decimal(text)


async def order_submit(request: Request, account: Account) -> JSONResponse:
    exchange = exchange_of(request)
    try:
        body = json_loads_bounded(
            await request.body() or b"{}", max_bytes=BODY_MAX_BYTES, what="request body"
        )
    except ValueError:
        return bad_request(PARAMETER_ERROR)
    if not isinstance(body, dict):
        return bad_request(PARAMETER_ERROR)
    symbol = exchange.market.symbol_for(str(body.get("pairSymbol") or ""))
    if symbol is None:
        return bad_request(PARAMETER_ERROR)
    side_text = str(body.get("orderType") or "").lower()
    if side_text not in ("buy", "sell"):
        return JSONResponse(wire.error_body("ORDER_TYPE_NOT_SUPPORTED", 1193), status_code=400)
    method_text = str(body.get("orderMethod") or "").lower()
    if method_text not in ("limit", "market"):
        return JSONResponse(wire.error_body("ORDER_METHOD_NOT_SUPPORTED", 1134), status_code=400)
    method = OrderType(method_text)
    quantity = _decimal(body, "quantity", required=True)
    price = _decimal(body, "price", required=method is OrderType.LIMIT)
    client_id = body.get("newOrderClientId") or str(uuid.uuid4())
    if not isinstance(client_id, str) or len(client_id) > CLIENT_ORDER_ID_MAX:
        return bad_request(PARAMETER_ERROR)
    outcome = exchange.submit_order(
        account.api_key,
        symbol=symbol,
        side=Side(side_text),
        method=method,
        quantity=quantity,
        price=price,
        client_order_id=client_id,
    )
    if outcome.order is None:
        code, message = wire.venue_reject(outcome.reject_code)
        return JSONResponse(wire.error_body(message, code), status_code=400)
    return JSONResponse(wire.envelope(wire.submit_data(outcome.order), "OK"))


async def order_cancel(request: Request, account: Account) -> JSONResponse:
    try:
        order_id = int(request.query_params.get("id") or "")
    except ValueError:
        order_id = None
    reject = "ORDER_NOT_FOUND" if order_id is None else None
    if reject is None:
        reject = exchange_of(request).cancel_order(account.api_key, order_id)
    if reject is not None:
        code, message = wire.venue_reject(reject)
        return JSONResponse(wire.error_body(message, code), status_code=400)
    return JSONResponse({"success": True, "message": "SUCCESS", "code": 0})


async def user_trades(request: Request, account: Account) -> JSONResponse:
    exchange = exchange_of(request)
    query = request.query_params
    order_id = int_param(request, "orderId")
    symbol = symbol_param(request, "pairSymbol") if query.get("pairSymbol") else None
    with exchange.lock:
        start = _time_param(request, "startDate", exchange.now_ms - THIRTY_DAYS_MS)
        trades = account.user_trades(
            sides={t.lower() for t in query.getlist("type")} or None,
            assets={s.upper() for s in query.getlist("symbol")} or None,
            symbol=symbol,
            start_ms=start,
            end_ms=_time_param(request, "endDate"),
            order_id=order_id,
        )
        rows = [wire.user_trade_row(t) for t in trades]
    rows = request.app.state.faults.trade_dup(rows)
    return JSONResponse(wire.envelope(rows, "SUCCESS"))


ROUTES = [
    Route("/api/v1/users/balances", private(balances), methods=["GET"]),
    Route("/api/v1/openOrders", private(open_orders), methods=["GET"]),
    Route("/api/v1/allOrders", private(all_orders), methods=["GET"]),
    Route("/api/v1/order/{order_id}", private(order_get), methods=["GET"]),
    Route("/api/v1/order", private(order_submit), methods=["POST"]),
    Route("/api/v1/order", private(order_cancel), methods=["DELETE"]),
    Route("/api/v1/users/transactions/trade", private(user_trades), methods=["GET"]),
]
