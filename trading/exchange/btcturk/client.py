"""BTCTurk REST adapter: :class:`BtcturkClient` implements the ``ExchangeClient`` port over httpx.

Source of truth: reference/btcturk_api.md (sections cited per method). Request building
matches ccxt 4.5.90 byte for byte (``tests/fixtures/btcturk/generated_sign_vectors_ccxt.json``):
GET/DELETE parameters in the query string in insertion order, POST bodies as compact JSON with
decimal strings, the four auth headers on private calls only.

Error handling (DESIGN.md sections 5-6, :mod:`trading.exchange.errors`):

=================================================  ====================  =====================
failure                                            GET                   POST / DELETE
=================================================  ====================  =====================
HTTP 429 (``Retry-After`` honoured, bucket         ``RateLimited``,      ``RateLimited``, not
penalized)                                         retried               retried
HTTP 401/403, code 1037, auth messages             ``AuthenticationError``
codes 1118..1227, reject messages                  ``OrderRejected``
code 1152, ``NO_ORDER_MATCHES_YOUR_REQUEST``       ``OrderNotFound``
other 4xx                                          ``NonRetryableError``
5xx, timeouts, transport errors                    ``RetryableError``,   ``OutcomeUncertain``
                                                   retried
connection refused (``httpx.ConnectError``)        ``RetryableError``,   ``RetryableError``:
                                                   retried               never sent, but not
                                                                         retried here either
unreadable 2xx body, malformed fields              ``PayloadError``      ``OutcomeUncertain``
=================================================  ====================  =====================

Writes acquire one rate-limit token and are sent exactly once; reads go through
:func:`~trading.exchange.retry.call_with_retry`, taking a token per attempt. Keys, secrets and
signatures never appear in logs, errors or ``repr``; the rate-limit identity is a hash.

Requests go through :class:`~trading.exchange.btcturk.transport.BtcturkTransport` (sending,
retries, rate-limit tokens, clock sync); :mod:`~trading.exchange.btcturk.responses` classifies
failed answers and :mod:`~trading.exchange.btcturk.request_encoding` encodes the order body
and order ids.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx

from trading.domain.orders import OrderRequest
from trading.domain.reports import (
    AssetBalance,
    CancelAck,
    Candle,
    OrderBook,
    OrderReport,
    PublicTrade,
    SubmitAck,
    Ticker,
    TradeReport,
)
from trading.domain.rules import RulesBook
from trading.domain.symbols import Symbol
from trading.exchange.btcturk import urls
from trading.exchange.btcturk.auth import ServerClock, decode_secret
from trading.exchange.btcturk.parse_account import (
    parse_balances,
    parse_open_orders,
    parse_order,
    parse_orders,
    parse_submit_ack,
    parse_user_trades,
)
from trading.exchange.btcturk.parse_market import (
    parse_exchange_info,
    parse_klines,
    parse_order_book,
    parse_server_time,
    parse_tickers,
    parse_trades,
)
from trading.exchange.btcturk.request_encoding import (
    checked_order_id,
    lenient_order_id,
    order_body,
)
from trading.exchange.btcturk.transport import (
    CLOCK_MAX_AGE_S,
    PUBLIC_IDENTITY,
    BtcturkTransport,
)
from trading.exchange.errors import (
    ConfigurationError,
    ExchangeError,
    NonRetryableError,
    OutcomeUncertain,
)
from trading.exchange.ratelimit import RateLimiter, rate_limit_identity
from trading.exchange.retry import RetryPolicy

logger = logging.getLogger(__name__)

MAX_BOOK_DEPTH = 1000
ALL_ORDERS_LIMIT = 1000  # documented maximum page size of allOrders (reference 4.5)


class BtcturkClient:
    """BTCTurk spot REST client (also serves the sandbox exchange: point ``base_url`` at it).

    ``api_key``/``api_secret`` are the BTCTurk public key and base64 secret; both empty makes a
    public-only client (private calls raise :class:`ConfigurationError`). The secret is decoded
    once here: a bad one raises :class:`ConfigurationError` naming ``BTCTURK_API_SECRET``.
    ``timeout_s`` bounds each HTTP exchange (seconds). ``transport`` replaces the network (tests
    use ``httpx.MockTransport``). ``clock`` supplies ``X-Stamp``; when it has no measured offset
    the client measures one (:meth:`sync_clock`) before the first private call and every
    ``clock_max_age_s`` after. ``rate_limiter`` (``None`` = no client-side limiting: tests only),
    ``retry_policy``, ``rng`` and ``sleep`` drive read retries.
    """

    def __init__(
        self,
        *,
        base_url: str = urls.DEFAULT_BASE_URL,
        graph_url: str = urls.DEFAULT_GRAPH_URL,
        api_key: str = "",
        api_secret: str = "",
        timeout_s: float | Decimal = 10,
        transport: httpx.BaseTransport | None = None,
        clock: ServerClock | None = None,
        rate_limiter: RateLimiter | None = None,
        retry_policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock_max_age_s: float = CLOCK_MAX_AGE_S,
    ) -> None:
        self._api_key = api_key.strip()
        if bool(self._api_key) != bool(api_secret.strip()):
            missing = "BTCTURK_API_SECRET" if self._api_key else "BTCTURK_API_KEY"
            raise ConfigurationError(
                f"{missing} is empty while its pair is set; set both BTCTURK_API_KEY and "
                "BTCTURK_API_SECRET, or neither for public data only"
            )
        if self._api_key and not re.fullmatch(r"[\x21-\x7e]+", self._api_key):
            raise ConfigurationError(
                "BTCTURK_API_KEY holds spaces or non-ASCII characters; paste the public key "
                "exactly as BTCTurk shows it"
            )
        secret = decode_secret(api_secret) if self._api_key else b""
        self._identity = rate_limit_identity(self._api_key) if self._api_key else PUBLIC_IDENTITY
        self._clock = clock or ServerClock()
        self._transport = BtcturkTransport(
            base_url=base_url,
            graph_url=graph_url,
            api_key=self._api_key,
            secret=secret,
            identity=self._identity,
            timeout_s=timeout_s,
            transport=transport,
            clock=self._clock,
            clock_max_age_s=clock_max_age_s,
            rate_limiter=rate_limiter,
            retry_policy=retry_policy or RetryPolicy(),
            rng=rng,
            sleep=sleep,
        )

    # --- lifecycle and diagnostics ---------------------------------------------------------

    def __repr__(self) -> str:
        return f"BtcturkClient(base_url={self._transport.base_url!r}, identity={self._identity!r})"

    def __enter__(self) -> BtcturkClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._transport.close()

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`close` was called (a closed client sends nothing)."""
        return self._transport.is_closed

    @property
    def has_credentials(self) -> bool:
        """Whether private endpoints can be called."""
        return bool(self._api_key)

    @property
    def identity(self) -> str:
        """Rate-limit identity: ``"key-"`` + 16 hex of sha256(api key), or ``"public"``."""
        return self._identity

    @property
    def clock(self) -> ServerClock:
        """The clock whose ``now_ms()`` signs private calls (``offset_ms`` for diagnostics)."""
        return self._clock

    def sync_clock(self) -> int:
        """Measure and store the offset to BTCTurk's clock; returns it in ms (server - local).

        One ``GET /api/v2/server/time`` round trip (reference 2.6, 3), retried like any read;
        the offset is taken at the round trip's midpoint. Raises the read errors.
        """
        return self._transport.sync_clock()

    def get_json(
        self,
        endpoint: urls.Endpoint,
        *,
        params: Mapping[str, Any] | None = None,
        order_id: str | None = None,
    ) -> object:
        """Decoded JSON of a GET of ``endpoint`` (signed when private), retried, envelope checked.

        For diagnostics (``doctor``) and raw reads the port does not cover. ``params`` go to
        the query string in the given order. Raises ``ValueError`` for a non-GET endpoint.
        """
        if endpoint.method != "GET":
            raise ValueError(f"get_json only issues GETs, not {endpoint.label}")
        if order_id is not None:
            order_id = checked_order_id(order_id)
        return self._transport.get(endpoint, params=params, order_id=order_id)

    # --- public market data (reference 2) --------------------------------------------------

    def exchange_rules(self) -> RulesBook:
        """Rules per symbol from ``GET /api/v2/server/exchangeinfo`` (reference 2.1)."""
        return parse_exchange_info(self._transport.get(urls.EXCHANGE_INFO))

    def tickers(self, symbols: Sequence[Symbol] | None = None) -> tuple[Ticker, ...]:
        """Tickers from ``GET /api/v2/ticker`` (reference 2.2), in the venue's order.

        One symbol is asked for with ``pairSymbol``; several are filtered from the full list.
        A requested symbol the venue does not list is simply absent from the result.
        """
        if symbols is not None and not symbols:
            return ()
        params = (
            {"pairSymbol": symbols[0].pair} if symbols is not None and len(symbols) == 1 else None
        )
        result = parse_tickers(self._transport.get(urls.TICKER, params=params))
        if symbols is None:
            return result
        wanted = set(symbols)
        return tuple(ticker for ticker in result if ticker.symbol in wanted)

    def order_book(self, symbol: Symbol, *, depth: int = 100) -> OrderBook:
        """Top ``depth`` (1..1000) levels per side from ``GET /api/v2/orderbook`` (reference 2.3).

        BTCTurk answers 503 while its book is delayed; that is retried like any 5xx.
        """
        if not 1 <= depth <= MAX_BOOK_DEPTH:
            raise NonRetryableError(f"depth {depth} outside 1..{MAX_BOOK_DEPTH}")
        payload = self._transport.get(
            urls.ORDER_BOOK, params={"pairSymbol": symbol.pair, "limit": depth}
        )
        return parse_order_book(payload, symbol)

    def recent_trades(self, symbol: Symbol, *, limit: int = 50) -> tuple[PublicTrade, ...]:
        """The last ``limit`` public trades, newest first (``GET /api/v2/trades``, reference 2.4)."""
        if not 1 <= limit <= 1000:
            raise NonRetryableError(f"limit {limit} outside 1..1000")
        trades = parse_trades(
            self._transport.get(urls.TRADES, params={"pairSymbol": symbol.pair, "last": limit})
        )
        return tuple(sorted(trades, key=lambda trade: trade.ts_ms, reverse=True))

    def candles(
        self, symbol: Symbol, *, interval_s: int, start_ms: int, end_ms: int
    ) -> tuple[Candle, ...]:
        """Candles opening in ``[start_ms, end_ms]``, oldest first (graph ``klines/history``).

        ``interval_s`` must be a whole number of minutes (sent as ``resolution`` in minutes;
        reference 2.5); ``from``/``to`` are sent in seconds and the result is filtered to the
        millisecond window.
        """
        if interval_s <= 0 or interval_s % 60:
            raise NonRetryableError(f"interval {interval_s}s is not a whole number of minutes")
        if start_ms > end_ms:
            raise NonRetryableError(f"start {start_ms} is after end {end_ms}")
        params = {
            "symbol": symbol.pair,
            "resolution": interval_s // 60,
            "from": start_ms // 1000,
            "to": end_ms // 1000,
        }
        candles = parse_klines(self._transport.get(urls.KLINES, params=params), symbol)
        window = (c for c in candles if start_ms <= c.ts_ms <= end_ms)
        return tuple(sorted(window, key=lambda candle: candle.ts_ms))

    def server_time_ms(self) -> int:
        """BTCTurk's clock in epoch ms (``GET /api/v2/server/time``, reference 2.6)."""
        return parse_server_time(self._transport.get(urls.SERVER_TIME))

    # --- private reads (reference 4) -------------------------------------------------------

    def balances(self) -> dict[str, AssetBalance]:
        """Every asset of the account by upper-case code (``GET /api/v1/users/balances``, 4.1)."""
        return parse_balances(self._transport.get(urls.BALANCES))

    def open_orders(self, symbol: Symbol | None = None) -> tuple[OrderReport, ...]:
        """Open and partially filled orders, oldest (lowest id) first (``openOrders``, 4.4)."""
        params = {"pairSymbol": symbol.pair} if symbol is not None else None
        orders = parse_open_orders(self._transport.get(urls.OPEN_ORDERS, params=params))
        return tuple(sorted(orders, key=lambda order: int(order.order_id)))

    def all_orders(
        self, symbol: Symbol, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> tuple[OrderReport, ...]:
        """Orders of ``symbol`` in any status created in ``[start_ms, end_ms]``, oldest first.

        ``GET /api/v1/allOrders`` (reference 4.5) with ``startTime``/``endTime`` (ms) and
        ``limit=1000``, one page: a full page is logged as possibly truncated (narrow the window).
        """
        params: dict[str, Any] = {"pairSymbol": symbol.pair}
        if start_ms is not None:
            params["startTime"] = start_ms
        if end_ms is not None:
            params["endTime"] = end_ms
        params["limit"] = ALL_ORDERS_LIMIT
        orders = parse_orders(self._transport.get(urls.ALL_ORDERS, params=params))
        if len(orders) >= ALL_ORDERS_LIMIT:
            logger.warning(
                "allOrders %s returned a full page of %d orders; older ones may be missing",
                symbol,
                len(orders),
            )
        return tuple(sorted(orders, key=lambda order: int(order.order_id)))

    def order(self, order_id: str) -> OrderReport:
        """One order by exchange id (``GET /api/v1/order/{id}``, reference 4.6).

        Raises :class:`OrderNotFound` (code 1152) and :class:`PayloadError` for stop orders.
        """
        return parse_order(self._transport.get(urls.ORDER_GET, order_id=checked_order_id(order_id)))

    def user_trades(
        self, *, since_ms: int, symbol: Symbol | None = None
    ) -> tuple[TradeReport, ...]:
        """Our fills with ``ts_ms >= since_ms``, oldest first (``users/transactions/trade``, 4.2).

        Sent as ``startDate=since_ms`` (and ``pairSymbol``); the venue's own default window
        applies to the end. Ties are ordered by trade id; the caller dedupes on ``trade_id``.
        """
        params: dict[str, Any] = {}
        if symbol is not None:
            params["pairSymbol"] = symbol.pair
        params["startDate"] = since_ms
        trades = parse_user_trades(self._transport.get(urls.USER_TRADES, params=params))
        recent = (trade for trade in trades if trade.ts_ms >= since_ms)
        return tuple(sorted(recent, key=lambda trade: (trade.ts_ms, int(trade.trade_id))))

    # --- writes (reference 4.7, 4.8): sent once, never retried -----------------------------

    def submit_order(self, request: OrderRequest) -> SubmitAck:
        """Send a limit or market order (``POST /api/v1/order``, reference 4.7) exactly once.

        Body: ``quantity`` (base units; the quote amount for a market buy), ``price`` (limit
        only), ``newOrderClientId`` (<= 50 chars), ``orderMethod``, ``orderType``, ``pairSymbol``.
        Raises :class:`OrderRejected` (BTCTurk code), :class:`OutcomeUncertain` carrying
        ``request.client_order_id`` (timeout, transport error, 5xx, unreadable answer),
        :class:`RetryableError` when the connection could not be opened (not sent; not retried),
        :class:`NonRetryableError` for a request that cannot be expressed (nothing sent).
        """
        body = order_body(request)
        payload = self._transport.write(
            urls.ORDER_SUBMIT, body=body, client_order_id=request.client_order_id
        )
        try:
            return parse_submit_ack(payload, request)
        except ExchangeError as exc:
            raise OutcomeUncertain(
                f"order answer unreadable ({exc.message}); reconcile by client order id",
                endpoint=urls.ORDER_SUBMIT.label,
                client_order_id=request.client_order_id,
                order_id=lenient_order_id(payload),
            ) from exc

    def cancel_order(self, order_id: str) -> CancelAck:
        """Ask to cancel (``DELETE /api/v1/order?id=``, reference 4.8), sent exactly once.

        The 200 means "accepted after validation"; the final status comes later. Raises
        :class:`OrderNotFound`, :class:`OrderRejected` (e.g. ``ORDER_COULD_NOT_BE_CANCELED``)
        or :class:`OutcomeUncertain` carrying ``order_id``.
        """
        order_id = checked_order_id(order_id)
        self._transport.write(urls.ORDER_CANCEL, params={"id": order_id}, order_id=order_id)
        return CancelAck(order_id=order_id)


def btcturk_client_from_settings(**overrides: Any) -> BtcturkClient:
    """A :class:`BtcturkClient` configured from Django settings.

    Reads ``BTCTURK_BASE_URL``, ``BTCTURK_GRAPH_URL``, ``BTCTURK_API_KEY``,
    ``BTCTURK_API_SECRET`` and ``BTCTURK_TIMEOUT_SECONDS``; the rate limiter defaults to
    :func:`trading.exchange.ratelimit.rate_limiter_from_settings` (shared budget per key).
    Any constructor argument may be overridden by keyword. Raises :class:`ConfigurationError`
    for an unusable secret or a key without secret.
    """
    from django.conf import settings

    options: dict[str, Any] = {
        "base_url": settings.BTCTURK_BASE_URL,
        "graph_url": settings.BTCTURK_GRAPH_URL,
        "api_key": settings.BTCTURK_API_KEY,
        "api_secret": settings.BTCTURK_API_SECRET,
        "timeout_s": settings.BTCTURK_TIMEOUT_SECONDS,
    }
    options.update(overrides)
    if "rate_limiter" not in options:
        from trading.exchange.ratelimit import rate_limiter_from_settings

        options["rate_limiter"] = rate_limiter_from_settings()
    return BtcturkClient(**options)


# --- one client per process, thread and settings (cycles reuse its connections and clock) ---

# Settings a thread keeps a client for (changes are rare: tests, a reconfigured worker).
SHARED_CLIENTS_PER_THREAD = 4

_shared = threading.local()
_shared_all: list[BtcturkClient] = []
_shared_guard = threading.Lock()


def btcturk_client_shared() -> BtcturkClient:
    """The :class:`BtcturkClient` of the current ``BTCTURK_*`` and ``REDIS_URL`` settings, made
    once per process and thread and then reused (its connection pool, TLS context and
    measured clock offset, which the transport re-measures every ``CLOCK_MAX_AGE_S``).

    Callers must not close it: :func:`btcturk_clients_close` does, at process exit. A client
    is never shared across threads (one per thread) nor across a fork (the child makes its
    own). Changed settings give a new client. Failed requests leave it usable: httpx drops a
    broken connection and opens a new one on the next request (a restarted exchange). Raises
    :class:`ConfigurationError` as :func:`btcturk_client_from_settings`.
    """
    key = _settings_key()
    clients = getattr(_shared, "clients", None)
    if clients is None:
        clients = _shared.clients = {}
    client = clients.get(key)
    if client is None or client.is_closed:
        client = btcturk_client_from_settings()
        clients[key] = client
        with _shared_guard:
            _shared_all.append(client)
        while len(clients) > SHARED_CLIENTS_PER_THREAD:  # settings changed: drop the oldest
            _shared_close(clients.pop(next(iter(clients))))
    return client


def btcturk_clients_close() -> None:
    """Close every client :func:`btcturk_client_shared` made in this process (process exit,
    tests). A later call to it makes a new client."""
    with _shared_guard:
        clients = list(_shared_all)
        _shared_all.clear()
    _shared.__dict__.clear()
    for client in clients:
        _shared_close(client)


def _shared_close(client: BtcturkClient) -> None:
    with _shared_guard:
        if client in _shared_all:
            _shared_all.remove(client)
    try:
        client.close()
    except Exception:  # best effort: the client is no longer used
        logger.debug("closing a shared BTCTurk client failed", exc_info=True)


def _settings_key() -> tuple[object, ...]:
    from django.conf import settings

    secret = hashlib.sha256(str(settings.BTCTURK_API_SECRET).encode()).hexdigest()
    return (
        settings.BTCTURK_BASE_URL,
        settings.BTCTURK_GRAPH_URL,
        settings.BTCTURK_API_KEY,
        secret,
        str(settings.BTCTURK_TIMEOUT_SECONDS),
        settings.REDIS_URL,
    )


def _forget_after_fork() -> None:
    # The parent's sockets and lock must not be used by a forked child (Celery prefork).
    global _shared, _shared_guard
    _shared = threading.local()
    _shared_all.clear()
    _shared_guard = threading.Lock()


atexit.register(btcturk_clients_close)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
