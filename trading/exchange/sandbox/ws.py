"""Websocket feed of the sandbox exchange, on the HTTP port at ``/`` (and ``/ws``).

Reference/btcturk_api.md section 6. Every frame is ``[type, payload]`` with
``payload["type"] == type``. On connect the server sends ``[991, {"current": "5.1.0", "min":
"2.3.0"}]``. Client frames:

- ``[151, {"channel", "event", "join"}]`` subscribe (``join: true``) or leave. Ack
  ``[100, {"ok": true, "message": "join|<channel>:<event>"}]`` (``leave|...`` when leaving;
  ``ok: false`` for an unknown channel or pair), then for a join the snapshot:
  ``ticker`` + pair: 402 (also on every bar and every ``publish_interval_s``);
  ``ticker`` + ``all``: 401; ``trade``: one 421 (last 50 trades, newest first) then 422 per
  new trade as bars close; ``orderbook``: 431 on join, on each book change and on the timer;
  ``obdiff``: 431 on join, then 432 per book change with ``CS`` one higher each time (frames
  with a ``CS`` at or below the subscriber's snapshot are never sent).
- ``[114, {"publicKey", "timestamp", "nonce", "signature"}]`` HMAC login: ``signature`` =
  ``base64(HMAC_SHA256(base64_decode(secret), publicKey + str(nonce)))`` and ``timestamp``
  (ms) within 5 s of the wall clock. Reply ``[114, {"ok", "id": 0, "message"}]``: ``null`` on
  success, else ``Unauthorized - Invalid Public key`` / ``- Invalid Signature`` /
  ``- Invalid Nonce``. Afterwards the key's 451/452/453/441/423 frames are pushed (no 151).
- anything else (other types, malformed JSON) is ignored.

Fault ``ws_drop``: before each pushed frame (not acks or the banner) the injector may close the
connection with code 1011. A client that reads too slowly (10,000 frames queued) is closed
with 1013.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trading.domain.jsonsafe import json_loads_bounded
from trading.exchange.btcturk.auth import STAMP_TOLERANCE_MS, signature_valid
from trading.exchange.sandbox import frames
from trading.exchange.sandbox.exchange import MarketEvent, PrivateEvent, SandboxExchange
from trading.exchange.sandbox.faults import FaultInjector

QUEUE_LIMIT = 10_000
DROP_CODE = 1011
OVERFLOW_CODE = 1013
PUSH, REPLY = "push", "reply"

logger = logging.getLogger("trading.exchange.sandbox")
FRAME_MAX_BYTES = 16_384


class Session:
    """One websocket connection: its subscriptions, login and outbound queue (loop thread)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, list] | None] = asyncio.Queue()
        self.subscriptions: dict[tuple[str, str], int] = {}  # key -> CS of its snapshot
        self.api_key: str | None = None
        self.overflow = False

    def put(self, kind: str, frame: list) -> None:
        if self.queue.qsize() >= QUEUE_LIMIT:
            self.overflow = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait((kind, frame))

    def deliver(self, event: MarketEvent | PrivateEvent) -> None:
        if isinstance(event, PrivateEvent):
            if event.api_key == self.api_key:
                for frame in event.frames:
                    self.put(PUSH, frame)
            return
        for key, floor_cs in self.subscriptions.items():
            for frame in event.frames.get(key, ()):
                cs = frame[1].get("CS")
                if cs is None or cs > floor_cs or (frame[0] == 431 and cs == floor_cs):
                    self.put(PUSH, frame)


