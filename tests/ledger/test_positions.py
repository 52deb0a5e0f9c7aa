from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.domain.fills import Fill
from ledger.domain.positions import (
    FeeConversionError,
    LedgerIntegrityError,
    Position,
    fill_fee_in_quote,
    position_apply_fill,
)
from tests.ledger.factories import BTC_TRY, make_fill
from trading.domain.orders import Side
from trading.domain.symbols import Symbol

D = Decimal


def apply(
    position: Position | None, fill: Fill, rates: dict[str, Decimal] | None = None
) -> Position:
    return position_apply_fill(position, fill, fee_in_quote=fill_fee_in_quote(fill, rates=rates))


@pytest.mark.parametrize(
    ("price", "quantity", "fee", "average_cost", "cost_basis"),
    [
        ("100", "2", "0", "100", "200"),
        ("100", "2", "1", "100.5", "201"),
        ("250.50", "4", "2", "251", "1004"),
        ("1000000", "0.001", "1.5", "1001500", "1001.5"),
    ],
)
def test_a_quote_fee_raises_the_average_cost_of_a_buy(
    price: str, quantity: str, fee: str, average_cost: str, cost_basis: str
) -> None:
    position = apply(None, make_fill(Side.BUY, price, quantity, fee))
    assert position.quantity == D(quantity)
    assert position.average_cost == D(average_cost)
    assert position.cost_basis == D(cost_basis)
    assert position.fees_paid == D(fee)
    assert position.realized_pnl == 0


def test_two_buys_average_their_costs_by_quantity_fees_included() -> None:
    position = apply(None, make_fill(Side.BUY, "100", "1"))
    position = apply(position, make_fill(Side.BUY, "200", "3", "4", trade_id="t2"))
    # (100 + 600 + 4) / 4
    assert position.average_cost == D("176")
    assert position.quantity == D("4")


@pytest.mark.parametrize(
    ("price", "quantity", "fee", "held", "cost_basis", "fees_paid"),
    [
        ("100", "1", "0.001", "0.999", "100", "0.1"),
        ("2000", "0.5", "0.0005", "0.4995", "1000", "1"),
    ],
)
def test_a_base_fee_on_a_buy_reduces_the_quantity_held_not_the_cost(
    price: str, quantity: str, fee: str, held: str, cost_basis: str, fees_paid: str
) -> None:
    position = apply(None, make_fill(Side.BUY, price, quantity, fee, "BTC"))
    assert position.quantity == D(held)
    assert position.cost_basis == D(cost_basis)
    assert position.average_cost == D(cost_basis) / D(held)
    assert position.fees_paid == D(fees_paid)


def test_a_base_fee_on_a_sell_removes_the_fee_units_at_their_average_cost() -> None:
    position = apply(None, make_fill(Side.BUY, "100", "2"))
    position = apply(position, make_fill(Side.SELL, "110", "1", "0.01", "BTC", trade_id="t2"))
    assert position.quantity == D("0.99")
    # proceeds 110 minus the cost of the 1.01 units that left (1.01 x 100)
    assert position.realized_pnl == D("110") - D("101")
    assert position.average_cost == D("100")
    assert position.fees_paid == D("1.1")


def test_a_lowercase_fee_asset_is_recognised_as_the_base() -> None:
    position = apply(None, make_fill(Side.BUY, "100", "1", "0.001", "btc"))
    assert position.quantity == D("0.999")


@pytest.mark.parametrize(
    ("fee", "asset", "rates", "expected"),
    [
        ("2", "TRY", None, "2"),
        ("0.001", "BTC", None, "0.1"),
        ("0.5", "BNB", {"BNB": D("10")}, "5"),
        ("3", "USDT", {"USDT": D("32.5"), "BNB": D("1")}, "97.5"),
        ("0", "BNB", None, "0"),
    ],
)
def test_a_fee_is_valued_in_quote_at_the_fill_time_mark(
    fee: str, asset: str, rates: dict[str, Decimal] | None, expected: str
) -> None:
    fill = make_fill(Side.BUY, "100", "1", fee, asset)
    assert fill_fee_in_quote(fill, rates=rates) == D(expected)


def test_an_other_currency_fee_adds_its_converted_value_to_the_cost() -> None:
    position = apply(None, make_fill(Side.BUY, "100", "2", "0.5", "BNB"), {"BNB": D("10")})
    assert position.cost_basis == D("205")
    assert position.average_cost == D("102.5")
    assert position.fees_paid == D("5")


@pytest.mark.parametrize("rates", [None, {}, {"USDT": D("30")}, {"BNB": D("0")}])
def test_an_other_currency_fee_without_a_usable_rate_raises_naming_the_asset(
    rates: dict[str, Decimal] | None,
) -> None:
    with pytest.raises(FeeConversionError, match="BNB") as caught:
        fill_fee_in_quote(make_fill(Side.BUY, "100", "1", "0.5", "BNB"), rates=rates)
    assert caught.value.asset == "BNB"


