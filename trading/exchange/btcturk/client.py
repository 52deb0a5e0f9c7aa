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
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx

from trading.domain.orders import CLIENT_ORDER_ID_MAX, OrderRequest, OrderType
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
from trading.exchange.btcturk.auth import ServerClock, auth_headers, decode_secret
from trading.exchange.btcturk.parse import classify_error, envelope_code, envelope_message, unwrap
from trading.exchange.btcturk.parse_account import (
    parse_balances,
    parse_open_orders,
    parse_order,
    parse_orders,
    parse_submit_ack,
    parse_user_trades,
    wire_quantity,
)
from trading.exchange.btcturk.parse_market import (
    parse_exchange_info,
    parse_klines,
    parse_order_book,
    parse_server_time,
    parse_tickers,
    parse_trades,
)
from trading.exchange.errors import (
    AuthenticationError,
    ConfigurationError,
    ExchangeError,
    NonRetryableError,
    OrderNotFound,
    OrderRejected,
    OutcomeUncertain,
    PayloadError,
    RateLimited,
    RetryableError,
)
from trading.exchange.ratelimit import RateLimiter
from trading.exchange.retry import RetryPolicy, call_with_retry

logger = logging.getLogger(__name__)

PUBLIC_IDENTITY = "public"
MAX_BOOK_DEPTH = 1000
ALL_ORDERS_LIMIT = 1000  # documented maximum page size of allOrders (reference 4.5)
CLOCK_MAX_AGE_S = 600.0  # re-measure the offset this often (stamps must be within +-5 s)
_ORDER_ID = re.compile(r"[0-9]{1,30}")
# OrderInputModel decimal pattern (reference 4.7): no sign, <= 12 integer, <= 16 fraction digits.
_WIRE_DECIMAL = re.compile(r"[0-9]{0,12}(?:\.[0-9]{1,16})?")
_NOT_JSON = object()
_DEFINITE_REFUSALS = (AuthenticationError, OrderRejected, OrderNotFound, RateLimited)


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
        self._secret = decode_secret(api_secret) if self._api_key else b""
        self._identity = (
            "key-" + hashlib.sha256(self._api_key.encode()).hexdigest()[:16]
            if self._api_key
            else PUBLIC_IDENTITY
        )
        self._base_url = base_url.rstrip("/")
        self._graph_url = graph_url.rstrip("/")
        self._http = httpx.Client(
            transport=transport, timeout=httpx.Timeout(float(timeout_s)), follow_redirects=False
        )
        self._clock = clock or ServerClock()
        self._clock_max_age_ms = clock_max_age_s * 1000
        self._clock_synced_ms: int | None = None
        self._clock_lock = threading.Lock()
        self._rate_limiter = rate_limiter
        self._retry_policy = retry_policy or RetryPolicy()
        self._rng = rng
        self._sleep = sleep

    # --- lifecycle and diagnostics ---------------------------------------------------------

    def __repr__(self) -> str:
        return f"BtcturkClient(base_url={self._base_url!r}, identity={self._identity!r})"

    def __enter__(self) -> BtcturkClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

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

        def attempt() -> tuple[int, int, int]:
            self._acquire(urls.SERVER_TIME, PUBLIC_IDENTITY)
            request = self._build(urls.SERVER_TIME)
            sent_ms = self._clock.local_ms()
            response = self._send_read(request, urls.SERVER_TIME)
            received_ms = self._clock.local_ms()
            payload = self._read(response, urls.SERVER_TIME, PUBLIC_IDENTITY)
            return sent_ms, received_ms, parse_server_time(payload)

        sent_ms, received_ms, server_ms = self._with_retry(attempt, urls.SERVER_TIME)
        offset = self._clock.record(sent_ms=sent_ms, received_ms=received_ms, server_ms=server_ms)
        self._clock_synced_ms = received_ms
        log = logger.warning if received_ms - sent_ms > 2000 else logger.info
        log("BTCTurk clock offset %d ms (round trip %d ms)", offset, received_ms - sent_ms)
        return offset

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
            order_id = _checked_order_id(order_id)
        return self._get(endpoint, params=params, order_id=order_id)

    # --- public market data (reference 2) --------------------------------------------------

    def exchange_rules(self) -> RulesBook:
        """Rules per symbol from ``GET /api/v2/server/exchangeinfo`` (reference 2.1)."""
        return parse_exchange_info(self._get(urls.EXCHANGE_INFO))

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
        result = parse_tickers(self._get(urls.TICKER, params=params))
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
        payload = self._get(urls.ORDER_BOOK, params={"pairSymbol": symbol.pair, "limit": depth})
        return parse_order_book(payload, symbol)

    def recent_trades(self, symbol: Symbol, *, limit: int = 50) -> tuple[PublicTrade, ...]:
        """The last ``limit`` public trades, newest first (``GET /api/v2/trades``, reference 2.4)."""
        if not 1 <= limit <= 1000:
            raise NonRetryableError(f"limit {limit} outside 1..1000")
        trades = parse_trades(
            self._get(urls.TRADES, params={"pairSymbol": symbol.pair, "last": limit})
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
        candles = parse_klines(self._get(urls.KLINES, params=params), symbol)
        window = (c for c in candles if start_ms <= c.ts_ms <= end_ms)
        return tuple(sorted(window, key=lambda candle: candle.ts_ms))

    def server_time_ms(self) -> int:
        """BTCTurk's clock in epoch ms (``GET /api/v2/server/time``, reference 2.6)."""
        return parse_server_time(self._get(urls.SERVER_TIME))

    # --- private reads (reference 4) -------------------------------------------------------

    def balances(self) -> dict[str, AssetBalance]:
        """Every asset of the account by upper-case code (``GET /api/v1/users/balances``, 4.1)."""
        return parse_balances(self._get(urls.BALANCES))

    def open_orders(self, symbol: Symbol | None = None) -> tuple[OrderReport, ...]:
        """Open and partially filled orders, oldest (lowest id) first (``openOrders``, 4.4)."""
        params = {"pairSymbol": symbol.pair} if symbol is not None else None
        orders = parse_open_orders(self._get(urls.OPEN_ORDERS, params=params))
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
        orders = parse_orders(self._get(urls.ALL_ORDERS, params=params))
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
        return parse_order(self._get(urls.ORDER_GET, order_id=_checked_order_id(order_id)))

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
        trades = parse_user_trades(self._get(urls.USER_TRADES, params=params))
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
        payload = self._write(urls.ORDER_SUBMIT, body=body, client_order_id=request.client_order_id)
        try:
            return parse_submit_ack(payload, request)
        except ExchangeError as exc:
            raise OutcomeUncertain(
                f"order answer unreadable ({exc.message}); reconcile by client order id",
                endpoint=urls.ORDER_SUBMIT.label,
                client_order_id=request.client_order_id,
                order_id=_lenient_order_id(payload),
            ) from exc

    def cancel_order(self, order_id: str) -> CancelAck:
        """Ask to cancel (``DELETE /api/v1/order?id=``, reference 4.8), sent exactly once.

        The 200 means "accepted after validation"; the final status comes later. Raises
        :class:`OrderNotFound`, :class:`OrderRejected` (e.g. ``ORDER_COULD_NOT_BE_CANCELED``)
        or :class:`OutcomeUncertain` carrying ``order_id``.
        """
        order_id = _checked_order_id(order_id)
        self._write(urls.ORDER_CANCEL, params={"id": order_id}, order_id=order_id)
        return CancelAck(order_id=order_id)

    # --- transport -------------------------------------------------------------------------

    def _get(
        self,
        endpoint: urls.Endpoint,
        *,
        params: Mapping[str, Any] | None = None,
        order_id: str | None = None,
    ) -> object:
        identity = self._prepare(endpoint)

        def attempt() -> object:
            self._acquire(endpoint, identity)
            request = self._build(endpoint, params=params, order_id=order_id)
            return self._read(self._send_read(request, endpoint), endpoint, identity)

        return self._with_retry(attempt, endpoint)

    def _with_retry(self, attempt: Callable[[], Any], endpoint: urls.Endpoint) -> Any:
        def on_retry(error: RetryableError, failed: int, wait_s: float) -> None:
            logger.warning(
                "%s failed (%s), attempt %d; retrying in %.2fs",
                endpoint.label,
                error.message,
                failed,
                wait_s,
            )

        return call_with_retry(
            attempt,
            policy=self._retry_policy,
            rng=self._rng,
            sleep=self._sleep,
            on_retry=on_retry,
        )

    def _write(
        self,
        endpoint: urls.Endpoint,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, str] | None = None,
        client_order_id: str = "",
        order_id: str = "",
    ) -> object:
        identity = self._prepare(endpoint)
        self._acquire(endpoint, identity)
        request = self._build(endpoint, params=params, body=body)

        def uncertain(reason: str, **kwargs: Any) -> OutcomeUncertain:
            return OutcomeUncertain(
                f"{reason}; the order may or may not be affected, reconcile before acting",
                endpoint=endpoint.label,
                client_order_id=client_order_id,
                order_id=order_id,
                **kwargs,
            )

        # Transport errors are raised ``from None``: an httpx exception holds the request and
        # its signed headers, which must not reach an error tracker through ``__cause__``.
        try:
            response = self._http.send(request)
        except httpx.ConnectError as exc:
            # Not sent, so safe to repeat; still not repeated here: writes go once (DESIGN 5).
            raise RetryableError(
                f"connection failed before the request was sent ({exc}; not retried)",
                endpoint=endpoint.label,
            ) from None
        except httpx.UnsupportedProtocol:
            raise _bad_url(endpoint) from None
        except httpx.HTTPError as exc:
            raise uncertain(f"{type(exc).__name__} after the request may have been sent") from None
        status = response.status_code
        try:
            return self._read(response, endpoint, identity)
        except _DEFINITE_REFUSALS:
            raise
        except ExchangeError as exc:
            if 400 <= status < 500 and not isinstance(exc, PayloadError):
                raise  # the exchange refused the request: nothing happened
            raise uncertain(exc.message, http_status=status, code=exc.code) from exc

    def _prepare(self, endpoint: urls.Endpoint) -> str:
        """Check credentials and the clock for a private call; return the rate identity."""
        if not endpoint.private:
            return PUBLIC_IDENTITY
        if not self._api_key:
            raise ConfigurationError(
                f"{endpoint.label} is private: set BTCTURK_API_KEY and BTCTURK_API_SECRET",
                endpoint=endpoint.label,
            )
        with self._clock_lock:
            synced = self._clock_synced_ms
            stale = synced is not None and (
                self._clock.local_ms() - synced > self._clock_max_age_ms
            )
            if not self._clock.measured or stale:
                self.sync_clock()
        return self._identity

    def _acquire(self, endpoint: urls.Endpoint, identity: str) -> None:
        if self._rate_limiter is not None:
            self._rate_limiter.acquire(endpoint.rule, identity=identity)

    def _build(
        self,
        endpoint: urls.Endpoint,
        *,
        params: Mapping[str, Any] | None = None,
        order_id: str | None = None,
        body: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        base = self._graph_url if endpoint.host == "graph" else self._base_url
        path = endpoint.path
        if order_id is not None:
            path = path.replace("{order_id}", order_id)
        headers = None
        if endpoint.private:
            headers = auth_headers(self._api_key, self._secret, self._clock.now_ms())
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        return self._http.build_request(
            endpoint.method,
            base + path,
            params=dict(params) if params else None,
            headers=headers,
            content=content,
        )

    def _send_read(self, request: httpx.Request, endpoint: urls.Endpoint) -> httpx.Response:
        try:
            return self._http.send(request)
        except httpx.UnsupportedProtocol:
            raise _bad_url(endpoint) from None  # from None: the request holds signed headers
        except httpx.HTTPError as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}", endpoint=endpoint.label) from None

    def _read(self, response: httpx.Response, endpoint: urls.Endpoint, identity: str) -> object:
        """Decoded body of a 2xx with an error-free envelope; else the classified error."""
        status = response.status_code
        payload = _decode(response)
        try:
            if 200 <= status < 300:
                if payload is _NOT_JSON:
                    raise PayloadError(
                        "response body is not JSON", endpoint=endpoint.label, http_status=status
                    )
                unwrap(payload, endpoint=endpoint.label, http_status=status)
                return payload
            raise _status_error(response, payload, endpoint)
        except RateLimited as exc:
            self._penalize(endpoint, identity, exc.retry_after)
            raise

    def _penalize(self, endpoint: urls.Endpoint, identity: str, retry_after: float | None) -> None:
        seconds = retry_after
        if seconds is None:  # no Retry-After: assume the documented block (= the period)
            seconds = max(limit.period_s for limit in urls.RATE_LIMITS[endpoint.rule])
        logger.warning("%s rate limited; pausing %s for %.1fs", endpoint.label, identity, seconds)
        if self._rate_limiter is not None:
            self._rate_limiter.penalize(endpoint.rule, identity=identity, seconds=seconds)