class Hub:
    """Routes exchange events (any thread) to the sessions on the server's event loop."""

    def __init__(self, exchange: SandboxExchange) -> None:
        self.exchange = exchange
        self.sessions: set[Session] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.exchange.add_listener(self.on_event)

    def detach(self) -> None:
        with contextlib.suppress(ValueError):
            self.exchange.remove_listener(self.on_event)
        self._loop = None

    def on_event(self, event: MarketEvent | PrivateEvent) -> None:
        """Exchange listener: schedules delivery; never blocks (called under the lock)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening
                loop.call_soon_threadsafe(self.dispatch, event)

    def dispatch(self, event: MarketEvent | PrivateEvent) -> None:
        for session in tuple(self.sessions):
            session.deliver(event)

    @property
    def has_subscribers(self) -> bool:
        return any(session.subscriptions for session in self.sessions)


def _login(exchange: SandboxExchange, payload: dict) -> tuple[str | None, str | None]:
    """``(api_key, None)`` on success, else ``(None, message)``."""
    key = payload.get("publicKey")
    account = exchange.account(key) if isinstance(key, str) else None
    if account is None:
        return None, "Unauthorized - Invalid Public key"
    nonce, given = payload.get("nonce"), payload.get("signature")
    if not isinstance(given, str) or not signature_valid(
        key, account.secret_key, str(nonce), given
    ):
        return None, "Unauthorized - Invalid Signature"
    stamp = payload.get("timestamp")
    if not isinstance(stamp, int | float) or abs(stamp - exchange.wall_ms()) > STAMP_TOLERANCE_MS:
        return None, "Unauthorized - Invalid Nonce"
    return key, None


def handle_frame(exchange: SandboxExchange, session: Session, text: str) -> None:
    """Apply one client frame (module docstring). A malformed one (not JSON, too large or
    deep, not ``[type, {...}]``) gets ``[100, {"ok": false, "message": "malformed frame:
    ..."}]`` and a log line; a well-formed one of an unknown type is ignored."""
    try:
        message = json_loads_bounded(text, max_bytes=FRAME_MAX_BYTES, what="frame")
    except ValueError as exc:
        _malformed(session, str(exc))
        return
    if not (isinstance(message, list) and len(message) == 2 and isinstance(message[1], dict)):
        _malformed(session, "frame: expected [type, {...}]")
        return
    kind, payload = message
    if kind == 114:
        key, problem = _login(exchange, payload)
        if key is not None:
            session.api_key = key
        session.put(REPLY, frames.login_result(key is not None, problem))
    elif kind == 151:
        channel, event = str(payload.get("channel", "")), str(payload.get("event", ""))
        label = f"{channel}:{event}"
        if payload.get("join", True) is False:
            snapshot = exchange.snapshot(channel, event)
            if snapshot is not None:
                session.subscriptions.pop((channel, snapshot[0]), None)
            session.put(REPLY, frames.result(True, f"leave|{label}"))
            return
        snapshot = exchange.snapshot(channel, event)
        if snapshot is None:
            session.put(REPLY, frames.result(False, f"join|{label}"))
            return
        key_event, first_frames, cs = snapshot
        session.subscriptions[(channel, key_event)] = cs
        session.put(REPLY, frames.result(True, f"join|{label}"))
        for frame in first_frames:
            session.put(REPLY, frame)


def _malformed(session: Session, problem: str) -> None:
    logger.warning("sandbox websocket: malformed frame refused: %s", problem)
    session.put(REPLY, frames.result(False, f"malformed frame: {problem}"))


async def _send_loop(websocket: WebSocket, session: Session, faults: FaultInjector) -> None:
    while True:
        item = await session.queue.get()
        if item is None:
            await websocket.close(code=OVERFLOW_CODE, reason="client too slow")
            return
        kind, frame = item
        if kind == PUSH and faults.ws_drop():
            await websocket.close(code=DROP_CODE, reason="sandbox fault: ws_drop")
            return
        await websocket.send_text(json.dumps(frame, separators=(",", ":")))


async def _receive_loop(websocket: WebSocket, exchange: SandboxExchange, session: Session) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None and message.get("bytes") is not None:
            text = message["bytes"].decode("utf-8", errors="replace")
        if text:
            handle_frame(exchange, session, text)


async def feed(websocket: WebSocket) -> None:
    """The websocket endpoint: banner, then receive and send concurrently until either ends."""
    state = websocket.app.state
    hub: Hub = state.hub
    session = Session()
    await websocket.accept()
    session.put(REPLY, frames.welcome())
    hub.sessions.add(session)
    tasks = {
        asyncio.create_task(_send_loop(websocket, session, state.faults)),
        asyncio.create_task(_receive_loop(websocket, hub.exchange, session)),
    }
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.sessions.discard(session)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


ROUTES = [WebSocketRoute("/", feed), WebSocketRoute("/ws", feed)]
