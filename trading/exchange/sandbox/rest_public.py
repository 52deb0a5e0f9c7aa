"""Public REST routes of the sandbox exchange (reference/btcturk_api.md section 2).

=====================================  =========================================================
route                                  answer
=====================================  =========================================================
``GET /api/v2/server/exchangeinfo``    envelope, ``data.symbols`` from the dataset's rules
``GET /api/v2/server/time``            bare ``{serverTime, serverTime2}``, **wall** clock
``GET /api/v2/ticker``                 envelope, list; ``pairSymbol`` optional (BTCTRY/BTC_TRY)
``GET /api/v2/ticker/currency``        envelope, list of pairs quoted in ``symbol``
``GET /api/v2/orderbook``, ``orderBook``  envelope; ``pairSymbol`` required, ``limit`` 1..1000
``GET /api/v2/trades``                 envelope, list newest first; ``pairSymbol``, ``last``
``GET /v1/ohlcs``                      bare array of daily rows; ``pair``, ``from``/``to`` (s)
``GET /v1/klines/history``             bare ``{s,t,o,h,l,c,v}``; ``symbol``, ``resolution``
                                       (minutes, or ``1 d``/``1D``, ``1 w``/``1W``), ``from``/``to`` (s)
=====================================  =========================================================

Market data carries **replay** times. A missing or unknown pair answers HTTP 400
``{"success": false, "message": "PAIR_SYMBOL_NOT_FOUND", "code": 400}``; a malformed number
``INVALID_PARAMETER`` the same way (sandbox wording: BTCTurk's is not documented). The graph
routes answer ``[]`` / ``{"s": "no_data", ...}`` for an unknown pair or an empty range and HTTP
400 ``{"s": "error", "errmsg": ...}`` for a resolution that is not a multiple of the bar interval.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trading.domain.symbols import Symbol
from trading.exchange.sandbox import wire, wire_public
from trading.exchange.sandbox.exchange import SandboxExchange

DAY_MS = 86_400_000
MAX_TIME_S = 10**11  # graph ranges: "to" defaults far in the future


# Request bodies are small JSON objects; anything larger is refused unread.
BODY_MAX_BYTES = 65_536


class BadParameter(ValueError):
    """A query parameter that cannot be used; ``message`` goes into the error body."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def exchange_of(request: Request) -> SandboxExchange:
    return request.app.state.exchange


def bad_request(message: str) -> JSONResponse:
    return JSONResponse(wire.error_body(message, 400), status_code=400)


def int_param(request: Request, name: str, default: int | None = None) -> int | None:
    """An integer query parameter (``None``/default when absent); raises :class:`BadParameter`."""
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    if len(text) > 32:
        raise BadParameter(f"INVALID_PARAMETER: {name}")
    try:
        return int(float(text)) if "." in text else int(text)
    except (ValueError, OverflowError):  # "1e400" is inf: no integer
        raise BadParameter(f"INVALID_PARAMETER: {name}") from None


def symbol_param(request: Request, *names: str) -> Symbol:
    exchange = exchange_of(request)
    for name in names:
        symbol = exchange.market.symbol_for(request.query_params.get(name))
        if symbol is not None:
            return symbol
    raise BadParameter("PAIR_SYMBOL_NOT_FOUND")


