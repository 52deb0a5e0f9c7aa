"""Backtest metrics: round trips from fills, win rate and the annualised Sharpe ratio.

Round-trip numbers: BTC_TRY, fees in TRY. Buy 10 at 100 (fee 10) and sell 10 at 110 (fee 11)
realizes 1,100 - 11 - (1,000 + 10) = 79.
"""

from __future__ import annotations

import itertools
import math
import statistics
from array import array
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.fills import Fill
from replay.domain.metrics import YEAR_MS, RoundTrip, round_trips, sharpe_ratio, win_rate
from replay.numpy_signals import NUMPY_SIGNALS
from trading.domain.orders import Side
from trading.domain.symbols import Symbol

D = Decimal
BTC, ETH = Symbol("BTC", "TRY"), Symbol("ETH", "TRY")
FIVE_MIN = 300_000
_ids = itertools.count(1)


def fill(side: Side, quantity: str, price: str, fee: str, ts: int, symbol: Symbol = BTC) -> Fill:
    n = next(_ids)
    return Fill(f"t{n}", f"c{n}", symbol, side, D(price), D(quantity), D(fee), "TRY", ts)


def trip(
    symbol: Symbol, opened: int, closed: int, qty: str, entry: str, exit_: str, pnl: str, fees: str
) -> RoundTrip:
    return RoundTrip(symbol, opened, closed, D(qty), D(entry), D(exit_), D(pnl), D(fees))


# --- round trips -------------------------------------------------------------------------------


def test_a_buy_then_a_sell_is_one_round_trip_with_pnl_after_fees() -> None:
    fills = [fill(Side.BUY, "10", "100", "10", 1), fill(Side.SELL, "10", "110", "11", 2)]

    assert round_trips(fills, "TRY") == [trip(BTC, 1, 2, "10", "100", "110", "79", "21")]


def test_scaling_in_and_out_is_one_round_trip_at_average_prices() -> None:
    # cost 500 + 600 + fees 2.2 = 1,102.2; proceeds 4 x 130 + 6 x 100 - fees 2.24 = 1,117.76
    fills = [
        fill(Side.BUY, "5", "100", "1", 1),
        fill(Side.BUY, "5", "120", "1.2", 2),
        fill(Side.SELL, "4", "130", "1.04", 3),
        fill(Side.SELL, "6", "100", "1.2", 4),
    ]

    (only,) = round_trips(fills, "TRY")

    assert only == trip(BTC, 1, 4, "10", "110", "112", "15.56", "4.44")


def test_a_position_still_open_at_the_end_is_not_a_round_trip() -> None:
    fills = [
        fill(Side.BUY, "10", "100", "0", 1),
        fill(Side.SELL, "10", "90", "0", 2),
        fill(Side.BUY, "3", "95", "0", 3),
        fill(Side.SELL, "1", "99", "0", 4),
    ]

    assert [t.pnl for t in round_trips(fills, "TRY")] == [D("-100")]


def test_round_trips_are_tracked_per_symbol_when_fills_interleave() -> None:
    fills = [
        fill(Side.BUY, "1", "100", "0", 1, BTC),
        fill(Side.BUY, "2", "10", "0", 2, ETH),
        fill(Side.SELL, "1", "105", "0", 3, BTC),
        fill(Side.SELL, "2", "9", "0", 4, ETH),
    ]

    assert [(t.symbol, t.opened_ms, t.closed_ms, t.pnl) for t in round_trips(fills, "TRY")] == [
        (BTC, 1, 3, D("5")),
        (ETH, 2, 4, D("-2")),
    ]


def test_consecutive_round_trips_each_count_only_their_own_pnl() -> None:
    fills = [
        fill(Side.BUY, "1", "100", "0", 1),
        fill(Side.SELL, "1", "150", "0", 2),
        fill(Side.BUY, "1", "100", "0", 3),
        fill(Side.SELL, "1", "80", "0", 4),
    ]

    assert [(t.opened_ms, t.pnl) for t in round_trips(fills, "TRY")] == [
        (1, D("50")),
        (3, D("-20")),
    ]


