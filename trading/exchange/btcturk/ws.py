"""BTCTurk websocket feed: live order books, tickers, public trades and private order events.

Source: reference/btcturk_api.md section 6 (frames, subscriptions, 114 login, heartbeat) and
section 5 (15 websocket connects per minute). Frames sent, all JSON arrays:

- login (only with credentials): ``[114, {"type":114, "publicKey":..., "timestamp":<ms>,
  "nonce":3000, "signature":...}]`` from :func:`~trading.exchange.btcturk.auth.ws_login_frame`;
- per symbol and channel: ``[151, {"type":151, "channel":"obdiff"|"ticker"|"trade",
  "event":"BTCTRY", "join":true}]``, acknowledged by ``[100, {"ok":true,
  "message":"join|obdiff:BTCTRY"}]``;
- to resync one book: the same 151 with ``"join":false``, then again with ``"join":true``.

Keep-alive is the websocket protocol ping (there is no application ping, reference 6.2).

**REST stays the source of truth.** Market data here is for freshness; private events
(423, 441, 451-453, 201) are hints delivered to ``on_private_event`` and may be missing
(reference 6.1, issues #591/#615): orders, fills and balances are reconciled over REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidURI, WebSocketException
from websockets.uri import parse_uri

from trading.domain.orderbook import L2Book
from trading.domain.reports import OrderBook, PublicTrade, Ticker
from trading.domain.symbols import Symbol, parse_symbol
from trading.exchange.btcturk.auth import decode_secret, ws_login_frame
from trading.exchange.btcturk.ws_parse import (
    PRIVATE_MESSAGES,
    BookDiff,
    BookSnapshot,
    LoginResult,
    Message,
    Result,
    SystemMessage,
    TickerAll,
    TickerPair,
    TradeList,
    TradeSingle,
    Welcome,
    decode_frame,
    frame_pair,
    parse_frame,
)
from trading.exchange.errors import (
    AuthenticationError,
    ConfigurationError,
    FatalError,
    PayloadError,
)

logger = logging.getLogger(__name__)

CHANNELS = frozenset({"obdiff", "ticker", "trade"})
DEFAULT_CHANNELS = ("obdiff", "ticker")
WS_CONNECTS_PER_MINUTE = 15  # reference 5; per IP, so other processes share it
RECENT_TRADES = 100
M = TypeVar("M")


def subscription_frame(channel: str, pair: str, *, join: bool) -> list[Any]:
    """``[151, {"type":151, "channel":channel, "event":pair, "join":join}]`` (reference 6)."""
    return [151, {"type": 151, "channel": channel, "event": pair, "join": join}]


def _epoch_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """Health of a feed. Ages in milliseconds; ``out_of_sync`` books awaiting a snapshot."""

    connected: bool
    last_message_age_ms: int | None
    connects: int
    reconnects: int
    resyncs: int
    parse_errors: int
    unknown_deletes: int
    out_of_sync: tuple[Symbol, ...]
    server_version: str
    last_error: str


class ConnectLimiter:
    """At most ``max_connects`` connection attempts per sliding ``period_s`` (monotonic s)."""

    def __init__(self, max_connects: int = WS_CONNECTS_PER_MINUTE, period_s: float = 60.0) -> None:
        if max_connects < 1 or period_s <= 0:
            raise ValueError("max_connects must be >= 1 and period_s > 0")
        self.max_connects = max_connects
        self.period_s = period_s
        self._times: deque[float] = deque()

    def wait_s(self, now: float) -> float:
        """Seconds to wait before the next attempt is within the budget (0 = go)."""
        while self._times and self._times[0] <= now - self.period_s:
            self._times.popleft()
        if len(self._times) < self.max_connects:
            return 0.0
        return self._times[0] + self.period_s - now

    def record(self, now: float) -> None:
        self._times.append(now)


class Backoff:
    """Jittered exponential delays: ``d = min(cap_s, base_s * 2**(attempt - 1))``, wait in
    ``[d / 2, d]`` drawn from ``rng`` (one ``random.Random`` per feed, so feeds desynchronise).
    """

    def __init__(self, *, base_s: float, cap_s: float, rng: random.Random) -> None:
        if base_s < 0 or cap_s < base_s:
            raise ValueError("need 0 <= base_s <= cap_s")
        self.base_s, self.cap_s, self.rng = base_s, cap_s, rng

    def delay_s(self, attempt: int) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** min(max(attempt - 1, 0), 32))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)


class BtcturkFeed:
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
        self.symbols = tuple(dict.fromkeys(symbols))
        if odd := [s for s in self.symbols if parse_symbol(s.pair) != s]:
            raise ValueError(f"pairs {[s.pair for s in odd]} do not split back into {odd}")
        self.channels = tuple(dict.fromkeys(channels))
        if unknown := set(self.channels) - CHANNELS:
            raise ValueError(f"unknown channels {sorted(unknown)}; use {sorted(CHANNELS)}")
        if bool(api_key) != bool(secret_key):
            raise ConfigurationError("websocket login needs both an API key and a secret")
        self._api_key, self._secret_key = api_key, secret_key
        self._on_private_event = on_private_event
        self._clock = clock
        self._backoff = Backoff(
            base_s=backoff_base_s, cap_s=backoff_cap_s, rng=rng or random.Random()
        )
        self._limiter = ConnectLimiter(max_connects_per_minute, 60.0)
        self._ping_interval_s, self._ping_timeout_s = ping_interval_s, ping_timeout_s
        self._open_timeout_s = open_timeout_s
        self._reply_timeout_s, self._resync_timeout_s = reply_timeout_s, resync_timeout_s
        self._max_silence_s, self._housekeeping_s = max_silence_s, housekeeping_s
        self._by_pair = {symbol.pair: symbol for symbol in self.symbols}
        self._books = {s: L2Book(s) for s in self.symbols} if "obdiff" in self.channels else {}
        self._tickers: dict[Symbol, Ticker] = {}
        self._trades: dict[Symbol, deque[PublicTrade]] = {}
        self._lock = threading.Lock()
        self._ws: ClientConnection | None = None
        self._stop_requested = False
        self._stop_event: asyncio.Event | None = None
        self._closing: asyncio.Task[None] | None = None
        self._connected = False
        self._established = False
        self._pending_acks: set[str] = set()
        self._resync_pending: dict[Symbol, float] = {}  # symbol -> monotonic time of the join
        self._resync_wanted: set[Symbol] = set()
        self._last_message_ms: int | None = None
        self._last_message_mono = time.monotonic()
        self._connects = self._reconnects = self._resyncs = self._parse_errors = 0
        self._server_version = ""
        self._last_error = ""

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

    # --- state --------------------------------------------------------------------------

    def _dispatch(self, raw: str | bytes) -> Message | None:
        received_ms = self._clock()
        self._last_message_mono = time.monotonic()
        frame: Any = None
        try:
            frame = decode_frame(raw)
            message = parse_frame(frame, received_ms=received_ms)
        except PayloadError as exc:
            self._bad_frame(frame, exc)
            return None
        with self._lock:
            self._last_message_ms = received_ms
            self._apply(message, received_ms)
        return message

    def _bad_frame(self, frame: Any, exc: PayloadError) -> None:
        self._parse_errors += 1
        self._last_error = str(exc)
        logger.warning("btcturk websocket: dropped malformed frame: %s", exc)
        symbol = self._by_pair.get(frame_pair(frame) or "")
        code = frame[0] if isinstance(frame, list) and frame else None
        if symbol in self._books and code in (431, 432):
            with self._lock:
                self._books[symbol].mark_out_of_sync(f"malformed {exc.field}")
                self._want_resync(symbol)

    def _want_resync(self, symbol: Symbol) -> None:
        if symbol not in self._resync_pending:
            self._resync_wanted.add(symbol)

    def _ours(self, symbol: Symbol) -> Symbol | None:
        return self._by_pair.get(symbol.pair)

    def _apply(self, message: Message, received_ms: int) -> None:
        if isinstance(message, BookSnapshot | BookDiff):
            symbol = self._ours(message.symbol)
            book = self._books.get(symbol) if symbol is not None else None
            if symbol is None or book is None:
                return
            if isinstance(message, BookSnapshot):
                book.apply_snapshot(message.changeset, message.bids, message.asks, received_ms)
                self._resync_pending.pop(symbol, None)
            else:
                book.apply_diff(message.changeset, message.changes, received_ms)
            if not book.in_sync:
                self._want_resync(symbol)
        elif isinstance(message, TickerPair | TickerAll):
            tickers = (message.ticker,) if isinstance(message, TickerPair) else message.tickers
            for ticker in tickers:
                if (symbol := self._ours(ticker.symbol)) is not None:
                    self._tickers[symbol] = ticker
        elif isinstance(message, TradeList | TradeSingle):
            self._record_trades(message)
        elif isinstance(message, Result):
            self._on_result(message)
        elif isinstance(message, SystemMessage):
            logger.warning("btcturk websocket system message: %s", message.message)

    def _record_trades(self, message: TradeList | TradeSingle) -> None:
        symbol = self._ours(
            message.symbol if isinstance(message, TradeList) else message.trade.symbol
        )
        if symbol is None:
            return
        if isinstance(message, TradeList):  # sent on (re)join: replaces what we had
            recent = self._trades[symbol] = deque(maxlen=RECENT_TRADES)
            recent.extend(sorted(message.trades, key=lambda trade: trade.ts_ms))
        else:
            self._trades.setdefault(symbol, deque(maxlen=RECENT_TRADES)).append(message.trade)

    def _on_result(self, result: Result) -> None:
        if result.ok:
            self._pending_acks.discard(result.message)
            return
        self._last_error = f"subscription refused: {result.message}"
        logger.warning("btcturk websocket: %s", self._last_error)
        if self._pending_acks:
            raise ConfigurationError(
                f"websocket subscription refused ({result.message or 'no reason given'}) "
                f"while waiting for {', '.join(sorted(self._pending_acks))}",
                endpoint="websocket 151",
            )

    # --- read accessors (thread-safe) -----------------------------------------------------

    def order_book(self, symbol: Symbol, depth: int = 10) -> OrderBook | None:
        """Best ``depth`` levels per side, or ``None`` when the book is not in sync."""
        with self._lock:
            book = self._books.get(symbol)
            if book is None or not book.in_sync:
                return None
            return book.top(depth)

    def ticker(self, symbol: Symbol) -> Ticker | None:
        """Last 402/401 ticker (``ts_ms`` = receive time), or ``None`` before the first."""
        with self._lock:
            return self._tickers.get(symbol)

    def recent_trades(self, symbol: Symbol) -> tuple[PublicTrade, ...]:
        """Up to the last 100 public trades, oldest first (``trade`` channel)."""
        with self._lock:
            return tuple(self._trades.get(symbol, ()))

    def stale_symbols(self, now_ms: int | None = None, max_age_ms: int = 30_000) -> list[Symbol]:
        """Symbols whose data must not be trusted at ``now_ms`` (epoch ms, default ``clock``).

        Stale = the feed is disconnected, or the book is out of sync or its last update is
        older than ``max_age_ms``, or the last ticker is missing or older than ``max_age_ms``
        (each check only for subscribed channels; a quiet book also ages, reference 6.2).
        """
        now = self._clock() if now_ms is None else now_ms
        with self._lock:
            return [
                s for s in self.symbols if not self._connected or self._stale(s, now, max_age_ms)
            ]

    def _stale(self, symbol: Symbol, now_ms: int, max_age_ms: int) -> bool:
        book = self._books.get(symbol)
        if book is not None:
            age = book.age_ms(now_ms)
            if not book.in_sync or age is None or age > max_age_ms:
                return True
        if "ticker" in self.channels:
            ticker = self._tickers.get(symbol)
            if ticker is None or now_ms - ticker.ts_ms > max_age_ms:
                return True
        return False

    def status(self, now_ms: int | None = None) -> FeedStatus:
        """Counters and health for metrics and the admin (ages in ms at ``now_ms``)."""
        now = self._clock() if now_ms is None else now_ms
        with self._lock:
            last = self._last_message_ms
            return FeedStatus(
                connected=self._connected,
                last_message_age_ms=None if last is None else max(0, now - last),
                connects=self._connects,
                reconnects=self._reconnects,
                resyncs=self._resyncs,
                parse_errors=self._parse_errors,
                unknown_deletes=sum(book.unknown_deletes for book in self._books.values()),
                out_of_sync=tuple(s for s, book in self._books.items() if not book.in_sync),
                server_version=self._server_version,
                last_error=self._last_error,
            )


class FeedThread:
    """Runs a :class:`BtcturkFeed` on its own event loop in a daemon thread, for sync code.

    ``start()`` returns at once; the accessors are the feed's thread-safe reads. ``error``
    holds the exception that ended :meth:`BtcturkFeed.run` (e.g. ``AuthenticationError``).
    For private events pass ``on_private_event=queue.Queue().put_nowait`` to the feed.
    """

    def __init__(self, feed: BtcturkFeed, *, name: str = "btcturk-feed") -> None:
        self.feed = feed
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._ready.set()
        try:
            loop.run_until_complete(self.feed.run())
        except Exception as exc:
            self.error = exc
            logger.error("btcturk websocket feed stopped: %s", exc)
        finally:
            loop.close()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the feed and wait up to ``timeout_s`` for the thread to end."""
        if self._loop is not None and self._thread.is_alive():
            # RuntimeError: the loop closed in between, so the feed has already ended.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.feed.stop)
        self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def order_book(self, symbol: Symbol, depth: int = 10) -> OrderBook | None:
        return self.feed.order_book(symbol, depth)

    def ticker(self, symbol: Symbol) -> Ticker | None:
        return self.feed.ticker(symbol)

    def stale_symbols(self, now_ms: int | None = None, max_age_ms: int = 30_000) -> list[Symbol]:
        return self.feed.stale_symbols(now_ms, max_age_ms)

    def status(self) -> FeedStatus:
        return self.feed.status()


