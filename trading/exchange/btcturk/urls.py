"""BTCTurk endpoints: host, method, path and the rate-limit rule each one counts against.

Source: reference/btcturk_api.md sections 1 (hosts), 2 and 4 (paths) and 5 (rate limits).
``host`` says which base URL setting applies: ``api`` = ``BTCTURK_BASE_URL`` (public ``/api/v2``
and private ``/api/v1``), ``graph`` = ``BTCTURK_GRAPH_URL``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` requests per ``period_s`` seconds."""

    count: int
    period_s: float


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One BTCTurk endpoint. ``path`` may hold ``{order_id}``; ``rule`` keys :data:`RATE_LIMITS`."""

    name: str
    method: str
    host: str
    path: str
    private: bool
    rule: str

    @property
    def label(self) -> str:
        """``"METHOD /path"`` as error messages name the endpoint."""
        return f"{self.method} {self.path}"


def _ep(name: str, method: str, path: str, rule: str, *, private: bool = False) -> Endpoint:
    host = "graph" if path.startswith("/v1/") else "api"
    return Endpoint(name, method, host, path, private, rule)


EXCHANGE_INFO = _ep("exchange_info", "GET", "/api/v2/server/exchangeinfo", "public")
SERVER_TIME = _ep("server_time", "GET", "/api/v2/server/time", "public")
TICKER = _ep("ticker", "GET", "/api/v2/ticker", "ticker")
ORDER_BOOK = _ep("order_book", "GET", "/api/v2/orderbook", "orderbook")
TRADES = _ep("trades", "GET", "/api/v2/trades", "public")
KLINES = _ep("klines", "GET", "/v1/klines/history", "graph")
OHLCS = _ep("ohlcs", "GET", "/v1/ohlcs", "graph_ohlcs")
BALANCES = _ep("balances", "GET", "/api/v1/users/balances", "balances", private=True)
OPEN_ORDERS = _ep("open_orders", "GET", "/api/v1/openOrders", "open_orders", private=True)
ALL_ORDERS = _ep("all_orders", "GET", "/api/v1/allOrders", "all_orders", private=True)
ORDER_GET = _ep("order_get", "GET", "/api/v1/order/{order_id}", "order_get", private=True)
ORDER_SUBMIT = _ep("order_submit", "POST", "/api/v1/order", "order_write", private=True)
ORDER_CANCEL = _ep("order_cancel", "DELETE", "/api/v1/order", "order_write", private=True)
USER_TRADES = _ep(
    "user_trades", "GET", "/api/v1/users/transactions/trade", "user_trades", private=True
)

ENDPOINTS: tuple[Endpoint, ...] = (
    EXCHANGE_INFO,
    SERVER_TIME,
    TICKER,
    ORDER_BOOK,
    TRADES,
    KLINES,
    OHLCS,
    BALANCES,
    OPEN_ORDERS,
    ALL_ORDERS,
    ORDER_GET,
    ORDER_SUBMIT,
    ORDER_CANCEL,
    USER_TRADES,
)

# Documented limits (reference 5). ``public`` has no documented per-endpoint limit; we keep
# it to the ticker's 600/min so a loop cannot hammer the exchange. POST and DELETE /order
# share one budget ("300 and 10" each per account; sharing is the conservative reading).
RATE_LIMITS: dict[str, tuple[RateLimit, ...]] = {
    "public": (RateLimit(600, 60),),
    "ticker": (RateLimit(600, 60),),
    "orderbook": (RateLimit(180, 60),),
    "graph": (RateLimit(600, 600),),
    "graph_ohlcs": (RateLimit(120, 60), RateLimit(600, 600)),
    "balances": (RateLimit(120, 60),),
    "open_orders": (RateLimit(300, 60),),
    "all_orders": (RateLimit(300, 60),),
    "order_get": (RateLimit(900, 60), RateLimit(30, 1)),
    "order_write": (RateLimit(300, 60), RateLimit(10, 1)),
    "user_trades": (RateLimit(120, 60),),
}

DEFAULT_BASE_URL = "https://api.btcturk.com"
DEFAULT_GRAPH_URL = "https://graph-api.btcturk.com"
DEFAULT_WS_URL = "wss://ws-feed-pro.btcturk.com"
