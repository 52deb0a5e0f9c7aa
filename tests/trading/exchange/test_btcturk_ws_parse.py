"""BTCTurk websocket frame parsing: every recorded ws_* fixture, malformed frames, unknown types."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.domain.orderbook import BookSide, LevelAction, LevelChange
from trading.domain.orders import Side
from trading.domain.reports import BookLevel, PublicTrade, Ticker, TradeReport
from trading.domain.symbols import Symbol
from trading.exchange.btcturk.ws_parse import (
    BalanceUpdated,
    BookDiff,
    BookSnapshot,
    Ignored,
    LoginResult,
    OrderDelete,
    OrderInsert,
    OrderUpdate,
    Result,
    SystemMessage,
    TickerAll,
    TickerPair,
    TradeList,
    TradeSingle,
    Unknown,
    UserOrderMatch,
    UserTrade,
    Welcome,
    decode_frame,
    frame_pair,
    parse_frame,
    parse_text,
)
from trading.exchange.errors import PayloadError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "btcturk"
RECEIVED_MS = 1_700_000_000_123
BTC_TRY = Symbol("BTC", "TRY")
BTC_USDT = Symbol("BTC", "USDT")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def parse_fixture(name: str) -> Any:
    return parse_text((FIXTURES / name).read_text(), received_ms=RECEIVED_MS)


def frame(code: int, **payload: Any) -> list[Any]:
    return [code, {"type": code, **payload}]


# Every ws_* fixture file with the message it must parse to (the 441 file holds two frames).
EXPECTED: dict[str, Any] = {
    "ws_991_welcome_hummingbot.json": Welcome(current="5.1.0", min="2.3.0"),
    "ws_991_welcome_exchangesharp.json": Welcome(current="5.1.0", min="2.3.0"),
    "ws_100_join_trade_btctry_exchangesharp.json": Result(ok=True, message="join|trade:BTCTRY"),
    "ws_100_join_obdiff_dottry_issue424.json": Result(ok=True, message="join|obdiff:DOTTRY"),
    "ws_114_login_failed_invalid_public_key_issue436.json": LoginResult(
        ok=False, message="Unauthorized - Invalid Public key"
    ),
    "ws_421_tradelist_btctry_exchangesharp_20220429.json": TradeList(
        symbol=BTC_TRY,
        trades=(
            PublicTrade(
                BTC_TRY,
                "100163785789620803",
                1651204111661,
                Decimal("586484"),
                Decimal("0.00728347"),
                Side.BUY,
            ),
            PublicTrade(
                BTC_TRY,
                "100163785789620737",
                1651202811844,
                Decimal("585778"),
                Decimal("0.00041236"),
                Side.SELL,
            ),
        ),
    ),
    "ws_422_trade_btctry_exchangesharp_20220429.json": TradeSingle(
        PublicTrade(
            BTC_TRY,
            "100163785789620825",
            1651204593830,
            Decimal("586950"),
            Decimal("0.00087777"),
            Side.SELL,
        )
    ),
    "ws_423_usertrade_apeusdt_issue591_20241020.json": UserTrade(
        TradeReport(
            trade_id="1149163839863900657",
            order_id="25327923517",
            client_order_id="xxxxxx",
            symbol=Symbol("APE", "USDT"),
            side=Side.SELL,
            price=Decimal("1.020"),
            quantity=Decimal("205.24"),
            fee=Decimal("0.1046724"),
            tax=Decimal("0.02093448"),
            fee_asset="USDT",
            ts_ms=1729396570700,
        )
    ),
    "ws_432_orderbook_diff_btcusdt_hummingbot_202203.json": BookDiff(
        symbol=BTC_USDT,
        changeset=7880291,
        changes=(
            LevelChange(BookSide.BID, LevelAction.DELETE, Decimal(40697), Decimal("0.0094")),
            LevelChange(BookSide.BID, LevelAction.ADD, Decimal(39152), Decimal("0.02701188")),
            LevelChange(BookSide.ASK, LevelAction.ADD, Decimal(40780), Decimal("0.0128")),
            LevelChange(BookSide.ASK, LevelAction.DELETE, Decimal(40782), Decimal("0.0128")),
            LevelChange(BookSide.ASK, LevelAction.DELETE, Decimal(40783), Decimal("0.17155853")),
            LevelChange(BookSide.ASK, LevelAction.ADD, Decimal(41656), Decimal("0.3")),
        ),
    ),
    "ws_451_orderinsert_arpausdt_issue592_20241020.json": OrderInsert(
        order_id="25338392433",
        client_order_id="xxxxx",
        symbol=Symbol("ARPA", "USDT"),
        side=Side.BUY,
        method=0,
        price=Decimal("0.04573"),
        quantity=Decimal("37154.7082"),
        remaining=Decimal("37154.7082"),
        quote_remaining=Decimal("1700.7838907919859319"),
        ts_ms=RECEIVED_MS,
    ),
    "ws_452_orderdelete_arpausdt_issue592_20241020.json": OrderDelete(
        order_id="25338392433",
        client_order_id="xxxxx",
        symbol=Symbol("ARPA", "USDT"),
        side=Side.BUY,
        method=0,
        price=Decimal("0.04573"),
        quantity=Decimal("37154.7082"),
        remaining=Decimal("37154.7082"),
        quote_remaining=Decimal("1700.7838907919859319"),
        ts_ms=RECEIVED_MS,
    ),
    "ws_451_zeroed_after_connect_exchangesharp.json": Ignored(
        451, "order event with id 0 (zero-filled noise after connect)"
    ),
}
SPECIAL = {
    "ws_431_orderbook_full_btcusdt_obdiff_hummingbot_202203.json",  # 200 levels, checked below
    "ws_441_userordermatch_xlmtry_two_fills_issue412_20211016.json",  # two frames, below
}


def test_every_recorded_websocket_fixture_has_an_expectation() -> None:
    on_disk = {path.name for path in FIXTURES.glob("ws_*.json")}

    assert on_disk == set(EXPECTED) | SPECIAL


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_recorded_frame_parses_to_the_expected_message(name: str) -> None:
    assert parse_fixture(name) == EXPECTED[name]


def test_the_recorded_full_book_parses_with_every_level_in_exchange_order() -> None:
    snapshot = parse_fixture("ws_431_orderbook_full_btcusdt_obdiff_hummingbot_202203.json")

    assert isinstance(snapshot, BookSnapshot)
    assert (snapshot.symbol, snapshot.changeset) == (BTC_USDT, 7886177)
    assert (len(snapshot.bids), len(snapshot.asks)) == (100, 100)
    assert snapshot.asks[0] == BookLevel(Decimal(40678), Decimal("0.400047254781"))
    assert snapshot.asks[2] == BookLevel(Decimal(40692), Decimal("0.06382635"))
    assert snapshot.asks[-1] == BookLevel(Decimal(41645), Decimal("0.00120122"))
    assert snapshot.bids[0] == BookLevel(Decimal(40674), Decimal("0.00061549"))
    assert snapshot.bids[-1] == BookLevel(Decimal(39223), Decimal("0.00050965"))
    assert sum(level.quantity for level in snapshot.bids) == Decimal("12.69569564")


def test_the_two_recorded_fills_of_one_market_sell_parse_to_two_matches() -> None:
    frames = load("ws_441_userordermatch_xlmtry_two_fills_issue412_20211016.json")

    matches = [parse_frame(f, received_ms=RECEIVED_MS) for f in frames]

    common = {
        "order_id": "4957199062",
        "client_order_id": "752529b2-b2fe-4e10-9c49-44380b871e51_2",
        "symbol": Symbol("XLM", "TRY"),
        "side": Side.SELL,
        "method": 1,
        "price": Decimal("3.8"),
        "ts_ms": RECEIVED_MS,
    }
    assert matches == [
        UserOrderMatch(quantity=Decimal("796.9342452278"), **common),
        UserOrderMatch(quantity=Decimal("29.7466547722"), **common),
    ]
    assert sum(m.quantity for m in matches) == Decimal("826.6809")


def test_the_recorded_user_trade_keeps_an_id_above_two_to_the_53_exactly() -> None:
    trade = parse_fixture("ws_423_usertrade_apeusdt_issue591_20241020.json").report

    assert int(trade.trade_id) > 2**53
    assert trade.trade_id == "1149163839863900657"
    assert trade.notional == Decimal("209.3448")
    assert trade.fee == trade.notional * Decimal("0.0005")
    assert trade.tax == trade.fee * Decimal("0.2")


def test_a_ticker_pair_frame_parses_with_the_receive_time() -> None:
    message = parse_frame(
        frame(
            402,
            PS="BTCTRY",
            LA="586950",
            B=586900,
            A="587000.5",
            O="580000",
            H="590000",
            L="579000",
            V="123.45",
            PId=1,
            channel="ticker",
            event="BTCTRY",
        ),
        received_ms=RECEIVED_MS,
    )

    assert message == TickerPair(
        Ticker(
            symbol=BTC_TRY,
            ts_ms=RECEIVED_MS,
            last=Decimal(586950),
            bid=Decimal(586900),
            ask=Decimal("587000.5"),
            open=Decimal(580000),
            high=Decimal(590000),
            low=Decimal(579000),
            volume=Decimal("123.45"),
        )
    )


def test_a_zero_bid_or_ask_in_a_ticker_means_an_empty_side_not_a_price() -> None:
    message = parse_frame(frame(402, PS="BTCTRY", LA="10", B="0", A="0"), received_ms=1)

    assert (message.ticker.bid, message.ticker.ask, message.ticker.open) == (None, None, None)


def test_ticker_all_keeps_rows_it_can_read_and_skips_pairs_with_unknown_quotes() -> None:
    message = parse_frame(
        frame(401, items=[{"PS": "BTCTRY", "LA": "1"}, {"PS": "XYZABC", "LA": "2"}]),
        received_ms=5,
    )

    assert message == TickerAll((Ticker(BTC_TRY, 5, Decimal(1), None, None),))


def test_order_update_balance_and_system_frames_parse() -> None:
    payload = load("ws_451_orderinsert_arpausdt_issue592_20241020.json")[1]

    update = parse_frame([453, {**payload, "type": 453, "numLeft": "100"}], received_ms=9)
    balance = parse_frame(frame(201, userId=1, payload={}), received_ms=9)
    system = parse_frame(frame(801, id=1, ok=True, message="maintenance at 03:00"), received_ms=9)

    assert isinstance(update, OrderUpdate)
    assert (update.order_id, update.remaining, update.side) == (
        "25338392433",
        Decimal(100),
        Side.BUY,
    )
    assert balance == BalanceUpdated(9)
    assert system == SystemMessage(ok=True, message="maintenance at 03:00")


def test_json_numbers_and_strings_give_the_same_decimals() -> None:
    as_numbers = decode_frame('[422,{"PS":"BTCTRY","D":1,"I":7,"A":0.1,"P":586950.25,"S":0}]')
    as_strings = [422, {"PS": "BTCTRY", "D": "1", "I": "7", "A": "0.1", "P": "586950.25", "S": 0}]

    assert parse_frame(as_numbers, received_ms=1) == parse_frame(as_strings, received_ms=1)
    assert parse_frame(as_numbers, received_ms=1).trade.quantity == Decimal("0.1")


def test_unknown_frame_types_are_returned_as_unknown_not_errors() -> None:
    message = parse_text('[428, {"type":428, "D":1, "P":"BTCTRY"}]', received_ms=1)

    assert message == Unknown(428, {"type": 428, "D": 1, "P": "BTCTRY"})


def snapshot_payload() -> dict[str, Any]:
    return load("ws_431_orderbook_full_btcusdt_obdiff_hummingbot_202203.json")[1]


def with_level(side: str, index: int, **changes: Any) -> list[Any]:
    payload = snapshot_payload()
    payload[side][index] = {**payload[side][index], **changes}
    return [431, payload]


def without(code: int, fixture: str, key: str) -> list[Any]:
    payload = dict(load(fixture)[1])
    del payload[key]
    return [code, payload]


ORDER_423 = "ws_423_usertrade_apeusdt_issue591_20241020.json"
MATCH_441 = "ws_441_userordermatch_xlmtry_two_fills_issue412_20211016.json"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (with_level("AO", 2, P="40,692"), "431.AO[2].P"),
        (with_level("AO", 2, P=None), "431.AO[2].P"),
        (with_level("BO", 0, A="-1"), "431.BO[0].A"),
        (with_level("BO", 5, A=True), "431.BO[5].A"),
        (with_level("BO", 5, A="NaN"), "431.BO[5].A"),
        (with_level("AO", 1, A=float("inf")), "431.AO[1].A"),
        (with_level("AO", 1, P="1_000"), "431.AO[1].P"),
        (with_level("AO", 1, P="0"), "431.AO[1].P"),
        (with_level("AO", 1, A="1e999999"), "431.AO[1].A"),
        ([423, {**load(ORDER_423)[1], "orderId": "9" * 5000}], "423.orderId"),
        ([431, {**snapshot_payload(), "CS": "7.5"}], "431.CS"),
        ([431, {**snapshot_payload(), "PS": "NOTAPAIR"}], "431.PS"),
        ([431, {**snapshot_payload(), "AO": {"P": "1"}}], "431.AO"),
        ([432, {"CS": 1, "PS": "BTCTRY", "BO": [{"CP": 2, "P": "1", "A": "1"}]}], "432.BO[0].CP"),
        ([432, {"CS": 1, "PS": "BTCTRY", "AO": [{"CP": 0, "P": "1"}]}], "432.AO[0].A"),
        ([432, {"CS": 1, "PS": "BTCTRY", "AO": "x"}], "432.AO"),
        ([432, {"PS": "BTCTRY", "AO": []}], "432.CS"),
        (without(423, ORDER_423, "price"), "423.price"),
        ([423, {**load(ORDER_423)[1], "id": 1.149163839863900657e18}], "423.id"),
        ([423, {**load(ORDER_423)[1], "amount": "0"}], "423.amount"),
        ([423, {**load(ORDER_423)[1], "orderType": "buy"}], "423.orderType"),
        ([423, {**load(ORDER_423)[1], "numeratorSymbol": "A-B"}], "423.numeratorSymbol"),
        ([441, {**load(MATCH_441)[0][1], "isBid": "false"}], "441.isBid"),
        ([441, {**load(MATCH_441)[0][1], "amount": "0"}], "441.amount"),
        ([452, {**load(ORDER_423)[1], "type": 452, "id": 5, "orderType": 2}], "452.orderType"),
        ([422, {"PS": "BTCTRY", "D": "1", "I": "7", "A": "1", "P": "1", "S": 2}], "422.S"),
        (
            [
                421,
                {"symbol": "BTCTRY", "items": [{"D": "x", "I": "1", "A": "1", "P": "1", "S": 0}]},
            ],
            "421.items[0].D",
        ),
        ([402, {"PS": "BTCTRY", "LA": "1", "B": "bid"}], "402.B"),
        ([401, {"items": [{"PS": "BTCTRY", "LA": "1"}, {"PS": "ETHTRY"}]}], "401.items[1].LA"),
        ([100, {"message": "join|ticker:BTCTRY"}], "100.ok"),
        ([114, {"ok": "yes"}], "114.ok"),
        ([991, ["not", "an", "object"]], "991"),
        ({"type": 991}, "frame"),
        ([True, {}], "frame"),
        ([431], "frame"),
    ],
)
def test_malformed_known_frames_raise_a_payload_error_naming_the_field(
    bad: Any, field: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_frame(bad, received_ms=1)

    assert caught.value.field == field
    assert str(caught.value).startswith("websocket: " + field)


def test_text_that_is_not_json_raises_a_payload_error() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_text("[431, {", received_ms=1)

    assert caught.value.field == "frame"


def test_the_pair_of_a_broken_book_frame_can_still_be_read_for_a_resync() -> None:
    assert frame_pair(with_level("AO", 0, P="x")) == "BTCUSDT"
    assert frame_pair([432, {"event": "btc_try"}]) == "BTCTRY"
    assert frame_pair("garbage") is None


# --- fuzz: any damage to a recorded frame gives a message or a PayloadError, nothing else -----

RECORDED_FRAMES = [
    frame_
    for path in sorted(FIXTURES.glob("ws_*.json"))
    for frame_ in (load(path.name) if path.name.startswith("ws_441") else [load(path.name)])
]
GARBAGE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["NaN", "-Infinity", "1e999999", "0x10", "1_000", " 7 ", "", "-0", "9" * 5000]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path inside a frame's payload (the frame type itself excluded)."""
    found = [prefix] if prefix else []
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, child in children:
        found.extend(paths(child, (*prefix, key)))
    return found


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_damaged_recorded_frames_parse_or_raise_payload_error_only(data: st.DataObject) -> None:
    frame_ = json.loads(json.dumps(data.draw(st.sampled_from(RECORDED_FRAMES))))
    path = data.draw(st.sampled_from(paths(frame_[1], (1,))))
    target = frame_
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(GARBAGE)

    try:
        message = parse_frame(frame_, received_ms=1)
    except PayloadError as exc:
        assert exc.field
    else:
        assert message is not None
