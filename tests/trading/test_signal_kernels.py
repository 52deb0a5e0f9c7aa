"""NumPy signal kernels give the same mask bytes as the standard-library ones.

The backtest services compute masks with ``replay.numpy_signals.NUMPY_SIGNALS``; the domain's
``PYTHON_SIGNALS`` is the definition. Same IEEE operations in the same order, so the bytes
must be equal, on generated series and on the bundled real candles.
"""

from __future__ import annotations

import statistics
from array import array
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replay.domain.dataset import load_dataset
from replay.numpy_signals import NUMPY_SIGNALS
from trading.domain.strategies.registry import build_strategy
from trading.domain.strategies.signals import PYTHON_SIGNALS
from trading.domain.symbols import Symbol

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"

closes = st.lists(
    st.floats(min_value=1e-6, max_value=1e7, allow_nan=False, allow_infinity=False),
    max_size=120,
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(close=closes, fast=st.integers(1, 30), slow=st.integers(1, 60), as_array=st.booleans())
def test_crossings_of_rolling_means_are_the_same_bytes(close, fast, slow, as_array):
    column = array("d", close) if as_array else close
    expected = PYTHON_SIGNALS.crossings(
        PYTHON_SIGNALS.rolling_means(column, fast), PYTHON_SIGNALS.rolling_means(column, slow)
    )
    got = NUMPY_SIGNALS.crossings(
        NUMPY_SIGNALS.rolling_means(column, fast), NUMPY_SIGNALS.rolling_means(column, slow)
    )
    assert got == expected
    assert all(len(mask) == len(close) for mask in got)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    close=closes,
    window=st.integers(1, 40),
    low=st.floats(0.9, 1.0),
    high=st.floats(1.0, 1.1),
)
def test_band_masks_are_the_same_bytes(close, window, low, high):
    column = array("d", close)
    expected = PYTHON_SIGNALS.band_masks(
        column, PYTHON_SIGNALS.rolling_means(column, window), low, high
    )
    got = NUMPY_SIGNALS.band_masks(column, NUMPY_SIGNALS.rolling_means(column, window), low, high)
    assert got == expected


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("sma_cross", {"fast": 5, "slow": 20}),
        ("sma_cross", {"fast": 50, "slow": 200}),
        ("mean_reversion", {}),
        ("mean_reversion", {"window": 12, "entry_bps": 50, "exit_bps": 20}),
        ("profit_take", {}),
    ],
)
def test_strategy_masks_on_real_candles_are_the_same_with_either_kernel(strategy, params):
    series = load_dataset(SAMPLE / "usdt-5m").series[Symbol("BTC", "USDT")]
    built = build_strategy(strategy, params)

    expected = built.signal_bars(series.close, PYTHON_SIGNALS)
    got = built.signal_bars(series.close, NUMPY_SIGNALS)

    assert got == expected
    if strategy == "sma_cross":
        assert any(got.flat) and any(got.holding)  # the real series does cross


equities = st.lists(  # equity-like values: positive ones of sane size, and some not positive
    st.one_of(
        st.floats(min_value=1e-2, max_value=1e9),
        st.sampled_from([0.0, -5.0]),
    ),
    max_size=80,
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(values=equities, as_array=st.booleans())
def test_return_moments_are_the_same_floats(values, as_array):
    column = array("d", values) if as_array else values

    expected = PYTHON_SIGNALS.return_moments(column)

    assert NUMPY_SIGNALS.return_moments(column) == expected
    if expected is not None:  # positive values only, at least two returns
        count, mean, variance = expected
        returns = [b / a - 1.0 for a, b in zip(values, values[1:], strict=False)]
        assert count == len(returns) >= 2
        assert mean == pytest.approx(statistics.fmean(returns), rel=1e-9, abs=1e-12)
        assert variance == pytest.approx(statistics.variance(returns), rel=1e-9, abs=1e-12)
    else:
        assert len(values) < 3 or min(values) <= 0


def test_return_moments_of_a_real_series_are_the_same_floats():
    close = load_dataset(SAMPLE / "usdt-5m").series[Symbol("BTC", "USDT")].close

    expected = PYTHON_SIGNALS.return_moments(close)

    assert expected is not None and expected[0] == len(close) - 1
    assert NUMPY_SIGNALS.return_moments(close) == expected