async def server_time(request: Request) -> JSONResponse:
    now = exchange_of(request).wall_ms()
    moment = datetime.fromtimestamp(now // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return JSONResponse({"serverTime": now, "serverTime2": f"{moment}.{now % 1000:03d}0000+00:00"})


async def exchange_info(request: Request) -> JSONResponse:
    exchange = exchange_of(request)
    assets = {a for s in exchange.market.symbols for a in (s.base, s.quote)}
    data = {
        "timeZone": "UTC",
        "serverTime": exchange.wall_ms(),
        "symbols": exchange.exchange_info_symbols,
        "currencies": wire_public.currency_entries(assets),
        "currencyOperationBlocks": [],
    }
    return JSONResponse(wire.envelope(data))


async def ticker(request: Request) -> JSONResponse:
    exchange = exchange_of(request)
    wanted = None
    if request.query_params.get("pairSymbol"):
        wanted = symbol_param(request, "pairSymbol")
    with exchange.lock:
        rows = [
            wire_public.ticker_row(t)
            for s in exchange.market.symbols
            if (wanted is None or s == wanted) and (t := exchange.market.ticker(s)) is not None
        ]
    return JSONResponse(wire.envelope(rows))


async def ticker_currency(request: Request) -> JSONResponse:
    exchange = exchange_of(request)
    quote = (request.query_params.get("symbol") or "").strip().upper()
    if not quote:
        raise BadParameter("INVALID_PARAMETER: symbol")
    with exchange.lock:
        rows = [
            wire_public.ticker_row(t)
            for s in exchange.market.symbols
            if s.quote == quote and (t := exchange.market.ticker(s)) is not None
        ]
    return JSONResponse(wire.envelope(rows))


async def orderbook(request: Request) -> JSONResponse:
    exchange = exchange_of(request)
    symbol = symbol_param(request, "pairSymbol")
    limit = min(max(int_param(request, "limit", 100), 1), 1000)
    with exchange.lock:
        # The book only changes when bars close: format it once per step (the costly part).
        cache = request.app.state.book_data
        key = (symbol, exchange.market.steps)
        if key not in cache:
            if len(cache) > 64:
                cache.clear()
            cache[key] = wire_public.orderbook_data(exchange.market.book(symbol), exchange.now_ms)
        full = cache[key]
    data = {
        "timestamp": full["timestamp"],
        "bids": full["bids"][:limit],
        "asks": full["asks"][:limit],
    }
    return JSONResponse(wire.envelope(data))


async def trades(request: Request) -> JSONResponse:
    exchange = exchange_of(request)
    symbol = symbol_param(request, "pairSymbol")
    last = min(max(int_param(request, "last", 50), 1), 1000)
    with exchange.lock:
        rows = [wire_public.trade_row(t) for t in exchange.market.trades(symbol, last)]
    return JSONResponse(wire.envelope(rows))


def _resolution_ms(text: str | None) -> int:
    value = (text or "1").replace(" ", "").upper()
    units = {"D": 1440, "W": 10080}
    try:
        if value[-1] in units:
            return int(value[:-1] or 1) * units[value[-1]] * 60_000
        return int(value) * 60_000
    except ValueError:
        raise BadParameter(f"resolution {text!r} is not supported") from None


async def klines_history(request: Request) -> JSONResponse:
    exchange = exchange_of(request)
    symbol = exchange.market.symbol_for(request.query_params.get("symbol"))
    start_s = int_param(request, "from", 0)
    end_s = int_param(request, "to", MAX_TIME_S)
    try:
        bucket = _resolution_ms(request.query_params.get("resolution"))
        if symbol is None:
            return JSONResponse(wire_public.klines([]))
        with exchange.lock:
            candles = exchange.market.candles(
                symbol, start_ms=start_s * 1000, end_ms=end_s * 1000, bucket_ms=bucket
            )
    except (BadParameter, ValueError) as exc:
        return JSONResponse({"s": "error", "errmsg": str(exc)}, status_code=400)
    return JSONResponse(wire_public.klines(candles))


async def ohlcs(request: Request) -> JSONResponse:
    exchange = exchange_of(request)
    symbol = exchange.market.symbol_for(request.query_params.get("pair"))
    if symbol is None:
        return JSONResponse([])
    start_s = int_param(request, "from", 0)
    end_s = int_param(request, "to", MAX_TIME_S)
    try:
        with exchange.lock:
            candles = exchange.market.candles(
                symbol, start_ms=start_s * 1000, end_ms=end_s * 1000, bucket_ms=DAY_MS
            )
    except ValueError:  # bars that do not tile a day
        return JSONResponse([])
    return JSONResponse(wire_public.ohlc_rows(symbol.pair, candles))


ROUTES = [
    Route("/api/v2/server/exchangeinfo", exchange_info, methods=["GET"]),
    Route("/api/v2/server/time", server_time, methods=["GET"]),
    Route("/api/v2/ticker", ticker, methods=["GET"]),
    Route("/api/v2/ticker/currency", ticker_currency, methods=["GET"]),
    Route("/api/v2/orderbook", orderbook, methods=["GET"]),
    Route("/api/v2/orderBook", orderbook, methods=["GET"]),
    Route("/api/v2/trades", trades, methods=["GET"]),
    Route("/v1/ohlcs", ohlcs, methods=["GET"]),
    Route("/v1/klines/history", klines_history, methods=["GET"]),
]
