"""The sandbox exchange ASGI application: BTCTurk routes, websocket, faults, control routes.

One Starlette app serves REST and the websocket on one port (:func:`build_app`). Around it sits
:class:`FaultMiddleware`, a plain ASGI wrapper that applies the injector's decision to each HTTP
request of a BTCTurk route (:mod:`trading.exchange.sandbox.faults`). Unknown paths answer 404
and wrong methods 405, both as BTCTurk error bodies.

Control routes (not BTCTurk; no auth, never faulted; the server binds loopback by default):

=================================  ============================================================
``POST /sandbox/advance?bars=N``   close N (default 1, 1..1,000,000) more bars now ->
                                   ``{"advanced", "replayTime", "step", "steps", "atEnd"}``
``GET /sandbox/state``             ``{"replayTime", "step", "steps", "atEnd", "speed",
                                   "symbols", "faults", "faultsFired"}``
``POST /sandbox/faults``           body ``{"spec": "<--faults spec>"}`` replaces the random
                                   fault rules (400 ``{"error"}`` naming a bad item)
``DELETE /sandbox/faults``         removes every fault rule and forced fault
=================================  ============================================================

Background tasks (lifespan): the pacer closes due bars every 20 ms when ``speed > 0``; the
publisher pushes tickers and full books to subscribers every ``publish_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import threading
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trading.domain.jsonsafe import json_loads_bounded
from trading.exchange.sandbox import rest_private, rest_public, wire, ws
from trading.exchange.sandbox.exchange import SandboxExchange
from trading.exchange.sandbox.faults import NO_FAULT, FaultInjector
from trading.exchange.sandbox.rest_public import BODY_MAX_BYTES, BadParameter, bad_request

CONTROL_PREFIX = "/sandbox/"
PACER_TICK_S = 0.02
_dropping: contextvars.ContextVar[bool] = contextvars.ContextVar("sandbox_drop", default=False)

logger = logging.getLogger("trading.exchange.sandbox")


class _IntentionalDropFilter(logging.Filter):
    """Hides uvicorn's complaint about the response we cut on purpose (``order_timeout:drop``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _dropping.get()


_DROP_FILTER = _IntentionalDropFilter()


class FaultMiddleware:
    """Applies :meth:`FaultInjector.for_request` to HTTP requests outside ``/sandbox/``."""

    def __init__(self, app: ASGIApp, faults: FaultInjector) -> None:
        self.app = app
        self.faults = faults
        self.closing = threading.Event()  # set by SandboxServer.stop: abandon delayed answers
        logger = logging.getLogger("uvicorn.error")
        if _DROP_FILTER not in logger.filters:
            logger.addFilter(_DROP_FILTER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.faults.for_request(scope["method"], scope["path"])
        if fault is NO_FAULT:
            await self.app(scope, receive, send)
            return
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.status is not None:
            await _send_status(send, fault.status, fault.retry_after)
            return
        if not fault.drop and fault.order_delay_s is None:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)  # the order is handled and recorded
        if fault.drop:
            # Headers go out, the body never does: uvicorn closes the connection.
            _dropping.set(True)
            await send(messages[0])
            return
        deadline = time.monotonic() + fault.order_delay_s
        while (left := deadline - time.monotonic()) > 0:
            if self.closing.is_set():  # shutting down: the client never gets its answer
                _dropping.set(True)
                return
            await asyncio.sleep(min(left, 0.05))
        for message in messages:
            await send(message)


async def _send_status(send: Send, status: int, retry_after: int | None) -> None:
    if status == 429:
        body = {
            "message": "TOO_MANY_REQUESTS",
            "success": False,
            "code": 429,
            "details": "Quota exceeded (sandbox fault injection).",
            "limit": "0",
            "period": "1m",
            "policy": "ip",
        }
    else:
        body = wire.error_body("SERVICE_UNAVAILABLE" if status == 503 else "INTERNAL_ERROR", status)
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


# --- control routes -------------------------------------------------------------------------


