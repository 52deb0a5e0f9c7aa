"""BTCTurk client per-request overhead benchmark (not a test).

Measures what ``BtcturkClient`` adds on top of a bare ``httpx.Client`` call for the same
recorded response, with the network replaced by ``httpx.MockTransport`` (so the number is our
code's cost: building and signing the request, envelope checks, strict parsing into Decimal
dataclasses, the retry wrapper), and separately the cost of one rate-limiter ``acquire``
(in-process, and Redis when ``REDIS_URL`` is set). Usage::

    .venv/bin/python bench/client_overhead.py [--n 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import django
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meva.settings")
django.setup()

from trading.domain.symbols import Symbol  # noqa: E402
from trading.exchange.btcturk.auth import ServerClock  # noqa: E402
from trading.exchange.btcturk.client import BtcturkClient  # noqa: E402
from trading.exchange.btcturk.urls import RATE_LIMITS, RateLimit  # noqa: E402
from trading.exchange.ratelimit import InProcessRateLimiter, RedisRateLimiter  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "btcturk"
KEY = "5fa6c0f5-8d0c-4b4d-9a3e-1b2c3d4e5f60"
SECRET = "ZXhhbXBsZS1zZWNyZXQtYnl0ZXMtMDEyMzQ1Njc4OSEh"
BTC_USDT = Symbol("BTC", "USDT")


def envelope(data: object) -> bytes:
    return json.dumps({"success": True, "message": None, "code": 0, "data": data}).encode()


def responses() -> dict[str, bytes]:
    book = json.loads((FIXTURES / "rest_orderbook_btcusdt_hummingbot_20220317a.json").read_text())
    book_data = book.get("data", book)
    # a realistic 100-level book built from the recorded top levels
    bids = [[str(float(book_data["bids"][0][0]) - i), "0.5"] for i in range(100)]
    asks = [[str(float(book_data["asks"][0][0]) + i), "0.5"] for i in range(100)]
    orders = json.loads((FIXTURES / "docs_rest_open_orders_first_items.json").read_text())
    return {
        "/api/v2/ticker": (FIXTURES / "rest_ticker_btcusdt_hummingbot_20220316.json").read_bytes(),
        "/api/v2/orderbook": envelope({"timestamp": 1647493701782.0, "bids": bids, "asks": asks}),
        "/api/v1/openOrders": json.dumps(orders).encode(),
        "/api/v1/users/balances": envelope(
            json.loads((FIXTURES / "rest_balances_data_outlier_2021.json").read_text())
        ),
        "/api/v2/server/time": json.dumps({"serverTime": int(time.time() * 1000)}).encode(),
    }


def per_call_us(call: Callable[[], object], n: int) -> float:
    for _ in range(min(200, n)):
        call()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            call()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000, help="calls per measurement")
    n = parser.parse_args().n
    bodies = responses()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bodies[request.url.path])

    transport = httpx.MockTransport(handler)
    bare = httpx.Client(transport=transport)
    clock = ServerClock()
    clock.record(sent_ms=0, received_ms=0, server_ms=0)
    client = BtcturkClient(
        base_url="https://api.btcturk.com",
        api_key=KEY,
        api_secret=SECRET,
        transport=transport,
        clock=clock,
    )
    cases = [
        ("ticker (1 pair)", "/api/v2/ticker", lambda: client.tickers([BTC_USDT])),
        ("order book (100+100 levels)", "/api/v2/orderbook", lambda: client.order_book(BTC_USDT)),
        ("balances (signed)", "/api/v1/users/balances", client.balances),
        ("open orders (signed)", "/api/v1/openOrders", lambda: client.open_orders(BTC_USDT)),
    ]
    print(
        f"{'request':<30} {'bare httpx+json (us)':>21} {'BtcturkClient (us)':>19} {'overhead (us)':>14}"
    )
    for label, path, call in cases:
        url = "https://api.btcturk.com" + path

        def raw(url: str = url) -> object:
            return bare.get(url).json()

        base = per_call_us(raw, n)
        ours = per_call_us(call, n)
        print(f"{label:<30} {base:>21.1f} {ours:>19.1f} {ours - base:>14.1f}")

    huge = {"r": (RateLimit(10**12, 1),)}
    limiters = [("in-process", InProcessRateLimiter(limits=huge))]
    if os.environ.get("REDIS_URL"):
        import redis

        limiters.append(
            ("redis", RedisRateLimiter(redis.Redis.from_url(os.environ["REDIS_URL"]), limits=huge))
        )
    for name, limiter in limiters:
        cost = per_call_us(lambda limiter=limiter: limiter.acquire("r", identity="bench"), n)
        print(f"rate limiter acquire ({name}): {cost:.1f} us")
    print(f"(documented rules: {len(RATE_LIMITS)}; n={n} calls per measurement, best of 3)")


if __name__ == "__main__":
    main()