@settings(max_examples=100, derandomize=True, deadline=None)
@given(
    legs=st.lists(
        st.tuples(
            st.integers(1, 50),  # quantity bought
            st.integers(50, 150),  # buy price
            st.integers(50, 150),  # sell price
            st.integers(1, 3),  # sold in this many slices
        ),
        min_size=1,
        max_size=6,
    )
)
def test_round_trip_pnl_sums_to_proceeds_minus_cost_and_fees(
    legs: list[tuple[int, int, int, int]],
) -> None:
    fills: list[Fill] = []
    expected = D(0)
    ts = 0
    for qty, buy_price, sell_price, slices in legs:
        fee_buy = D(qty * buy_price) / 1000
        fills.append(fill(Side.BUY, str(qty), str(buy_price), str(fee_buy), ts := ts + 1))
        sold = 0
        for k in range(slices):
            part = qty - sold if k == slices - 1 else qty // slices
            if part <= 0:
                continue
            sold += part
            fee = D(part * sell_price) / 1000
            fills.append(fill(Side.SELL, str(part), str(sell_price), str(fee), ts := ts + 1))
            expected -= fee
        expected += D(qty * (sell_price - buy_price)) - fee_buy

    trips = round_trips(fills, "TRY")

    assert len(trips) == len(legs)
    assert sum((t.pnl for t in trips), D(0)) == expected
    assert sum((t.fees for t in trips), D(0)) == sum((f.fee for f in fills), D(0))


# --- win rate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pnls", "rate"),
    [
        ([], None),
        (["1"], 1.0),
        (["-1"], 0.0),
        (["0"], 0.0),  # break-even is not a win
        (["5", "-3"], 0.5),
        (["5", "2", "-3", "0"], 0.5),
        (["0.01", "0.01", "-9"], 2 / 3),
    ],
)
def test_win_rate_is_the_share_of_round_trips_with_positive_pnl(
    pnls: list[str], rate: float | None
) -> None:
    trips = [trip(BTC, 0, 1, "1", "1", "1", p, "0") for p in pnls]

    assert win_rate(trips) == rate


# --- Sharpe ------------------------------------------------------------------------------------


def test_sharpe_is_the_annualised_mean_over_stdev_of_cycle_returns() -> None:
    equity = [D("100"), D("110"), D("99"), D("108.9"), D("108.9")]
    returns = [0.1, -0.1, 0.1, 0.0]
    expected = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(YEAR_MS / FIVE_MIN)

    assert sharpe_ratio(equity, FIVE_MIN) == pytest.approx(expected, rel=1e-12)
    assert math.isclose(YEAR_MS / FIVE_MIN, 105_192)


@pytest.mark.parametrize(
    "equity",
    [
        [],
        [D(100)],
        [D(100), D(101)],  # one return: no spread to measure
        [D(100), D(100), D(100)],  # zero variance
        [D(100), D(200), D(400)],  # constant growth: zero variance too
    ],
)
def test_sharpe_is_undefined_without_two_varying_returns(equity: list[Decimal]) -> None:
    assert sharpe_ratio(equity, FIVE_MIN) is None


def test_sharpe_has_the_sign_of_the_drift() -> None:
    up = [D(100), D(102), D(101), D(104), D(103), D(106)]
    down = [D(100), D(98), D(99), D(96), D(97), D(94)]

    assert sharpe_ratio(up, FIVE_MIN) > 0
    assert sharpe_ratio(down, FIVE_MIN) < 0


def test_sharpe_does_not_depend_on_the_size_of_the_account() -> None:
    curve = [D(100), D(102), D(101), D(104), D(103), D(106)]

    small = sharpe_ratio(curve, FIVE_MIN)
    large = sharpe_ratio([e * 1000 for e in curve], FIVE_MIN)

    assert large == pytest.approx(small, rel=1e-9)


def test_sharpe_annualises_by_the_bar_interval() -> None:
    curve = [D(100), D(102), D(101), D(104), D(103), D(106)]

    five = sharpe_ratio(curve, FIVE_MIN)
    hourly = sharpe_ratio(curve, 12 * FIVE_MIN)

    assert five == pytest.approx(hourly * math.sqrt(12), rel=1e-12)


def test_sharpe_is_the_same_with_numpy_kernels_and_skips_returns_after_a_non_positive_equity():
    curve = [D(100), D(102), D(101), D(104), D(103), D(106), D(99), D(107)]
    floats = array("d", map(float, curve))

    assert sharpe_ratio(floats, FIVE_MIN, NUMPY_SIGNALS) == sharpe_ratio(curve, FIVE_MIN)
    # after a zero equity there is no return; the others count as before
    broken = [D(100), D(0), D(102), D(101), D(104)]
    returns = [0.0 / 100 - 1.0, 101 / 102 - 1.0, 104 / 101 - 1.0]
    expected = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(YEAR_MS / FIVE_MIN)
    assert sharpe_ratio(broken, FIVE_MIN) == pytest.approx(expected, rel=1e-12)
    assert sharpe_ratio(array("d", map(float, broken)), FIVE_MIN, NUMPY_SIGNALS) == (
        sharpe_ratio(broken, FIVE_MIN)
    )
