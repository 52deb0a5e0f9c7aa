"""L2 order book kept from BTCTurk 431 snapshots and 432 diffs (reference section 6)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.domain.orderbook import AWAITING_SNAPSHOT, BookSide, L2Book, LevelAction, LevelChange
from trading.domain.reports import BookLevel
from trading.domain.symbols import Symbol
from trading.exchange.btcturk.ws_parse import parse_text

BTC_TRY = Symbol("BTC", "TRY")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "btcturk"
D = Decimal
BID, ASK = BookSide.BID, BookSide.ASK
UPDATE, ADD, DELETE = LevelAction.UPDATE, LevelAction.ADD, LevelAction.DELETE


def levels(*pairs: tuple[int | str, int | str]) -> list[BookLevel]:
    return [BookLevel(D(price), D(quantity)) for price, quantity in pairs]


def change(side: BookSide, action: LevelAction, price: int | str, quantity: int | str = 0):
    return LevelChange(side, action, D(price), D(quantity))


def fresh_book(changeset: int = 100) -> L2Book:
    book = L2Book(BTC_TRY)
    book.apply_snapshot(
        changeset,
        bids=levels((100, 1), (99, 2), (98, 3)),
        asks=levels((101, "0.5"), (102, 1), (103, 2)),
        received_ms=1_000,
    )
    return book


def test_a_new_book_is_out_of_sync_until_its_first_snapshot() -> None:
    book = L2Book(BTC_TRY)

    assert (book.in_sync, book.sync_reason, book.changeset) == (False, AWAITING_SNAPSHOT, None)
    assert book.age_ms(5_000) is None
    assert book.apply_diff(1, [change(BID, ADD, 1, 1)], received_ms=1) is False
    assert book.top(5).bids == ()


def test_a_snapshot_then_consecutive_diffs_build_the_book() -> None:
    book = fresh_book(100)

    applied = [
        book.apply_diff(101, [change(BID, ADD, "100.5", 4), change(ASK, DELETE, 101)], 1_100),
        book.apply_diff(102, [change(BID, UPDATE, 99, 7), change(ASK, ADD, 104, 1)], 1_200),
    ]

    top = book.top(10)
    assert applied == [True, True]
    assert (book.in_sync, book.changeset, book.updated_ms) == (True, 102, 1_200)
    assert top.bids == tuple(levels(("100.5", 4), (100, 1), (99, 7), (98, 3)))
    assert top.asks == tuple(levels((102, 1), (103, 2), (104, 1)))
    assert (top.symbol, top.ts_ms) == (BTC_TRY, 1_200)


def test_top_orders_bids_highest_first_and_asks_lowest_first_and_truncates() -> None:
    book = L2Book(BTC_TRY)
    book.apply_snapshot(
        7,
        bids=levels((5, 1), (9, 1), (7, 1), (8, 1)),
        asks=levels((12, 1), (10, 1), (11, 1)),
        received_ms=1,
    )

    top = book.top(2)

    assert [level.price for level in top.bids] == [D(9), D(8)]
    assert [level.price for level in top.asks] == [D(10), D(11)]
    assert top.spread_bps == D(1) / D("9.5") * 10000
    assert book.top(0).bids == ()


def test_an_update_sets_the_absolute_size_and_zero_removes_the_level() -> None:
    # UNVERIFIED reading (reference 6): A is the new size, not a delta.
    book = fresh_book(100)

    book.apply_diff(101, [change(BID, UPDATE, 100, "0.25"), change(BID, UPDATE, 99, 0)], 2_000)

    assert book.levels(BID) == {D(100): D("0.25"), D(98): D(3)}


@pytest.mark.parametrize(
    ("changeset", "reason"),
    [
        (102, "changeset gap: expected 101, got 102"),
        (100, "changeset gap: expected 101, got 100"),
        (50, "changeset gap: expected 101, got 50"),
    ],
)
def test_a_changeset_gap_marks_the_book_out_of_sync_and_refuses_the_diff(
    changeset: int, reason: str
) -> None:
    book = fresh_book(100)
    before = book.levels(BID)

    applied = book.apply_diff(changeset, [change(BID, DELETE, 100)], received_ms=2_000)

    assert applied is False
    assert (book.in_sync, book.sync_reason, book.changeset) == (False, reason, 100)
    assert book.levels(BID) == before
    assert book.updated_ms == 1_000
    assert book.apply_diff(101, [change(BID, DELETE, 100)], received_ms=2_100) is False


def test_the_next_snapshot_brings_an_out_of_sync_book_back() -> None:
    book = fresh_book(100)
    book.apply_diff(105, [], received_ms=2_000)

    book.apply_snapshot(200, bids=levels((90, 1)), asks=levels((91, 1)), received_ms=3_000)

    assert (book.in_sync, book.sync_reason, book.changeset) == (True, "", 200)
    assert book.apply_diff(201, [change(ASK, ADD, 92, 1)], received_ms=3_100) is True
    assert book.levels(ASK) == {D(91): D(1), D(92): D(1)}
    assert book.snapshots == 2


def test_deleting_an_unknown_level_is_tolerated_and_counted() -> None:
    book = fresh_book(100)

    applied = book.apply_diff(101, [change(ASK, DELETE, 150, 1), change(BID, DELETE, 98)], 2_000)

    assert applied is True
    assert book.in_sync is True
    assert book.unknown_deletes == 1
    assert book.levels(BID) == {D(100): D(1), D(99): D(2)}


def test_a_diff_that_leaves_the_book_crossed_marks_it_out_of_sync() -> None:
    book = fresh_book(100)

    applied = book.apply_diff(101, [change(BID, ADD, 101, 1)], received_ms=2_000)

    assert applied is True
    assert book.crossed is True
    assert book.in_sync is False
    assert book.sync_reason == "crossed after changeset 101: bid 101 >= ask 101"


def test_age_is_measured_from_the_last_applied_update() -> None:
    book = fresh_book(100)
    book.apply_diff(101, [], received_ms=4_000)
    book.apply_diff(103, [], received_ms=9_000)  # refused: does not refresh the age

    assert book.age_ms(10_000) == 6_000
    assert book.age_ms(3_000) == 0


def test_the_recorded_snapshot_and_diff_load_but_do_not_chain() -> None:
    snapshot = parse_text(
        (FIXTURES / "ws_431_orderbook_full_btcusdt_obdiff_hummingbot_202203.json").read_text(),
        received_ms=1,
    )
    diff = parse_text(
        (FIXTURES / "ws_432_orderbook_diff_btcusdt_hummingbot_202203.json").read_text(),
        received_ms=2,
    )
    book = L2Book(snapshot.symbol)

    book.apply_snapshot(snapshot.changeset, snapshot.bids, snapshot.asks, received_ms=1)
    applied = book.apply_diff(diff.changeset, diff.changes, received_ms=2)

    top = book.top(3)
    assert (top.best_bid, top.best_ask) == (D(40674), D(40678))
    assert [level.price for level in top.bids] == [D(40674), D(40619), D(40617)]
    assert applied is False  # captured at different times: CS 7880291 < 7886177
    assert book.sync_reason == "changeset gap: expected 7886178, got 7880291"


# --- property: any valid diff sequence equals a plain dict model -----------------------------

# Bids live on 1..50 and asks on 51..100 so a random sequence never crosses the book.
bid_changes = st.builds(
    LevelChange,
    st.just(BID),
    st.sampled_from(list(LevelAction)),
    st.integers(1, 50).map(D),
    st.decimals(min_value=0, max_value=5, places=3),
)
ask_changes = st.builds(
    LevelChange,
    st.just(ASK),
    st.sampled_from(list(LevelAction)),
    st.integers(51, 100).map(D),
    st.decimals(min_value=0, max_value=5, places=3),
)
diffs = st.lists(st.lists(st.one_of(bid_changes, ask_changes), max_size=8), max_size=30)
books = st.dictionaries(st.integers(1, 50).map(D), st.decimals("0.001", 5, places=3), max_size=10)


def model_apply(model: dict[BookSide, dict[Decimal, Decimal]], row: LevelChange) -> None:
    side = model[row.side]
    if row.action is DELETE or row.quantity == 0:
        side.pop(row.price, None)
    else:
        side[row.price] = row.quantity


@settings(max_examples=150, deadline=None)
@given(bids=books, diff_sequence=diffs, start=st.integers(0, 10**12))
def test_applying_random_valid_diffs_matches_a_dict_model(
    bids: dict[Decimal, Decimal], diff_sequence: list[list[LevelChange]], start: int
) -> None:
    asks = {price + 50: quantity for price, quantity in bids.items()}
    model = {BID: dict(bids), ASK: dict(asks)}
    book = L2Book(BTC_TRY)
    book.apply_snapshot(
        start,
        [BookLevel(p, q) for p, q in bids.items()],
        [BookLevel(p, q) for p, q in asks.items()],
        received_ms=0,
    )

    for offset, rows in enumerate(diff_sequence, start=1):
        assert book.apply_diff(start + offset, rows, received_ms=offset) is True
        for row in rows:
            model_apply(model, row)

    top = book.top(100)
    assert book.in_sync is True
    assert book.changeset == start + len(diff_sequence)
    assert book.levels(BID) == model[BID]
    assert book.levels(ASK) == model[ASK]
    assert [level.price for level in top.bids] == sorted(model[BID], reverse=True)
    assert [level.price for level in top.asks] == sorted(model[ASK])
