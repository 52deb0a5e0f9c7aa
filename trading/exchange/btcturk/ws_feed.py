"""The BTCTurk websocket connection: login, subscriptions, reading, resyncs and reconnects.

Source: reference/btcturk_api.md section 6 (frames, subscriptions, 114 login, heartbeat) and
section 5 (15 websocket connects per minute); the frames sent are listed in the
:mod:`~trading.exchange.btcturk.ws` docstring. :class:`BtcturkFeed` runs the connection and
keeps its :class:`~trading.exchange.btcturk.ws_state.FeedState` up to date.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidURI, WebSocketException
from websockets.uri import parse_uri

from trading.domain.symbols import Symbol
from trading.exchange.btcturk.auth import ws_login_frame
from trading.exchange.btcturk.ws_connection import (
    DEFAULT_CHANNELS,
    WS_CONNECTS_PER_MINUTE,
    Backoff,
    ConnectLimiter,
    subscription_frame,
)
from trading.exchange.btcturk.ws_messages import PRIVATE_MESSAGES, LoginResult, Message, Welcome
from trading.exchange.btcturk.ws_state import FeedState
from trading.exchange.errors import (
    AuthenticationError,
    ConfigurationError,
    FatalError,
    PayloadError,
)

# Log under the feed's public module name: the JSON logs' "logger" field stays as it was.
logger = logging.getLogger("trading.exchange.btcturk.ws")

M = TypeVar("M")


def _epoch_ms() -> int:
    return time.time_ns() // 1_000_000


class BtcturkFeed(FeedState):
    """Keeps order books (``obdiff``), tickers (``ticker``, 402) and recent public trades
    (``trade``, 421/422) of ``symbols`` fresh over one websocket, until :meth:`stop`.

    ``clock`` returns epoch ms (receive stamps, ages and the 114 login ``timestamp``, which
    must be close to the exchange clock: pass ``ServerClock.now_ms`` in production).
    With ``api_key`` and ``secret_key`` (raw bytes, see ``auth.decode_secret``) it logs in
    (114) and forwards private messages to ``on_private_event`` (called on the event loop;
    exceptions are logged and swallowed). Read accessors are thread-safe.

    Errors: :meth:`run` raises :class:`AuthenticationError` when the login is refused and
    :class:`ConfigurationError` when a subscription is refused or the URL is invalid (both
    fatal: no reconnect). Everything else (refused connection, timeouts, drops, a missing
    ack, no message for ``max_silence_s``) reconnects after a jittered exponential backoff,
    within ``max_connects_per_minute``; every book is out of sync until its new snapshot.
    A changeset gap, a crossed book or a broken book frame resubscribes that symbol's
    ``obdiff`` (leave + join) for a fresh 431; a snapshot that does not come within
    ``resync_timeout_s`` is asked for again.
    """

    def __init__(
        self,
        url: str,
        symbols: Iterable[Symbol],
        *,
        channels: Iterable[str] = DEFAULT_CHANNELS,
        api_key: str = "",
        secret_key: bytes | None = None,
        on_private_event: Callable[[Message], None] | None = None,
        clock: Callable[[], int] = _epoch_ms,
        rng: random.Random | None = None,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        max_connects_per_minute: int = WS_CONNECTS_PER_MINUTE,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 20.0,
        open_timeout_s: float = 10.0,
        reply_timeout_s: float = 10.0,
        resync_timeout_s: float = 10.0,
        max_silence_s: float | None = 60.0,
        housekeeping_s: float = 1.0,
    ) -> None:
        try:
            parse_uri(url)
        except InvalidURI as exc:
            raise ConfigurationError(f"BTCTURK_WS_URL is not a websocket URL: {exc}") from None
        self.url = url
        super().__init__(symbols, channels=channels, clock=clock)
        if bool(api_key) != bool(secret_key):
            raise ConfigurationError("websocket login needs both an API key and a secret")
        self._api_key, self._secret_key = api_key, secret_key
        self._on_private_event = on_private_event
        self._backoff = Backoff(
            base_s=backoff_base_s, cap_s=backoff_cap_s, rng=rng or random.Random()
        )
        self._limiter = ConnectLimiter(max_connects_per_minute, 60.0)
        self._ping_interval_s, self._ping_timeout_s = ping_interval_s, ping_timeout_s
        self._open_timeout_s = open_timeout_s
        self._reply_timeout_s, self._resync_timeout_s = reply_timeout_s, resync_timeout_s
        self._max_silence_s, self._housekeeping_s = max_silence_s, housekeeping_s
        self._ws: ClientConnection | None = None
        self._stop_requested = False
        self._stop_event: asyncio.Event | None = None
        self._closing: asyncio.Task[None] | None = None
        self._established = False

    @property
    def logs_in(self) -> bool:
        """Whether the feed sends the 114 login (and so receives private events)."""
        return bool(self._api_key and self._secret_key)

    # --- lifecycle ----------------------------------------------------------------------

    async def run(self) -> None:
        """Connect and process frames until :meth:`stop`; see the class docstring for errors."""
        self._stop_event = asyncio.Event()
        failures = 0
        try:
            while not self._stop_requested:
                await self._pause(self._limiter.wait_s(time.monotonic()))
                if self._stop_requested:
                    break
                self._established = False
                try:
                    await self._session()
                except FatalError as exc:
                    self._last_error = str(exc)
                    raise
                except (OSError, TimeoutError, WebSocketException, PayloadError) as exc:
                    if not self._stop_requested:
                        self._last_error = f"{type(exc).__name__}: {exc}"
                        logger.warning("btcturk websocket lost: %s", self._last_error)
                finally:
                    self._disconnected()
                if self._stop_requested:
                    break
                failures = 1 if self._established else failures + 1
                self._reconnects += 1
                await self._pause(self._backoff.delay_s(failures))
        finally:
            if self._closing is not None:
                await asyncio.gather(self._closing, return_exceptions=True)

    def stop(self) -> None:
        """Ask :meth:`run` to return. Call on the feed's event loop (``FeedThread.stop`` does)."""
        self._stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()
        if self._ws is not None and self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._ws.close())

    async def _pause(self, seconds: float) -> None:
        if seconds <= 0 or self._stop_event is None:
            return
        try:
            async with asyncio.timeout(seconds):
                await self._stop_event.wait()
        except TimeoutError:
            pass

    async def _session(self) -> None:
        self._limiter.record(time.monotonic())
        self._connects += 1
        connection = connect(
            self.url,
            ping_interval=self._ping_interval_s,
            ping_timeout=self._ping_timeout_s,
            open_timeout=self._open_timeout_s,
            close_timeout=2,
        )
        async with connection as ws:
            self._ws = ws
            if self._stop_requested:
                return
            await self._handshake(ws)
            self._established = self._connected = True
            await self._read_loop(ws)

    def _disconnected(self) -> None:
        with self._lock:
            self._ws = None
            self._connected = False
            self._pending_acks.clear()
            self._resync_pending.clear()
            self._resync_wanted.clear()
            for book in self._books.values():
                book.mark_out_of_sync("disconnected")

    # --- protocol -----------------------------------------------------------------------

    async def _handshake(self, ws: ClientConnection) -> None:
        welcome = await self._expect(ws, Welcome, "991 welcome banner")
        self._server_version = welcome.current
        if self._api_key and self._secret_key:  # not self.logs_in: narrows the types
            frame = ws_login_frame(self._api_key, self._secret_key, timestamp_ms=self._clock())
            await self._send(ws, frame)
            result = await self._expect(ws, LoginResult, "114 login result")
            if not result.ok:
                raise AuthenticationError(
                    f"websocket login refused: {result.message or 'no reason given'}",
                    endpoint="websocket 114",
                )
        for symbol in self.symbols:
            for channel in self.channels:
                self._pending_acks.add(f"join|{channel}:{symbol.pair}")
                if channel == "obdiff":
                    self._resync_pending[symbol] = time.monotonic()
                await self._send(ws, subscription_frame(channel, symbol.pair, join=True))
        try:
            async with asyncio.timeout(self._reply_timeout_s):
                while self._pending_acks:
                    await self._receive(ws)
        except TimeoutError:
            missing = ", ".join(sorted(self._pending_acks))
            raise TimeoutError(
                f"no 100 ack within {self._reply_timeout_s}s for {missing}"
            ) from None

    async def _expect(self, ws: ClientConnection, kind: type[M], what: str) -> M:
        try:
            async with asyncio.timeout(self._reply_timeout_s):
                while not isinstance(message := await self._receive(ws), kind):
                    pass
                return message
        except TimeoutError:
            raise TimeoutError(f"no {what} within {self._reply_timeout_s}s") from None

    async def _read_loop(self, ws: ClientConnection) -> None:
        next_check = time.monotonic() + self._housekeeping_s
        while not self._stop_requested:
            raw: str | bytes | None = None
            try:
                # Only the read is under the timeout: cancelling recv() is safe, a send is not.
                async with asyncio.timeout(max(0.0, next_check - time.monotonic())):
                    raw = await ws.recv()
            except TimeoutError:
                pass
            if raw is not None:
                await self._process(ws, raw)
            if time.monotonic() >= next_check:
                await self._housekeep(ws)
                next_check = time.monotonic() + self._housekeeping_s

    async def _housekeep(self, ws: ClientConnection) -> None:
        now = time.monotonic()
        if self._max_silence_s is not None and now - self._last_message_mono > self._max_silence_s:
            raise TimeoutError(f"no message for {self._max_silence_s}s")
        with self._lock:
            for symbol, since in list(self._resync_pending.items()):
                if now - since > self._resync_timeout_s:
                    del self._resync_pending[symbol]
                    self._resync_wanted.add(symbol)
        await self._flush_resyncs(ws)

    async def _send(self, ws: ClientConnection, frame: list[Any]) -> None:
        await ws.send(json.dumps(frame, separators=(",", ":")))

    async def _receive(self, ws: ClientConnection) -> Message | None:
        return await self._process(ws, await ws.recv())

    async def _process(self, ws: ClientConnection, raw: str | bytes) -> Message | None:
        """Parse and apply one frame; send any resubscriptions it made necessary."""
        message = self._dispatch(raw)
        await self._flush_resyncs(ws)
        if message is not None and isinstance(message, PRIVATE_MESSAGES):
            self._deliver(message)
        return message

    async def _flush_resyncs(self, ws: ClientConnection) -> None:
        while self._resync_wanted:
            with self._lock:
                symbol = self._resync_wanted.pop()
                self._resync_pending[symbol] = time.monotonic()
                self._resyncs += 1
            logger.info("btcturk websocket: resubscribing obdiff %s", symbol.pair)
            await self._send(ws, subscription_frame("obdiff", symbol.pair, join=False))
            await self._send(ws, subscription_frame("obdiff", symbol.pair, join=True))

    def _deliver(self, message: Message) -> None:
        if self._on_private_event is None:
            return
        try:
            self._on_private_event(message)
        except Exception:
            logger.exception("btcturk websocket: private event handler failed")