@pytest.mark.parametrize(
    ("held", "sell_quantity", "fee", "fee_asset", "sold"),
    [
        (None, "0.1", "0", "TRY", "0.1"),
        ("1", "1.00000001", "0", "TRY", "1.00000001"),
        ("1", "1", "0.01", "BTC", "1.01"),
        ("0.5", "0.6", "1", "TRY", "0.6"),
    ],
)
def test_selling_more_than_held_raises_naming_symbol_held_and_sold(
    held: str | None, sell_quantity: str, fee: str, fee_asset: str, sold: str
) -> None:
    position = None if held is None else apply(None, make_fill(Side.BUY, "100", held))
    with pytest.raises(LedgerIntegrityError) as caught:
        apply(position, make_fill(Side.SELL, "100", sell_quantity, fee, fee_asset, trade_id="t2"))
    message = str(caught.value)
    assert "BTC_TRY" in message
    assert f"held {held or 0}" in message
    assert f"sold {sold}" in message


@pytest.mark.parametrize(
    ("buy", "sell", "expected"),
    [
        # (price, quantity, quote fee)
        (("100", "1", "0"), ("110", "1", "0"), "10"),
        (("100", "1", "1"), ("110", "1", "1.1"), "7.9"),
        (("100", "3", "0.3"), ("90", "3", "0.27"), "-30.57"),
        (("1234567.89", "0.00012345", "0.15"), ("1300000", "0.00012345", "0.16"), "7.7676"),
    ],
)
def test_a_buy_then_sell_round_trip_realizes_the_hand_calculated_pnl(
    buy: tuple[str, str, str], sell: tuple[str, str, str], expected: str
) -> None:
    position = apply(None, make_fill(Side.BUY, *buy))
    position = apply(position, make_fill(Side.SELL, *sell, trade_id="t2"))
    q = D(buy[1])
    hand = q * (D(sell[0]) - D(buy[0])) - D(buy[2]) - D(sell[2])
    assert position.realized_pnl == hand
    assert position.realized_pnl.quantize(D("0.0001")) == D(expected)
    assert position.quantity == 0
    assert position.average_cost == 0
    assert position.cost_basis == 0
    assert position.fees_paid == D(buy[2]) + D(sell[2])


def test_a_partial_sell_keeps_the_average_cost_and_realizes_against_it() -> None:
    position = apply(None, make_fill(Side.BUY, "100", "3", "1"))
    average = position.average_cost
    position = apply(position, make_fill(Side.SELL, "120", "1", "0.5", trade_id="t2"))
    assert position.average_cost == average
    assert position.quantity == D("2")
    assert position.realized_pnl == (D("120") - average).quantize(D("1e-12")) - D("0.5")
    # the cost released from the basis is exactly the cost realized against the proceeds
    assert D("119.5") - position.realized_pnl == D("301") - position.cost_basis


def test_a_sell_that_flattens_resets_the_average_cost_and_keeps_the_realized_pnl() -> None:
    position = apply(None, make_fill(Side.BUY, "100", "3", "1"))
    position = apply(position, make_fill(Side.SELL, "120", "1", trade_id="t2"))
    position = apply(position, make_fill(Side.SELL, "130", "2", trade_id="t3"))
    assert position.is_flat
    assert position.average_cost == 0
    assert position.cost_basis == 0
    assert position.realized_pnl == D("120") + D("260") - D("301")


@pytest.mark.parametrize(
    ("mark", "market_value", "unrealized"),
    [("100", "200", "-2"), ("150", "300", "98"), ("0", "0", "-202")],
)
def test_market_value_and_unrealized_pnl_use_the_mark_and_the_cost_basis(
    mark: str, market_value: str, unrealized: str
) -> None:
    position = apply(None, make_fill(Side.BUY, "100", "2", "2"))
    assert position.market_value(D(mark)) == D(market_value)
    assert position.unrealized_pnl(D(mark)) == D(unrealized)


def test_a_position_built_from_an_average_cost_derives_its_cost_basis() -> None:
    position = Position(BTC_TRY, quantity=D("2"), average_cost=D("150.5"))
    assert position.cost_basis == D("301")


@pytest.mark.parametrize(
    "fill",
    [
        make_fill(Side.BUY, "100", "1", symbol=Symbol("ETH", "TRY")),
        make_fill(Side.BUY, "0", "1"),
        make_fill(Side.BUY, "100", "0"),
        make_fill(Side.BUY, "100", "-1"),
        make_fill(Side.BUY, "100", "1", "-0.1"),
        make_fill(Side.BUY, "100", "1", "1", "BTC"),
    ],
    ids=[
        "other symbol",
        "zero price",
        "zero quantity",
        "negative quantity",
        "negative fee",
        "base fee eats the buy",
    ],
)
def test_an_invalid_fill_raises_an_integrity_error(fill: Fill) -> None:
    position = Position(BTC_TRY, quantity=D("1"), average_cost=D("100"))
    with pytest.raises(LedgerIntegrityError, match=fill.trade_id):
        apply(position, fill)
