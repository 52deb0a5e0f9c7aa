from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.domain.portfolio import (
    FeeConversionError,
    LedgerIntegrityError,
    MissingMarkError,
    Portfolio,
    portfolio_apply_fill,
    portfolio_equity,
    portfolio_exposure,
    portfolio_unrealized_pnl,
)
from tests.ledger.factories import BTC_TRY, ETH_TRY, make_fill
from trading.domain.orders import Side
from trading.domain.symbols import Symbol

D = Decimal


def opened(cash: str = "10000") -> Portfolio:
    return Portfolio(quote_asset="TRY", cash=D(cash))


@pytest.mark.parametrize(
    ("fee", "fee_asset", "cash", "quantity", "fees_paid"),
    [
        ("0", "TRY", "9800", "2", "0"),
        ("2", "TRY", "9798", "2", "2"),
        ("0.002", "BTC", "9800", "1.998", "0.2"),
        ("0.5", "BNB", "9795", "2", "5"),
    ],
    ids=["no fee", "quote fee", "base fee", "other-currency fee"],
)
def test_a_buy_pays_notional_and_a_non_base_fee_from_cash(
    fee: str, fee_asset: str, cash: str, quantity: str, fees_paid: str
) -> None:
    fill = make_fill(Side.BUY, "100", "2", fee, fee_asset)
    portfolio = portfolio_apply_fill(opened(), fill, rates={"BNB": D("10")})
    assert portfolio.cash == D(cash)
    assert portfolio.positions[BTC_TRY].quantity == D(quantity)
    assert portfolio.fees_paid == D(fees_paid)


@pytest.mark.parametrize(
    ("fee", "fee_asset", "cash", "quantity", "realized"),
    [
        ("0", "TRY", "9920", "1", "20"),
        ("1.2", "TRY", "9918.8", "1", "18.8"),
        ("0.01", "BTC", "9920", "0.99", "19"),
        ("0.2", "BNB", "9918", "1", "18"),
    ],
    ids=["no fee", "quote fee", "base fee", "other-currency fee"],
)
def test_a_sell_receives_notional_less_a_non_base_fee_into_cash(
    fee: str, fee_asset: str, cash: str, quantity: str, realized: str
) -> None:
    portfolio = portfolio_apply_fill(opened(), make_fill(Side.BUY, "100", "2"))
    sell = make_fill(Side.SELL, "120", "1", fee, fee_asset, trade_id="t2")
    portfolio = portfolio_apply_fill(portfolio, sell, rates={"BNB": D("10")})
    assert portfolio.cash == D(cash)
    assert portfolio.positions[BTC_TRY].quantity == D(quantity)
    assert portfolio.realized_pnl == D(realized)


def test_a_fill_quoted_in_another_currency_raises_an_integrity_error() -> None:
    fill = make_fill(Side.BUY, "60000", "0.1", symbol=Symbol("BTC", "USDT"))
    with pytest.raises(LedgerIntegrityError, match="USDT"):
        portfolio_apply_fill(opened(), fill)


def test_an_other_currency_fee_without_a_rate_raises_naming_the_asset() -> None:
    fill = make_fill(Side.BUY, "100", "1", "0.1", "BNB")
    with pytest.raises(FeeConversionError, match="BNB"):
        portfolio_apply_fill(opened(), fill, rates={"USDT": D("32")})


def test_an_oversell_raises_and_leaves_the_portfolio_unchanged() -> None:
    before = portfolio_apply_fill(opened(), make_fill(Side.BUY, "100", "1"))
    with pytest.raises(LedgerIntegrityError, match="held 1, sold 2"):
        portfolio_apply_fill(before, make_fill(Side.SELL, "100", "2", trade_id="t2"))
    assert before.cash == D("9900")
    assert before.positions[BTC_TRY].quantity == D("1")


def test_applying_a_fill_returns_a_new_portfolio_and_never_mutates_the_old_one() -> None:
    start = opened()
    after = portfolio_apply_fill(start, make_fill(Side.BUY, "100", "1"))
    assert start.positions == {}
    assert start.cash == D("10000")
    assert after is not start
    with pytest.raises(TypeError):
        after.positions[ETH_TRY] = after.positions[BTC_TRY]  # type: ignore[index]


def test_realized_pnl_and_fees_sum_over_symbols_and_flat_positions_are_kept() -> None:
    portfolio = opened()
    for fill in [
        make_fill(Side.BUY, "100", "2", "1", trade_id="a"),
        make_fill(Side.BUY, "50", "4", "1", trade_id="b", symbol=ETH_TRY),
        make_fill(Side.SELL, "110", "2", "1", trade_id="c"),
        make_fill(Side.SELL, "45", "1", "0.5", trade_id="d", symbol=ETH_TRY),
    ]:
        portfolio = portfolio_apply_fill(portfolio, fill)
    btc, eth = portfolio.positions[BTC_TRY], portfolio.positions[ETH_TRY]
    assert btc.quantity == 0
    assert btc.realized_pnl == D("220") - D("1") - D("201")
    assert eth.realized_pnl == D("45") - D("0.5") - D("50.25")
    assert portfolio.realized_pnl == btc.realized_pnl + eth.realized_pnl
    assert portfolio.fees_paid == D("3.5")


def test_equity_is_cash_plus_holdings_at_their_marks() -> None:
    portfolio = portfolio_apply_fill(opened(), make_fill(Side.BUY, "100", "2", "2"))
    portfolio = portfolio_apply_fill(
        portfolio, make_fill(Side.BUY, "50", "3", trade_id="t2", symbol=ETH_TRY)
    )
    marks = {BTC_TRY: D("110"), ETH_TRY: D("40")}
    assert portfolio.cash == D("9648")
    assert portfolio_exposure(portfolio, marks) == D("220") + D("120")
    assert portfolio_equity(portfolio, marks) == D("9648") + D("340")
    assert portfolio_unrealized_pnl(portfolio, marks) == (D("220") - D("202")) + (
        D("120") - D("150")
    )


def test_a_held_symbol_without_a_mark_raises_a_key_error_naming_it() -> None:
    portfolio = portfolio_apply_fill(opened(), make_fill(Side.BUY, "100", "1"))
    with pytest.raises(KeyError) as caught:
        portfolio_equity(portfolio, {ETH_TRY: D("1")})
    assert isinstance(caught.value, MissingMarkError)
    assert caught.value.symbol == BTC_TRY
    assert "BTC_TRY" in str(caught.value)


def test_a_flat_position_needs_no_mark() -> None:
    portfolio = portfolio_apply_fill(opened(), make_fill(Side.BUY, "100", "1"))
    portfolio = portfolio_apply_fill(portfolio, make_fill(Side.SELL, "90", "1", trade_id="t2"))
    assert portfolio_equity(portfolio, {}) == D("9990")
    assert portfolio_unrealized_pnl(portfolio, {}) == 0