def _state(exchange: SandboxExchange) -> dict:
    market = exchange.market
    return {
        "replayTime": market.now_ms,
        "step": market.steps,
        "steps": market.total_steps,
        "atEnd": market.at_end,
    }


async def control_advance(request: Request) -> JSONResponse:
    exchange: SandboxExchange = request.app.state.exchange
    bars = rest_public.int_param(request, "bars", 1)
    if not 1 <= bars <= 1_000_000:
        return JSONResponse({"error": "bars must be in 1..1000000"}, status_code=400)
    with exchange.lock:
        advanced = exchange.advance(bars)
        return JSONResponse({"advanced": advanced, **_state(exchange)})


async def control_state(request: Request) -> JSONResponse:
    exchange: SandboxExchange = request.app.state.exchange
    faults: FaultInjector = request.app.state.faults
    with exchange.lock:
        body = {
            **_state(exchange),
            "speed": exchange.speed,
            "symbols": [s.pair_normalized for s in exchange.market.symbols],
            "faults": [f"{r.kind}={r.rate}:{r.arg}" for r in faults.rules],
            "faultsFired": dict(faults.fired),
        }
    return JSONResponse(body)


async def control_faults(request: Request) -> JSONResponse:
    faults: FaultInjector = request.app.state.faults
    if request.method == "DELETE":
        faults.clear()
        return JSONResponse({"faults": []})
    try:
        body = json_loads_bounded(
            await request.body() or b"{}", max_bytes=BODY_MAX_BYTES, what="request body"
        )
        if not isinstance(body, dict):
            raise ValueError('body must be {"spec": ...}')
        faults.configure(str(body.get("spec", "")))
    except ValueError as exc:
        return JSONResponse(wire.error_body(str(exc), 400), status_code=400)
    return JSONResponse({"faults": [f"{r.kind}={r.rate}:{r.arg}" for r in faults.rules]})


CONTROL_ROUTES = [
    Route("/sandbox/advance", control_advance, methods=["POST"]),
    Route("/sandbox/state", control_state, methods=["GET"]),
    Route("/sandbox/faults", control_faults, methods=["POST", "DELETE"]),
]


# --- application ----------------------------------------------------------------------------


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "ERROR")
    return JSONResponse(wire.error_body(message, status), status_code=status)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything unexpected: logged with its traceback, answered in BTCTurk's error format."""
    logger.error("sandbox: %s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(wire.error_body("INTERNAL_ERROR", 500), status_code=500)


async def _bad_parameter(request: Request, exc: Exception) -> JSONResponse:
    return bad_request(exc.message if isinstance(exc, BadParameter) else str(exc))


async def _pacer(exchange: SandboxExchange) -> None:
    while True:
        if exchange.speed > 0 and not exchange.market.at_end:
            exchange.advance_due()
        await asyncio.sleep(PACER_TICK_S)


async def _publisher(exchange: SandboxExchange, hub: ws.Hub, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        if hub.has_subscribers:
            hub.dispatch(exchange.periodic_event())


def build_app(
    exchange: SandboxExchange, faults: FaultInjector, *, publish_interval_s: float = 1.0
) -> FaultMiddleware:
    """The ASGI app serving ``exchange`` (module docstring), wrapped in the fault middleware."""
    hub = ws.Hub(exchange)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub.attach(asyncio.get_running_loop())
        tasks = [
            asyncio.create_task(_pacer(exchange)),
            asyncio.create_task(_publisher(exchange, hub, publish_interval_s)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            hub.detach()

    app = Starlette(
        routes=[*rest_public.ROUTES, *rest_private.ROUTES, *ws.ROUTES, *CONTROL_ROUTES],
        exception_handlers={
            HTTPException: _http_error,
            BadParameter: _bad_parameter,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
    app.state.exchange = exchange
    app.state.faults = faults
    app.state.hub = hub
    app.state.book_data = {}  # (symbol, step) -> formatted order book, see rest_public
    return FaultMiddleware(app, faults)
