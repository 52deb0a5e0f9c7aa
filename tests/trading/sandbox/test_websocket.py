"""Websocket feed of the sandbox exchange over real sockets (websockets' sync client):
banner, subscriptions and their snapshots and updates, HMAC login and private order events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from websockets.sync.client import ClientConnection, connect

from replay.domain.dataset import ReplayDataset
from tests.trading.sandbox.conftest import Api, assert_same_shape, fixture
from trading.exchange.btcturk.auth import decode_secret, ws_login_frame
from trading.exchange.sandbox import SandboxServer, start_sandbox

RECV_TIMEOUT = 5.0


def open_ws(server: SandboxServer, path: str = "") -> ClientConnection:
    return connect(server.ws_url + path, open_timeout=5, close_timeout=2, proxy=None)


def recv(ws: ClientConnection, timeout: float = RECV_TIMEOUT) -> list:
    return json.loads(ws.recv(timeout=timeout))


def recv_type(ws: ClientConnection, frame_type: int, timeout: float = RECV_TIMEOUT) -> list:
    """The next frame of ``frame_type``, skipping others (fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = recv(ws, max(deadline - time.monotonic(), 0.01))
        if frame[0] == frame_type:
            return frame


def subscribe(ws: ClientConnection, channel: str, event: str, join: bool = True) -> list:
    ws.send(json.dumps([151, {"type": 151, "channel": channel, "event": event, "join": join}]))
    return recv(ws)


def login(ws: ClientConnection, key: str, secret: str, timestamp_ms: int | None = None) -> list:
    stamp = time.time_ns() // 1_000_000 if timestamp_ms is None else timestamp_ms
    ws.send(json.dumps(ws_login_frame(key, decode_secret(secret), timestamp_ms=stamp)))
    return recv_type(ws, 114)


@pytest.fixture
def ws(sandbox: SandboxServer) -> Iterator[ClientConnection]:
    with open_ws(sandbox) as connection:
        assert recv(connection) == fixture("ws_991_welcome_hummingbot.json")
        yield connection


@pytest.mark.parametrize("path", ["", "/", "/ws"])
def test_connect_gets_the_991_banner_on_the_root_and_ws_paths(
    sandbox: SandboxServer, path: str
) -> None:
    with open_ws(sandbox, path) as connection:
        assert recv(connection) == [991, {"type": 991, "current": "5.1.0", "min": "2.3.0"}]


def test_obdiff_sends_a_431_snapshot_then_432_diffs_with_increasing_cs(
    sandbox: SandboxServer, ws: ClientConnection, api: Api
) -> None:
    ack = subscribe(ws, "obdiff", "BTCTRY")
    assert ack == [100, {"ok": True, "message": "join|obdiff:BTCTRY", "type": 100}]
    assert_same_shape(ack, fixture("ws_100_join_obdiff_dottry_issue424.json"))
    snapshot = recv(ws)
    assert_same_shape(
        snapshot, fixture("ws_431_orderbook_full_btcusdt_obdiff_hummingbot_202203.json")
    )
    assert snapshot[0] == 431 and snapshot[1]["PS"] == "BTCTRY"
    book = {
        "asks": {row["P"]: row["A"] for row in snapshot[1]["AO"]},
        "bids": {row["P"]: row["A"] for row in snapshot[1]["BO"]},
    }
    cs = snapshot[1]["CS"]
    for _ in range(2):
        sandbox.advance(1)
        diff = recv_type(ws, 432)
        assert_same_shape(diff, fixture("ws_432_orderbook_diff_btcusdt_hummingbot_202203.json"))
        assert diff[1]["CS"] == cs + 1 and diff[1]["channel"] == "obdiff"
        cs = diff[1]["CS"]
        for side, rows in (("asks", diff[1]["AO"]), ("bids", diff[1]["BO"])):
            for row in rows:
                assert row["CP"] in (0, 1, 3)
                if row["CP"] == 3:
                    del book[side][row["P"]]
                else:
                    book[side][row["P"]] = row["A"]
    rest = api.public("/api/v2/orderbook", pairSymbol="BTCTRY").json()["data"]
    assert book["asks"] == dict(rest["asks"]) and book["bids"] == dict(rest["bids"])


def test_trade_channel_sends_421_then_one_422_per_new_trade(
    sandbox: SandboxServer, ws: ClientConnection
) -> None:
    assert subscribe(ws, "trade", "BTC_TRY")[1]["message"] == "join|trade:BTC_TRY"
    listing = recv(ws)
    assert_same_shape(listing, fixture("ws_421_tradelist_btctry_exchangesharp_20220429.json"))
    assert listing[0] == 421 and len(listing[1]["items"]) == 4  # bar 0's trades
    sandbox.advance(1)
    singles = [recv_type(ws, 422) for _ in range(4)]
    for frame in singles:
        assert_same_shape(frame, fixture("ws_422_trade_btctry_exchangesharp_20220429.json"))
    assert [Decimal(f[1]["P"]) for f in singles] == [100100, 100000, 100250, 100150]
    assert [f[1]["S"] for f in singles] == [0, 1, 0, 1]  # vs the previous price
    assert len({f[1]["I"] for f in singles}) == 4


def test_ticker_pair_gets_402_and_all_gets_401_and_both_update_per_bar(
    sandbox: SandboxServer, ws: ClientConnection
) -> None:
    subscribe(ws, "ticker", "BTCTRY")
    first = recv(ws)
    assert first[0] == 402 and first[1]["PS"] == "BTCTRY" and first[1]["LA"] == "100050"
    assert isinstance(first[1]["PId"], int) and first[1]["DPr"] == 0
    assert subscribe(ws, "ticker", "all")[1]["message"] == "join|ticker:all"
    every = recv(ws)
    assert every[0] == 401 and [row["PS"] for row in every[1]["items"]] == ["BTCTRY", "ETHTRY"]
    sandbox.advance(1)
    updated = recv_type(ws, 402)
    assert updated[1]["LA"] == "100150" and updated[1]["O"] == "100000"
    assert recv_type(ws, 401)[1]["items"][1]["LA"] == "5015"


def test_malformed_frames_get_an_error_frame_unknown_types_are_ignored_and_unknown_channels_are_acked_not_ok(
    ws: ClientConnection,
) -> None:
    malformed = ("not json", '{"a": 1}', "[151]", "[151, 3]", b"\x00\xff", "[" * 100 + "]" * 100)
    for junk in (*malformed, "[999, {}]"):
        ws.send(junk)
    for _ in malformed:
        kind, body = recv(ws)
        assert kind == 100 and body["ok"] is False
        assert body["message"].startswith("malformed frame: ")
    assert subscribe(ws, "nosuch", "BTCTRY") == [
        100,
        {"ok": False, "message": "join|nosuch:BTCTRY", "type": 100},
    ]
    assert subscribe(ws, "orderbook", "DOGETRY")[1]["ok"] is False


def test_leaving_a_channel_stops_its_frames(sandbox: SandboxServer, ws: ClientConnection) -> None:
    subscribe(ws, "obdiff", "BTCTRY")
    recv(ws)  # snapshot
    assert subscribe(ws, "obdiff", "BTCTRY", join=False)[1]["message"] == "leave|obdiff:BTCTRY"
    sandbox.advance(1)
    assert subscribe(ws, "ticker", "ETHTRY")[0] == 100  # no 432 arrived before this ack


def test_login_then_the_order_lifecycle_pushes_451_452_441_and_423(
    sandbox: SandboxServer, ws: ClientConnection, api: Api
) -> None:
    assert login(ws, sandbox.api_key, sandbox.api_secret) == [
        114,
        {"type": 114, "ok": True, "id": 0, "message": None},
    ]
    sell = api.order(orderType="sell", quantity="0.01", price="100600", newOrderClientId="s-1")
    inserted = recv_type(ws, 451)
    assert_same_shape(inserted, fixture("ws_451_orderinsert_arpausdt_issue592_20241020.json"))
    sell_id = sell.json()["data"]["id"]
    assert (inserted[1]["id"], inserted[1]["orderType"], inserted[1]["method"]) == (sell_id, 1, 0)
    assert (inserted[1]["newOrderClientId"], inserted[1]["numLeft"]) == ("s-1", "0.01")
    buy_id = api.order(quantity="0.01", price="99000").json()["data"]["id"]
    assert recv_type(ws, 451)[1]["id"] == buy_id
    api.delete("/api/v1/order", id=buy_id)
    deleted = recv_type(ws, 452)
    assert_same_shape(deleted, fixture("ws_452_orderdelete_arpausdt_issue592_20241020.json"))
    assert deleted[1]["id"] == buy_id and deleted[1]["orderType"] == 0
    sandbox.advance(5)  # bar 5's high crosses 100600
    match = recv_type(ws, 441)
    recorded = fixture("ws_441_userordermatch_xlmtry_two_fills_issue412_20211016.json")[0]
    assert_same_shape(match, recorded)
    assert (match[1]["id"], match[1]["isBid"], match[1]["clientId"]) == (sell_id, False, "s-1")
    assert (match[1]["amount"], match[1]["price"]) == ("0.01", "100600")
    trade = recv_type(ws, 423)
    assert_same_shape(trade, fixture("ws_423_usertrade_apeusdt_issue591_20241020.json"))
    assert (trade[1]["orderId"], trade[1]["amount"], trade[1]["orderClientId"]) == (
        sell_id,
        "-0.01",
        "s-1",
    )
    assert Decimal(trade[1]["fee"]) < 0 and Decimal(trade[1]["tax"]) < 0


def test_partial_fills_push_453_updates_until_the_order_completes(
    mini_dataset: ReplayDataset,
) -> None:
    server = start_sandbox(
        mini_dataset,
        balances={"TRY": Decimal(100_000), "BTC": Decimal(1)},
        max_volume_share=Decimal("0.001"),  # 0.0015 BTC per bar
        publish_interval_s=3600.0,
    )
    try:
        with open_ws(server) as ws, Api(server) as api:
            login(ws, server.api_key, server.api_secret)
            # above the best bid (99990): rests, then every bar opens above it
            api.order(orderType="sell", quantity="0.004", price="100000")
            recv_type(ws, 451)
            server.advance(3)
            fills, updates = [], []
            while len(fills) < 3:
                frame = recv(ws)
                if frame[0] == 441:
                    fills.append(frame[1]["amount"])
                elif frame[0] == 453:
                    updates.append(frame[1]["numLeft"])
            assert fills == ["0.0015", "0.0015", "0.001"]
            assert updates == ["0.0025", "0.001"]
    finally:
        server.stop(wait=False)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown key", "Unauthorized - Invalid Public key"),
        ("wrong secret", "Unauthorized - Invalid Signature"),
        ("stale timestamp", "Unauthorized - Invalid Nonce"),
    ],
)
def test_a_failed_login_is_answered_and_gets_no_private_frames(
    sandbox: SandboxServer, ws: ClientConnection, api: Api, case: str, message: str
) -> None:
    key, secret, stamp = sandbox.api_key, sandbox.api_secret, None
    if case == "unknown key":
        key = "not-a-key"
    elif case == "wrong secret":
        secret = "c2VjcmV0LXRoYXQtaXMtd3Jvbmc="
    else:
        stamp = time.time_ns() // 1_000_000 - 60_000
    reply = login(ws, key, secret, stamp)
    assert reply == [114, {"type": 114, "ok": False, "id": 0, "message": message}]
    assert_same_shape(reply, fixture("ws_114_login_failed_invalid_public_key_issue436.json"))
    api.order(quantity="0.01", price="99000")
    assert subscribe(ws, "ticker", "BTCTRY")[0] == 100  # no 451 arrived first


def test_orderbook_channel_repeats_the_full_book_on_the_timer(
    mini_dataset: ReplayDataset,
) -> None:
    server = start_sandbox(mini_dataset, publish_interval_s=0.1)
    try:
        with open_ws(server) as ws:
            recv(ws)
            subscribe(ws, "orderbook", "BTCTRY")
            first = recv_type(ws, 431)
            again = recv_type(ws, 431, timeout=2)
            assert again[1]["channel"] == "orderbook"
            assert again[1]["CS"] == first[1]["CS"] and again[1]["AO"] == first[1]["AO"]
    finally:
        server.stop(wait=False)
