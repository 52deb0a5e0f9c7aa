"""Third-party acceptance: ccxt's BTCTurk client (sync, unchanged) against the sandbox.

Only ``urls['api']`` is pointed at the sandbox (public -> base + /api/v2, private -> base +
/api/v1, graph -> base + /v1); ccxt signs, builds requests and parses responses its own way.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import ccxt
import pytest

from replay.domain.dataset import ReplayDataset
from trading.exchange.sandbox import SandboxServer, start_sandbox


@pytest.fixture
def sandbox_sample(sample_dataset: ReplayDataset) -> Iterator[SandboxServer]:
    server = start_sandbox(
        sample_dataset,
        balances={"TRY": Decimal(100_000), "BTC": Decimal("0.5")},
        publish_interval_s=3600.0,
    )
    yield server
    server.stop(wait=False)


@pytest.fixture
def exchange(sandbox_sample: SandboxServer) -> ccxt.btcturk:
    client = ccxt.btcturk(
        {"apiKey": sandbox_sample.api_key, "secret": sandbox_sample.api_secret, "timeout": 5000}
    )
    base = sandbox_sample.base_url
    client.urls["api"] = {
        "public": f"{base}/api/v2",
        "private": f"{base}/api/v1",
        "graph": f"{base}/v1",
    }
    client.session.trust_env = False  # loopback only, whatever proxy the environment names
    return client


def test_ccxt_btcturk_trades_against_the_sandbox_unchanged(
    sandbox_sample: SandboxServer, exchange: ccxt.btcturk
) -> None:
    markets = exchange.load_markets()
    assert set(markets) == {"AVAX/TRY", "BTC/TRY", "ETH/TRY", "USDT/TRY"}
    btc = markets["BTC/TRY"]
    assert btc["active"] and btc["precision"]["amount"] == 1e-08
    assert btc["limits"]["cost"]["min"] == 99.91
    assert btc["limits"]["price"] == {"min": 58387.9, "max": 5838790.0}

    ticker = exchange.fetch_ticker("BTC/TRY")
    last = sandbox_sample.exchange.market.last_bar(btc_symbol(sandbox_sample)).close
    assert ticker["last"] == float(last)
    assert ticker["bid"] < ticker["ask"]
    assert ticker["timestamp"] == sandbox_sample.exchange.now_ms

    book = exchange.fetch_order_book("BTC/TRY")
    assert book["bids"][0][0] == ticker["bid"] and book["asks"][0][0] == ticker["ask"]
    assert len(book["bids"]) == 100

    balance = exchange.fetch_balance()
    assert balance["TRY"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}
    assert balance["BTC"]["free"] == 0.5

    resting = exchange.create_order("BTC/TRY", "limit", "buy", 0.001, 340000)
    open_orders = exchange.fetch_open_orders("BTC/TRY")
    assert [(o["id"], o["status"], o["side"]) for o in open_orders] == [
        (resting["id"], "open", "buy")
    ]
    assert open_orders[0]["price"] == 340000 and open_orders[0]["remaining"] == 0.001
    assert exchange.fetch_balance()["TRY"]["used"] > 340
    exchange.cancel_order(resting["id"])
    assert exchange.fetch_open_orders("BTC/TRY") == []
    assert exchange.fetch_balance()["TRY"]["used"] == 0

    best_bid = exchange.fetch_order_book("BTC/TRY")["bids"][0][0]
    sold = exchange.create_order("BTC/TRY", "limit", "sell", 0.001, 340000)  # below the market
    [trade] = exchange.fetch_my_trades("BTC/TRY")  # marketable: filled at once at the bid
    assert trade["price"] == best_bid
    assert (trade["order"], trade["side"], trade["amount"]) == (sold["id"], "sell", 0.001)
    assert trade["price"] >= 340000 and trade["fee"]["currency"] == "TRY"
    after = exchange.fetch_balance()
    assert after["BTC"]["total"] == 0.499
    assert after["TRY"]["total"] > 100000 + 340 - 1

    candles = exchange.fetch_ohlcv("BTC/TRY", "1m", limit=3)
    assert len(candles) == 3 and candles[-1][0] < sandbox_sample.exchange.now_ms
    assert all(b[0] - a[0] == 60_000 for a, b in zip(candles, candles[1:], strict=False))
    trades = exchange.fetch_trades("BTC/TRY", limit=10)
    assert len(trades) == 10


def btc_symbol(server: SandboxServer):
    return server.exchange.market.symbol_for("BTC_TRY")