# --- helpers -------------------------------------------------------------------------------


def order_body(request: OrderRequest) -> dict[str, str]:
    """The JSON body of ``POST /api/v1/order`` for ``request`` (reference 4.7), in ccxt's order.

    Decimals are sent as plain strings matching BTCTurk's pattern (no exponent, <= 16
    decimals); a market buy sends ``quote_amount`` as ``quantity`` and no order sends a price
    unless it is a limit order. Raises :class:`NonRetryableError` (nothing sent) for a missing
    or over-long client order id, a limit order without price, or an unrepresentable number.
    """
    label = urls.ORDER_SUBMIT.label
    coid = request.client_order_id
    if not coid or len(coid) > CLIENT_ORDER_ID_MAX:
        raise NonRetryableError(
            f"client order id must be 1..{CLIENT_ORDER_ID_MAX} characters", endpoint=label
        )
    body = {"quantity": _wire_decimal(wire_quantity(request), "quantity")}
    if request.order_type is OrderType.LIMIT:
        if request.price is None:
            raise NonRetryableError("a limit order needs a price", endpoint=label)
        body["price"] = _wire_decimal(request.price, "price")
    body["newOrderClientId"] = coid
    body["orderMethod"] = request.order_type.value
    body["orderType"] = request.side.value
    body["pairSymbol"] = request.symbol.pair
    return body


