from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.domain.entries import (
    EntryKind,
    LedgerEntry,
    balances_from_entries,
    ledger_entries_for_fill,
)
from ledger.domain.fills import Fill
from ledger.domain.positions import LedgerIntegrityError
from tests.ledger.factories import make_fill as fill_factory
from trading.domain.orders import Side

D = Decimal


def make_fill(*args: object, **kwargs: object) -> Fill:
    return fill_factory(*args, ts_ms=1_700_000_000_123, **kwargs)


@pytest.mark.parametrize(
    ("side", "fee", "fee_asset", "expected"),
    [
        (Side.BUY, "0", "TRY", [("t1:base", "BTC", "0.5"), ("t1:quote", "TRY", "-1000")]),
        (
            Side.BUY,
            "2",
            "TRY",
            [("t1:base", "BTC", "0.5"), ("t1:quote", "TRY", "-1000"), ("t1:fee", "TRY", "-2")],
        ),
        (
            Side.SELL,
            "0.0005",
            "BTC",
            [("t1:base", "BTC", "-0.5"), ("t1:quote", "TRY", "1000"), ("t1:fee", "BTC", "-0.0005")],
        ),
        (
            Side.SELL,
            "0.1",
            "bnb",
            [("t1:base", "BTC", "-0.5"), ("t1:quote", "TRY", "1000"), ("t1:fee", "BNB", "-0.1")],
        ),
    ],
)
def test_a_fill_moves_base_quote_and_fee_in_its_own_asset(
    side: Side, fee: str, fee_asset: str, expected: list[tuple[str, str, str]]
) -> None:
    entries = ledger_entries_for_fill(make_fill(side, "2000", "0.5", fee, fee_asset))
    assert [(e.entry_id, e.asset, e.amount) for e in entries] == [
        (entry_id, asset, D(amount)) for entry_id, asset, amount in expected
    ]
    assert [e.kind for e in entries] == [EntryKind.TRADE, EntryKind.TRADE] + [EntryKind.FEE] * (
        len(expected) - 2
    )
    assert {(e.trade_id, e.ts_ms) for e in entries} == {("t1", 1_700_000_000_123)}


def test_the_same_fill_always_yields_the_same_entries() -> None:
    fill = make_fill(Side.BUY, "2000", "0.5", "1")
    assert ledger_entries_for_fill(fill) == ledger_entries_for_fill(fill)


def test_balances_are_opening_balances_plus_entries_per_asset() -> None:
    entries = ledger_entries_for_fill(make_fill(Side.BUY, "2000", "0.5", "2")) + (
        ledger_entries_for_fill(make_fill(Side.SELL, "2100", "0.2", "0.1", "BNB", trade_id="t2"))
    )
    balances = balances_from_entries(entries, {"TRY": D("5000"), "BNB": D("1")})
    assert balances == {
        "TRY": D("5000") - D("1000") - D("2") + D("420"),
        "BTC": D("0.3"),
        "BNB": D("0.9"),
    }


def test_balances_do_not_change_the_opening_mapping() -> None:
    opening = {"TRY": D("5000")}
    balances_from_entries(ledger_entries_for_fill(make_fill(Side.BUY, "1", "1")), opening)
    assert opening == {"TRY": D("5000")}


def test_a_repeated_entry_id_raises_instead_of_counting_a_fill_twice() -> None:
    entries = ledger_entries_for_fill(make_fill(Side.BUY, "2000", "0.5"))
    with pytest.raises(LedgerIntegrityError, match="t1:base"):
        balances_from_entries(entries + entries, {})


def test_no_entries_give_the_opening_balances() -> None:
    assert balances_from_entries([], {"TRY": D("7")}) == {"TRY": D("7")}
    assert isinstance(LedgerEntry("x", "x", 0, "TRY", D(1), EntryKind.TRADE).amount, Decimal)
