"""An equity series over scaled-integer marks equals the Decimal one, digits included."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.portfolio import (
    MissingMarkError,
    Portfolio,
    ScaledMarks,
    portfolio_equity_series,
    portfolio_equity_series_scaled,
)
from ledger.domain.positions import Position
from tests.ledger.factories import BTC_TRY, ETH_TRY
from trading.domain.symbols import Symbol

D = Decimal
SOL_TRY = Symbol("SOL", "TRY")

# coefficient and exponent: 0 to 30 digits (past the 28 of the context), -12 to +2
decimals = st.builds(
    lambda units, exponent: D(units).scaleb(exponent),
    st.integers(min_value=0, max_value=10**30),
    st.integers(min_value=-12, max_value=2),
)
small_decimals = st.builds(
    lambda units, exponent: D(units).scaleb(exponent),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=-10, max_value=0),
)


@settings(derandomize=True, max_examples=400, deadline=None)
@given(
    cash=st.one_of(small_decimals, decimals, st.just(D("-12.50"))),
    quantities=st.lists(st.one_of(small_decimals, decimals), min_size=1, max_size=3),
    marks=st.lists(
        st.tuples(
            st.lists(st.integers(min_value=0, max_value=10**12), min_size=3, max_size=3),
            st.integers(min_value=-10, max_value=0),
        ),
        min_size=3,
        max_size=3,
    ),
    huge=st.booleans(),
    column_max=st.sampled_from([None, 0, 10**12, 10**30]),
)
def test_scaled_marks_give_the_decimal_series_exactly(cash, quantities, marks, huge, column_max):
    symbols = [BTC_TRY, ETH_TRY, SOL_TRY]
    positions = {s: Position(s, quantity=q) for s, q in zip(symbols, quantities, strict=False)}
    portfolio = Portfolio(quote_asset="TRY", cash=cash, positions=positions)
    scaled = {}
    for s, (units, exponent) in zip(symbols, marks, strict=True):
        units = [u * 10**25 if huge else u for u in units]
        # a bound from the whole column (at least these units' own; None: scanned)
        largest = None if column_max is None else max(column_max, *units)
        scaled[s] = ScaledMarks(units, exponent, largest)
    decimal_marks = {s: [D(u).scaleb(m.exponent) for u in m.units] for s, m in scaled.items()}

    expected = portfolio_equity_series(portfolio, decimal_marks, 3)
    got, floats = portfolio_equity_series_scaled(portfolio, scaled, 3)

    assert got == expected
    assert [str(x) for x in got] == [str(x) for x in expected]  # same digits, not just value
    assert floats == [float(x) for x in expected]


def test_a_price_of_many_digits_takes_the_decimal_path_and_still_agrees():
    portfolio = Portfolio(
        quote_asset="TRY", cash=D("100.00"), positions={BTC_TRY: Position(BTC_TRY, D("3"))}
    )
    marks = {BTC_TRY: ScaledMarks([10**28 + 1, 7], -8)}  # 29 digits: Decimal rounds it

    got, _ = portfolio_equity_series_scaled(portfolio, marks, 2)

    assert got == portfolio_equity_series(
        portfolio, {BTC_TRY: [D(10**28 + 1).scaleb(-8), D(7).scaleb(-8)]}, 2
    )
    assert str(got[1]) == "100.00000021"


def test_a_held_symbol_without_scaled_marks_raises_naming_it():
    portfolio = Portfolio(
        quote_asset="TRY", cash=D(1), positions={ETH_TRY: Position(ETH_TRY, D(1))}
    )
    with pytest.raises(MissingMarkError, match="ETH"):
        portfolio_equity_series_scaled(portfolio, {}, 1)


def test_positive_exponents_come_back_to_units_as_the_decimal_sum_does():
    # ZERO + 3E+1 * 5 is 150 (exponent 0), not 1.5E+2; cash 1E+2 then gives 250
    portfolio = Portfolio(
        quote_asset="TRY", cash=D("1E+2"), positions={BTC_TRY: Position(BTC_TRY, D("3E+1"))}
    )

    got, floats = portfolio_equity_series_scaled(portfolio, {BTC_TRY: ScaledMarks([5], 0)}, 1)

    assert [str(x) for x in got] == ["250"]
    assert floats == [250.0]
    assert got == portfolio_equity_series(portfolio, {BTC_TRY: [D(5)]}, 1)
