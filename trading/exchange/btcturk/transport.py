"""BTCTurk REST transport: builds, signs, rate-limits and sends the requests of a client.

Holds :class:`BtcturkTransport`, which every call of
:class:`~trading.exchange.btcturk.client.BtcturkClient` goes through. Source:
reference/btcturk_api.md sections 1 (base URLs), 3 (signed headers), 5 (errors, rate limits)
and 2.6 (server time, for the clock offset). Reads are retried, writes are sent exactly once;
failures are classified as in the table of the :mod:`~trading.exchange.btcturk.client`
docstring (DESIGN.md sections 5-6).
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from trading.exchange.btcturk import urls
from trading.exchange.btcturk.auth import ServerClock, auth_headers
from trading.exchange.btcturk.parse import unwrap
from trading.exchange.btcturk.parse_market import parse_server_time
from trading.exchange.btcturk.responses import NOT_JSON, decode_body, status_error
from trading.exchange.errors import (
    AuthenticationError,
    ConfigurationError,
    ExchangeError,
    OrderNotFound,
    OrderRejected,
    OutcomeUncertain,
    PayloadError,
    RateLimited,
    RetryableError,
)
from trading.exchange.ratelimit import RateLimiter
from trading.exchange.retry import RetryPolicy, call_with_retry
from trading.exchange.telemetry import request_timed

# Log under the client's module name: the JSON logs' "logger" field stays as it was.
logger = logging.getLogger("trading.exchange.btcturk.client")

PUBLIC_IDENTITY = "public"
CLOCK_MAX_AGE_S = 600.0  # re-measure the offset this often (stamps must be within +-5 s)
_DEFINITE_REFUSALS = (AuthenticationError, OrderRejected, OrderNotFound, RateLimited)


class BtcturkTransport:
    """Sends BTCTurk REST requests for one client; keys and signatures never leave it.

    ``api_key`` and the decoded ``secret`` sign private calls (both empty for a public-only
    client); ``identity`` is the rate-limit identity of those calls. ``base_url``,
    ``graph_url``, ``timeout_s``, ``transport``, ``clock``, ``clock_max_age_s``,
    ``rate_limiter``, ``retry_policy``, ``rng`` and ``sleep`` are as documented on
    :class:`~trading.exchange.btcturk.client.BtcturkClient`.
    """

    def __init__(
        self,
        *,
        base_url: str,
        graph_url: str,
        api_key: str,
        secret: bytes,
        identity: str,
        timeout_s: float | Decimal,
        transport: httpx.BaseTransport | None,
        clock: ServerClock,
        clock_max_age_s: float,
        rate_limiter: RateLimiter | None,
        retry_policy: RetryPolicy,
        rng: random.Random | None,
        sleep: Callable[[float], None],
    ) -> None:
        self._api_key = api_key
        self._secret = secret
        self._identity = identity
        self._base_url = base_url.rstrip("/")
        self._graph_url = graph_url.rstrip("/")
        self._http = httpx.Client(
            transport=transport, timeout=httpx.Timeout(float(timeout_s)), follow_redirects=False
        )
        self._clock = clock
        self._clock_max_age_ms = clock_max_age_s * 1000
        self._clock_synced_ms: int | None = None
        self._clock_lock = threading.Lock()
        self._rate_limiter = rate_limiter
        self._retry_policy = retry_policy
        self._rng = rng
        self._sleep = sleep

    @property
    def base_url(self) -> str:
        """The REST API root, without a trailing slash."""
        return self._base_url

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    @property
    def is_closed(self) -> bool:
        """Whether the HTTP connection pool was closed."""
        return self._http.is_closed

    def sync_clock(self) -> int:
        """Measure and store the offset to BTCTurk's clock; returns it in ms (server - local).

        One ``GET /api/v2/server/time`` round trip (reference 2.6, 3), retried like any read;
        the offset is taken at the round trip's midpoint. Raises the read errors.
        """

        def attempt() -> tuple[int, int, int]:
            self._acquire(urls.SERVER_TIME, PUBLIC_IDENTITY)
            request = self._build(urls.SERVER_TIME)
            with request_timed(urls.SERVER_TIME.label):
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

    def get(
        self,
        endpoint: urls.Endpoint,
        *,
        params: Mapping[str, Any] | None = None,
        order_id: str | None = None,
    ) -> object:
        """Decoded JSON of a GET of ``endpoint`` (signed when private), retried, envelope checked.

        One rate-limit token per attempt; ``order_id`` fills ``{order_id}`` in the path.
        """
        identity = self._prepare(endpoint)

        def attempt() -> object:
            self._acquire(endpoint, identity)
            request = self._build(endpoint, params=params, order_id=order_id)
            with request_timed(endpoint.label):
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

    def write(
        self,
        endpoint: urls.Endpoint,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, str] | None = None,
        client_order_id: str = "",
        order_id: str = "",
    ) -> object:
        """Decoded JSON of a POST/DELETE of ``endpoint``: one token, sent exactly once.

        An answer that may hide an executed write raises :class:`OutcomeUncertain` carrying
        ``client_order_id`` and ``order_id``.
        """
        identity = self._prepare(endpoint)
        self._acquire(endpoint, identity)
        request = self._build(endpoint, params=params, body=body)
        with request_timed(endpoint.label):
            return self._write_send(endpoint, request, identity, client_order_id, order_id)

    def _write_send(
        self,
        endpoint: urls.Endpoint,
        request: httpx.Request,
        identity: str,
        client_order_id: str,
        order_id: str,
    ) -> object:
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
        payload = decode_body(response)
        try:
            if 200 <= status < 300:
                if payload is NOT_JSON:
                    raise PayloadError(
                        "response body is not JSON", endpoint=endpoint.label, http_status=status
                    )
                unwrap(payload, endpoint=endpoint.label, http_status=status)
                return payload
            raise status_error(response, payload, endpoint)
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


def _bad_url(endpoint: urls.Endpoint) -> ConfigurationError:
    setting = "BTCTURK_GRAPH_URL" if endpoint.host == "graph" else "BTCTURK_BASE_URL"
    return ConfigurationError(f"{setting} has an unsupported scheme", endpoint=endpoint.label)
