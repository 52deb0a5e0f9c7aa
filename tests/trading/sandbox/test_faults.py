"""Fault injection: the ``--faults`` grammar, the seeded injector, and every fault kind observed
over real sockets (latency, 429, 5xx, order timeout after acceptance, websocket drop)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from replay.domain.dataset import ReplayDataset
from tests.trading.sandbox.conftest import (
    TIMEOUT,
    Api,
    assert_same_shape,
    fixture,
    signed_headers,
)
from tests.trading.sandbox.test_websocket import open_ws, recv, subscribe
from trading.exchange.sandbox import (
    FaultInjector,
    FaultSpecError,
    SandboxServer,
    parse_faults,
    start_sandbox,
)
from trading.exchange.sandbox.faults import FaultRule


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        ("latency=0.5:250ms", FaultRule("latency", 0.5, 0.25)),
        ("latency=1", FaultRule("latency", 1.0, 0.1)),
        ("latency=0.2:1.5s", FaultRule("latency", 0.2, 1.5)),
        ("http429=1:3", FaultRule("http429", 1.0, 3)),
        ("http429=0.1", FaultRule("http429", 0.1, 1)),
        ("http5xx=0.1", FaultRule("http5xx", 0.1, 503)),
        ("http5xx=0.1:500", FaultRule("http5xx", 0.1, 500)),
        ("order_timeout=1:drop", FaultRule("order_timeout", 1.0, "drop")),
        ("order_timeout=1:2", FaultRule("order_timeout", 1.0, 2.0)),
        ("order_timeout=1", FaultRule("order_timeout", 1.0, 15.0)),
        ("ws_drop=0.01", FaultRule("ws_drop", 0.01, None)),
    ],
)
def test_parse_faults_reads_every_kind_with_its_argument(spec: str, rule: FaultRule) -> None:
    assert parse_faults(spec).rules == (rule,)


def test_parse_faults_reads_a_combined_spec_with_blanks_and_a_seed() -> None:
    spec = parse_faults(" latency = 0.1:5ms , http5xx=0.2:502,, seed=7 ")
    assert spec.seed == 7
    assert [r.kind for r in spec.rules] == ["latency", "http5xx"]
    assert parse_faults("").rules == ()


@pytest.mark.parametrize(
    ("spec", "part"),
    [
        ("latency", "latency"),
        ("latency=0.1,bogus=1", "bogus=1"),
        ("latency=2", "latency=2"),
        ("http429=abc", "http429=abc"),
        ("http5xx=1:404", "http5xx=1:404"),
        ("latency=1:xs", "latency=1:xs"),
        ("ws_drop=1:5", "ws_drop=1:5"),
        ("seed=x", "seed=x"),
        ("latency=1,latency=0.5", "latency=0.5"),
        ("order_timeout=1:-3", "order_timeout=1:-3"),
    ],
)
def test_an_invalid_spec_names_the_bad_part(spec: str, part: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        parse_faults(spec)
    assert caught.value.part == part
    assert repr(part) in str(caught.value)


def test_the_same_seed_meets_the_same_faults_and_another_seed_does_not() -> None:
    def run(seed: int) -> list[tuple]:
        injector = FaultInjector(f"http5xx=0.3,latency=0.3:1ms,seed={seed}")
        decisions = [injector.for_request("GET", "/api/v2/ticker") for _ in range(200)]
        return [(d.status, d.delay_s) for d in decisions]

    assert run(3) == run(3)
    assert run(3) != run(4)
    assert 30 < sum(status == 503 for status, _ in run(3)) < 90


def test_forced_faults_apply_to_the_next_n_matching_requests_only() -> None:
    injector = FaultInjector()
    injector.force("http5xx", count=2, method="GET", path="/api/v2/")
    assert injector.for_request("POST", "/api/v1/order").status is None
    assert injector.for_request("GET", "/api/v1/openOrders").status is None
    assert [injector.for_request("GET", "/api/v2/ticker").status for _ in range(3)] == [
        503,
        503,
        None,
    ]
    injector.force("order_timeout", arg="drop")
    assert not injector.for_request("GET", "/api/v1/order/5").drop  # only POST /api/v1/order
    assert injector.for_request("POST", "/api/v1/order").drop
    assert injector.fired == {"http5xx": 2, "order_timeout": 1}


def test_latency_delays_a_response(sandbox: SandboxServer, api: Api) -> None:
    sandbox.faults.force("latency", arg=0.3)
    started = time.monotonic()
    assert api.public("/api/v2/server/time").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    api.public("/api/v2/server/time")
    assert time.monotonic() - started < 0.3


def test_http429_answers_too_many_requests_with_retry_after(
    sandbox: SandboxServer, api: Api
) -> None:
    sandbox.faults.force("http429", arg=2)
    response = api.public("/api/v2/ticker")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert_same_shape(response.json(), fixture("docs_rest_429_ip_block.json"))
    assert response.json()["code"] == 429
    assert api.public("/api/v2/ticker").status_code == 200


def test_http5xx_hits_only_the_next_two_gets(sandbox: SandboxServer, api: Api) -> None:
    sandbox.faults.force("http5xx", count=2, method="GET")
    first = api.public("/api/v2/ticker")
    assert (first.status_code, first.json()["success"]) == (503, False)
    assert api.order(quantity="0.01", price="99000").status_code == 200  # a POST passes
    assert api.get("/api/v1/openOrders").status_code == 503  # and had its effect
    assert len(api.get("/api/v1/openOrders").json()["data"]["bids"]) == 1


def test_order_timeout_accepts_the_order_then_outlasts_the_client_timeout(
    sandbox: SandboxServer, api: Api
) -> None:
    sandbox.faults.force("order_timeout", arg=3.0)
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(
            "/api/v1/order",
            content=json.dumps(
                {
                    "pairSymbol": "BTCTRY",
                    "orderMethod": "limit",
                    "orderType": "buy",
                    "quantity": "0.01",
                    "price": "99000",
                    "newOrderClientId": "lost-ack",
                }
            ),
            headers=signed_headers(api.key, api.secret),
            timeout=0.5,
        )
    [order] = api.get("/api/v1/openOrders").json()["data"]["bids"]
    assert order["orderClientId"] == "lost-ack"


def test_order_timeout_drop_closes_the_connection_after_accepting(
    sandbox: SandboxServer, api: Api
) -> None:
    sandbox.faults.force("order_timeout", arg="drop")
    with pytest.raises(httpx.RemoteProtocolError):
        api.order(quantity="0.01", price="99000", newOrderClientId="dropped")
    [order] = api.get("/api/v1/openOrders").json()["data"]["bids"]
    assert order["orderClientId"] == "dropped"


def test_ws_drop_closes_the_websocket_instead_of_pushing(sandbox: SandboxServer) -> None:
    with open_ws(sandbox) as ws:
        recv(ws)
        subscribe(ws, "obdiff", "BTCTRY")
        recv(ws)  # the snapshot is a reply, never dropped
        sandbox.faults.force("ws_drop")
        sandbox.advance(1)
        with pytest.raises(ConnectionClosed) as caught:
            recv(ws)
        assert caught.value.rcvd.code == 1011
    assert sandbox.faults.fired["ws_drop"] == 1


def test_a_spec_given_at_start_is_reproducible_and_never_hits_control_routes(
    mini_dataset: ReplayDataset,
) -> None:
    def statuses() -> list[int]:
        server = start_sandbox(mini_dataset, faults="http5xx=0.5:500,seed=11")
        try:
            with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
                seen = [http.get("/api/v2/server/time").status_code for _ in range(20)]
                assert http.get("/sandbox/state").status_code == 200
                assert http.post("/sandbox/advance").status_code == 200
                return seen
        finally:
            server.stop(wait=False)

    first = statuses()
    assert first == statuses()
    assert set(first) == {200, 500}


def test_the_faults_control_route_sets_and_clears_rules(sandbox: SandboxServer) -> None:
    with httpx.Client(base_url=sandbox.base_url, timeout=TIMEOUT) as http:
        bad = http.post("/sandbox/faults", json={"spec": "http5xx=2"})
        assert bad.status_code == 400 and "'http5xx=2'" in bad.json()["message"]
        assert bad.json()["success"] is False  # BTCTurk's error format
        assert http.post("/sandbox/faults", json={"spec": "http5xx=1:502"}).status_code == 200
        assert http.get("/api/v2/ticker").status_code == 502
        assert http.get("/sandbox/state").json()["faults"] == ["http5xx=1.0:502"]
        assert http.delete("/sandbox/faults").json() == {"faults": []}
        assert http.get("/api/v2/ticker").status_code == 200
    assert sandbox.faults.fired["http5xx"] == 1


def test_parse_faults_reads_trade_dup_without_an_argument() -> None:
    assert parse_faults("trade_dup=0.3").rules == (FaultRule("trade_dup", 0.3, None),)
    with pytest.raises(FaultSpecError, match="takes no argument"):
        parse_faults("trade_dup=0.3:2")


def test_trade_dup_repeats_and_reorders_one_user_trades_answer(
    sandbox: SandboxServer, api: Api
) -> None:
    for _ in range(3):  # marketable buys: each takes the book at once (one or more trades)
        assert api.order(quantity="0.01", price="101000").json()["success"]
    honest = api.get("/api/v1/users/transactions/trade").json()["data"]
    ids = [row["id"] for row in honest]
    assert len(ids) >= 3 and len(set(ids)) == len(ids)

    sandbox.faults.force("trade_dup")
    faulty = [row["id"] for row in api.get("/api/v1/users/transactions/trade").json()["data"]]
    assert set(faulty) == set(ids)  # the same trades, nothing invented
    assert len(faulty) > len(ids)  # some of them twice
    assert sandbox.faults.fired["trade_dup"] == 1
    again = [row["id"] for row in api.get("/api/v1/users/transactions/trade").json()["data"]]
    assert again == ids  # one answer only


def test_a_skewed_exchange_clock_moves_server_time_and_the_stamp_window(
    sandbox: SandboxServer, api: Api
) -> None:
    sandbox.exchange.clock_skew_ms = 4_000
    before = time.time_ns() // 1_000_000
    server_ms = api.public("/api/v2/server/time").json()["serverTime"]
    assert 3_900 <= server_ms - before <= 4_000 + 2_000
    assert api.get("/api/v1/users/balances").status_code == 200  # host stamp 4 s behind: inside
    sandbox.exchange.clock_skew_ms = -6_000
    refused = api.get("/api/v1/users/balances")
    assert refused.status_code == 401  # 6 s: outside BTCTurk's ±5 s window
    sandbox.exchange.clock_skew_ms = 0
    assert api.get("/api/v1/users/balances").status_code == 200
