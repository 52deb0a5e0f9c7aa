"""Public REST routes of the sandbox exchange over real sockets: shapes and JSON types as in
the recorded BTCTurk payloads (tests/fixtures/btcturk), replay timestamps, errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from replay.domain.dataset import ReplayDataset
from tests.trading.sandbox.conftest import (
    MINI_START_MS,
    TIMEOUT,
    assert_same_shape,
    btc_bar,
    fixture,
)
from trading.domain.rules import rules_from_exchangeinfo
from trading.exchange.sandbox import SandboxServer, start_sandbox


@pytest.fixture(scope="module")
def sample_sandbox(sample_dataset: ReplayDataset) -> Iterator[SandboxServer]:
    """The real try-1m sample (real BTC_TRY exchangeinfo); tests here never advance it."""
    server = start_sandbox(sample_dataset, publish_interval_s=3600.0)
    yield server
    server.stop(wait=False)


@pytest.fixture(scope="module")
def http(sample_sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sample_sandbox.base_url, timeout=TIMEOUT) as client:
        yield client


def test_exchangeinfo_symbols_have_the_recorded_shape_and_round_trip_to_the_dataset_rules(
    http: httpx.Client, sample_dataset: ReplayDataset
) -> None:
    body = http.get("/api/v2/server/exchangeinfo").json()
    recorded = fixture("rest_exchangeinfo_btctry_hummingbot_20220323.json")
    assert body["success"] is True and body["code"] == 0
    btc = next(s for s in body["data"]["symbols"] if s["name"] == "BTCTRY")
    assert_same_shape(btc, recorded["data"]["symbols"][0])
    assert btc["filters"][0]["tickSize"] == "10"
    assert btc["filters"][0]["minExchangeValue"] == "99.91"
    assert (btc["minimumLimitOrderPrice"], btc["maximumLimitOrderPrice"]) == (58387.9, 5838790)
    book = rules_from_exchangeinfo(body)
    assert book.skipped == {}
    assert dict(book.rules) == sample_dataset.rules


def test_server_time_is_a_bare_object_on_the_wall_clock(http: httpx.Client) -> None:
    before = time.time_ns() // 1_000_000
    body = http.get("/api/v2/server/time").json()
    after = time.time_ns() // 1_000_000
    assert_same_shape(body, fixture("rest_server_time_outlier_20210214.json"))
    assert before <= body["serverTime"] <= after
    assert body["serverTime2"].endswith("+00:00")


@pytest.mark.parametrize("pair", ["BTCTRY", "BTC_TRY", "btc_try"])
def test_ticker_filters_by_pair_in_either_spelling_with_json_numbers(
    http: httpx.Client, pair: str
) -> None:
    body = http.get("/api/v2/ticker", params={"pairSymbol": pair}).json()
    assert_same_shape(body, fixture("rest_ticker_btcusdt_hummingbot_20220316.json"))
    [row] = body["data"]
    assert row["pair"] == "BTCTRY" and row["pairNormalized"] == "BTC_TRY"
    assert row["bid"] <= row["last"] <= row["ask"] and row["bid"] < row["ask"]
    assert isinstance(row["last"], int | float) and not isinstance(row["last"], bool)


def test_ticker_without_a_pair_lists_every_symbol_and_currency_filters_by_quote(
    http: httpx.Client,
) -> None:
    every = http.get("/api/v2/ticker").json()["data"]
    assert {row["pair"] for row in every} == {"AVAXTRY", "BTCTRY", "ETHTRY", "USDTTRY"}
    quoted = http.get("/api/v2/ticker/currency", params={"symbol": "try"}).json()["data"]
    assert len(quoted) == 4
    assert http.get("/api/v2/ticker/currency", params={"symbol": "USDT"}).json()["data"] == []


@pytest.mark.parametrize("path", ["/api/v2/orderbook", "/api/v2/orderBook"])
def test_orderbook_has_string_levels_best_first_on_the_tick_grid(
    http: httpx.Client, path: str
) -> None:
    body = http.get(path, params={"pairSymbol": "BTCTRY", "limit": 5}).json()
    assert_same_shape(body, fixture("rest_orderbook_btcusdt_hummingbot_20220317a.json"))
    data = body["data"]
    assert isinstance(data["timestamp"], float)
    bids = [Decimal(p) for p, _ in data["bids"]]
    asks = [Decimal(p) for p, _ in data["asks"]]
    assert len(bids) == len(asks) == 5
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]
    assert all(p % 10 == 0 for p in bids + asks)
    assert all(Decimal(a) > 0 for _, a in data["bids"] + data["asks"])


def test_orderbook_limit_defaults_to_100_levels(http: httpx.Client) -> None:
    data = http.get("/api/v2/orderbook", params={"pairSymbol": "ETH_TRY"}).json()["data"]
    assert len(data["bids"]) == len(data["asks"]) == 100


def test_trades_are_newest_first_with_string_ids_and_prices(http: httpx.Client) -> None:
    body = http.get("/api/v2/trades", params={"pairSymbol": "BTCTRY", "last": 6}).json()
    recorded = fixture("rest_trades_btctry_first_item_outlier_20210214.json")
    assert_same_shape(body["data"], recorded)
    dates = [row["date"] for row in body["data"]]
    assert len(dates) == 6 and dates == sorted(dates, reverse=True)
    assert len({row["tid"] for row in body["data"]}) == 6
    assert {row["side"] for row in body["data"]} <= {"buy", "sell"}


def test_graph_klines_history_is_a_bare_parallel_array_object_in_seconds(
    http: httpx.Client, sample_sandbox: SandboxServer
) -> None:
    body = http.get("/v1/klines/history", params={"symbol": "BTCTRY", "resolution": 1}).json()
    assert_same_shape(body, fixture("rest_klines_history_first2_ccxt_comment_20220901.json"))
    assert body["s"] == "ok"
    assert len(body["t"]) == sample_sandbox.exchange.market.steps  # only closed bars
    assert all(t < 10**11 for t in body["t"])  # seconds
    assert body["t"][-1] * 1000 < sample_sandbox.exchange.now_ms


def test_graph_ohlcs_is_a_bare_array_of_daily_rows(http: httpx.Client) -> None:
    body = http.get("/v1/ohlcs", params={"pair": "BTCTRY"}).json()
    assert_same_shape(body, fixture("docs_graph_ohlcs_btctry.json"))
    assert [row["time"] % 86400 for row in body] == [0]


def test_unknown_pair_answers_400_with_a_btcturk_error_body(http: httpx.Client) -> None:
    response = http.get("/api/v2/orderbook", params={"pairSymbol": "DOGETRY"})
    assert response.status_code == 400
    assert response.json() == {"success": False, "message": "PAIR_SYMBOL_NOT_FOUND", "code": 400}
    assert http.get("/api/v2/trades").status_code == 400


def test_unknown_path_and_wrong_method_answer_json_errors(http: httpx.Client) -> None:
    missing = http.get("/api/v2/nothing")
    assert (missing.status_code, missing.json()["success"]) == (404, False)
    wrong = http.post("/api/v2/ticker")
    assert (wrong.status_code, wrong.json()["message"]) == (405, "METHOD_NOT_ALLOWED")


def test_market_data_carries_replay_times_that_move_as_bars_advance(
    sandbox: SandboxServer,
) -> None:
    with httpx.Client(base_url=sandbox.base_url, timeout=TIMEOUT) as http:
        first = http.get("/api/v2/ticker", params={"pairSymbol": "BTCTRY"}).json()["data"][0]
        assert first["timestamp"] == MINI_START_MS + 60_000
        assert first["last"] == btc_bar(0)[3]
        moved = http.post("/sandbox/advance", params={"bars": 3}).json()
        assert moved["advanced"] == 3 and moved["replayTime"] == MINI_START_MS + 4 * 60_000
        after = http.get("/api/v2/ticker", params={"pairSymbol": "BTCTRY"}).json()["data"][0]
        assert after["timestamp"] == MINI_START_MS + 4 * 60_000
        assert (after["open"], after["last"]) == (btc_bar(0)[0], btc_bar(3)[3])
        assert after["high"] == btc_bar(3)[1] and after["volume"] == 6
        book = http.get("/api/v2/orderbook", params={"pairSymbol": "BTCTRY"}).json()["data"]
        assert book["timestamp"] == float(MINI_START_MS + 4 * 60_000)
        five = http.get(
            "/v1/klines/history", params={"symbol": "BTCTRY", "resolution": 5, "from": 0}
        ).json()
        assert five["t"] == [MINI_START_MS // 1000]
        assert five["o"] == [btc_bar(0)[0]] and five["c"] == [btc_bar(3)[3]]


def test_control_state_reports_the_clock_and_advance_stops_at_the_end(
    sandbox: SandboxServer,
) -> None:
    with httpx.Client(base_url=sandbox.base_url, timeout=TIMEOUT) as http:
        state = http.get("/sandbox/state").json()
        assert (state["step"], state["steps"], state["atEnd"]) == (1, 40, False)
        assert state["symbols"] == ["BTC_TRY", "ETH_TRY"] and state["speed"] == 0
        moved = http.post("/sandbox/advance", params={"bars": 1000}).json()
        assert (moved["advanced"], moved["atEnd"]) == (39, True)
        assert http.post("/sandbox/advance").json()["advanced"] == 0
        assert http.post("/sandbox/advance", params={"bars": 0}).status_code == 400
