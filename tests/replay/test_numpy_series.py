"""The NumPy ``now_ms`` encoder gives the standard-library one's bytes."""

from __future__ import annotations

from array import array
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replay.domain.series import little_endian_deltas, series_encode, series_times
from replay.numpy_series import little_endian_deltas as numpy_deltas

EPOCH_MS = st.integers(min_value=-(2**61), max_value=2**61)


@given(st.lists(EPOCH_MS, max_size=300))
def test_the_numpy_deltas_are_the_standard_library_bytes(times: list[int]) -> None:
    expected = little_endian_deltas(times)
    assert numpy_deltas(times) == expected
    assert numpy_deltas(array("q", times)) == expected  # read in place


def test_a_series_encoded_with_numpy_deltas_decodes_to_its_times() -> None:
    times = [1_700_000_000_000 + 60_000 * k for k in range(1000)] + [1_800_000_000_000]
    values = [Decimal(k) for k in range(len(times))]
    modes = ["NORMAL"] * len(times)
    standard = series_encode(array("q", times), values, values, values, modes)
    fast = series_encode(array("q", times), values, values, values, modes, time_deltas=numpy_deltas)
    assert fast == standard
    assert series_times(fast.now_ms, fast.points) == times


def test_a_time_past_int64_is_an_overflow_error_in_both() -> None:
    with pytest.raises(OverflowError):
        little_endian_deltas([0, 2**63])
    with pytest.raises(OverflowError):
        numpy_deltas([0, 2**63])
