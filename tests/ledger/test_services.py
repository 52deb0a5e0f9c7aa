from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError

from ledger.domain.entries import balances_from_entries, ledger_entries_for_fill
from ledger.domain.fills import Fill, Liquidity
from ledger.domain.positions import FeeConversionError, LedgerIntegrityError
from ledger.models import LedgerEntry, LedgerFill, Position
from ledger.selectors import ledger_balances, ledger_balances_summed, position_list
from ledger.services import fill_record
from tests.ledger.factories import ETH_TRY
from tests.ledger.factories import make_fill as fill_factory
from trading.domain.orders import Side
from trading.domain.symbols import Symbol

D = Decimal
pytestmark = pytest.mark.django_db


def make_fill(*args: object, **kwargs: object) -> Fill:
    return fill_factory(
        *args,
        client_order_id="mv-BTCTRY-b-x-1",
        ts_ms=1_700_000_000_123,
        liquidity=Liquidity.MAKER,
        **kwargs,
    )


def test_fill_record_creates_the_fill_its_entries_and_the_position() -> None:
    row, created = fill_record(account="acc", fill=make_fill(Side.BUY, "2000", "0.5", "1"))
    assert created
    assert (row.symbol, row.side, row.price, row.quantity, row.fee_quote) == (
        "BTC_TRY",
        "buy",
        D("2000"),
        D("0.5"),
        D("1"),
    )
    assert row.ts == dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC)
    assert row.liquidity == "maker"
    entries = {(e.entry_id, e.asset, e.amount, e.kind) for e in LedgerEntry.objects.all()}
    assert entries == {
        ("t1:base", "BTC", D("0.5"), "TRADE"),
        ("t1:quote", "TRY", D("-1000"), "TRADE"),
        ("t1:fee", "TRY", D("-1"), "FEE"),
    }
    position = Position.objects.get(account="acc", symbol="BTC_TRY")
    assert position.quantity == D("0.5")
    assert position.average_cost == D("2002")
    assert position.cost_basis == D("1001")
    assert position.fees_paid == D("1")


def test_a_duplicate_trade_id_returns_the_existing_fill_and_changes_nothing() -> None:
    first, _ = fill_record(account="acc", fill=make_fill(Side.BUY, "2000", "0.5", "1"))
    again, created = fill_record(account="acc", fill=make_fill(Side.BUY, "2000", "0.5", "1"))
    assert not created
    assert again.pk == first.pk
    assert LedgerFill.objects.count() == 1
    assert LedgerEntry.objects.count() == 3
    assert Position.objects.get(account="acc").quantity == D("0.5")


def test_the_same_trade_id_in_another_account_is_a_different_fill() -> None:
    fill_record(account="a", fill=make_fill(Side.BUY, "2000", "0.5"))
    _, created = fill_record(account="b", fill=make_fill(Side.BUY, "2000", "0.5"))
    assert created
    assert [p.account for p in Position.objects.all()] == ["a", "b"]


def test_a_buy_then_sell_updates_the_position_with_realized_pnl() -> None:
    fill_record(account="acc", fill=make_fill(Side.BUY, "100", "3", "0.3"))
    fill_record(account="acc", fill=make_fill(Side.SELL, "90", "3", "0.27", trade_id="t2"))
    position = Position.objects.get(account="acc")
    assert position.quantity == 0
    assert position.average_cost == 0
    assert position.realized_pnl == D("-30.57")


@pytest.mark.parametrize("held", [None, "0.1"])
def test_selling_more_than_held_raises_and_writes_nothing(held: str | None) -> None:
    if held is not None:
        fill_record(account="acc", fill=make_fill(Side.BUY, "100", held))
    before = (LedgerFill.objects.count(), LedgerEntry.objects.count(), Position.objects.count())
    with pytest.raises(LedgerIntegrityError, match="BTC_TRY"):
        fill_record(account="acc", fill=make_fill(Side.SELL, "100", "0.2", trade_id="t2"))
    after = (LedgerFill.objects.count(), LedgerEntry.objects.count(), Position.objects.count())
    assert after == before
    assert not LedgerFill.objects.filter(trade_id="t2").exists()


def test_an_other_currency_fee_is_converted_with_the_given_rate() -> None:
    fill = make_fill(Side.BUY, "100", "1", "0.01", "bnb")
    row, _ = fill_record(account="acc", fill=fill, rates={"BNB": D("500")})
    assert (row.fee_asset, row.fee_quote) == ("BNB", D("5"))
    assert Position.objects.get(account="acc").cost_basis == D("105")


def test_a_missing_fee_rate_raises_and_writes_nothing() -> None:
    with pytest.raises(FeeConversionError, match="BNB"):
        fill_record(account="acc", fill=make_fill(Side.BUY, "100", "1", "0.01", "BNB"))
    assert LedgerFill.objects.count() == 0
    assert Position.objects.count() == 0


def test_the_database_refuses_a_negative_position() -> None:
    with pytest.raises(IntegrityError):
        Position.objects.create(account="acc", symbol="BTC_TRY", quantity=D("-1"))


def test_position_list_returns_an_accounts_positions_by_symbol() -> None:
    fill_record(account="acc", fill=make_fill(Side.BUY, "10", "1", symbol=Symbol("ETH", "TRY")))
    fill_record(account="acc", fill=make_fill(Side.BUY, "100", "1", trade_id="t2"))
    fill_record(account="other", fill=make_fill(Side.BUY, "100", "1", trade_id="t3"))
    assert [p.symbol for p in position_list(account="acc")] == ["BTC_TRY", "ETH_TRY"]


def test_running_balances_equal_the_sum_of_every_entry() -> None:
    opening = {"try": D("100000")}
    fills = [
        fill_factory(Side.BUY, "2000.5", "0.12345678", "0.25", trade_id="a", ts_ms=1),
        fill_factory(Side.BUY, "150.25", "3", "0.003", "ETH", trade_id="b", symbol=ETH_TRY),
        fill_factory(Side.SELL, "2100", "0.1", "0.0001", "BTC", trade_id="c", ts_ms=3),
        fill_factory(Side.SELL, "151", "1.5", "0.2", "BNB", trade_id="d", symbol=ETH_TRY),
    ]
    for fill in fills:
        fill_record(account="acc", fill=fill, rates={"BNB": D("12.5")})
    fill_record(account="acc", fill=fills[0])  # a duplicate moves nothing
    fill_record(account="other", fill=fills[0])

    running = ledger_balances(account="acc", opening=opening)

    assert running == ledger_balances_summed(account="acc", opening=opening)
    entries = [e for f in fills for e in ledger_entries_for_fill(f)]
    assert running == balances_from_entries(entries, {"TRY": D("100000")})
    assert running["BNB"] == D("-0.2")
    assert ledger_balances(account="other", opening={}) == {
        "BTC": D("0.12345678"),
        "TRY": D("-246.97528839") - D("0.25"),
    }


def test_a_refused_fill_leaves_the_running_balances_unchanged() -> None:
    fill_record(account="acc", fill=make_fill(Side.BUY, "2000", "0.5", "1"))
    before = ledger_balances(account="acc", opening={})

    with pytest.raises(LedgerIntegrityError):
        fill_record(account="acc", fill=make_fill(Side.SELL, "2000", "0.6", trade_id="t2"))

    assert ledger_balances(account="acc", opening={}) == before
    assert before == ledger_balances_summed(account="acc", opening={})