def _wire_decimal(value: Decimal, name: str) -> str:
    # Bound the exponent before formatting: format(Decimal("1E-999999"), "f") is a huge string.
    fits = value.is_finite() and value > 0 and -16 <= value.adjusted() <= 11
    text = format(value.normalize(), "f") if fits else ""
    if not fits or not _WIRE_DECIMAL.fullmatch(text):
        raise NonRetryableError(
            f"{name} {value} is not a positive decimal with <= 12 integer and <= 16 fraction "
            "digits",
            endpoint=urls.ORDER_SUBMIT.label,
        )
    return text


def _checked_order_id(order_id: str) -> str:
    text = str(order_id).strip()
    if not _ORDER_ID.fullmatch(text):
        raise NonRetryableError(f"order id {text[:40]!r} is not a BTCTurk order id (digits)")
    return text


def _decode(response: httpx.Response) -> object:
    try:
        # Decimal for fractional numbers: nothing is lost between the wire and the parser.
        return json.loads(response.content, parse_float=Decimal)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _status_error(
    response: httpx.Response, payload: object, endpoint: urls.Endpoint
) -> ExchangeError:
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
        retry_after=_retry_after(response) if status == 429 else None,
    )


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (reference 5); ``None`` when absent or not a number."""
    raw = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(raw)
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None


def _lenient_order_id(payload: object) -> str:
    """``data.id`` when it is readable (to help reconciliation), else ``""``."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    raw = data.get("id") if isinstance(data, Mapping) else None
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 10**30:
        return str(raw)
    if isinstance(raw, str) and _ORDER_ID.fullmatch(raw.strip()):
        return str(int(raw.strip()))
    return ""


def _bad_url(endpoint: urls.Endpoint) -> ConfigurationError:
    setting = "BTCTURK_GRAPH_URL" if endpoint.host == "graph" else "BTCTURK_BASE_URL"
    return ConfigurationError(f"{setting} has an unsupported scheme", endpoint=endpoint.label)


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