def btcturk_feed_from_settings(
    symbols: Iterable[Symbol | str], *, private: bool | None = None, **options: Any
) -> BtcturkFeed:
    """A feed on ``settings.BTCTURK_WS_URL`` for ``symbols`` (``Symbol`` or ``"BTC_TRY"``).

    Logs in with ``BTCTURK_API_KEY``/``BTCTURK_API_SECRET`` when ``private`` is true, or when
    it is ``None`` and both are set. Raises :class:`ConfigurationError` naming the setting
    when a login is asked for and a credential is missing or not base64. ``options`` go to
    :class:`BtcturkFeed` (``channels``, ``on_private_event``, ``clock``, ...).
    """
    from django.conf import settings  # lazily: importing this module must not need Django

    api_key, secret = settings.BTCTURK_API_KEY, settings.BTCTURK_API_SECRET
    if private is None:
        private = bool(api_key and secret)
    if private and not api_key:
        raise ConfigurationError("BTCTURK_API_KEY is empty; set it for the websocket login")
    resolved = [s if isinstance(s, Symbol) else parse_symbol(s) for s in symbols]
    return BtcturkFeed(
        settings.BTCTURK_WS_URL,
        resolved,
        api_key=api_key if private else "",
        secret_key=decode_secret(secret) if private else None,
        **options,
    )
