"""The exit-band scan answers as a brute-force look at every close would."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replay.domain.band_scan import BLOCK, BandBlocks, BandScan

closes = st.lists(st.floats(min_value=1, max_value=200, allow_nan=False), max_size=5 * BLOCK)


@given(closes, st.floats(1, 200), st.floats(1, 200), st.integers(0, 5 * BLOCK))
def test_find_and_index_agree_with_every_close(values, take, dust, start) -> None:
    close = array("d", values)
    scan = BandScan(BandBlocks(close), take, dust)
    acting = [1 if c >= take or c <= dust else 0 for c in values]

    assert [scan[i] for i in range(len(values))] == acting
    expected = next((i for i in range(start, len(values)) if acting[i]), -1)
    assert scan.find(1, start) == expected


def test_only_acting_bars_are_searched_for() -> None:
    scan = BandScan(BandBlocks(array("d", [1.0, 2.0])), 5.0, 0.5)

    with pytest.raises(ValueError, match="acting bars only"):
        scan.find(0, 0)
