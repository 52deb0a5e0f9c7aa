"""Float columns no hot loop reads are computed on access, and equal the eager ones."""

from __future__ import annotations

from array import array
from itertools import repeat
from operator import truediv
from pathlib import Path

from replay.domain.dataset import ScaledFloats, load_dataset

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "usdt-5m"


def test_lazy_columns_equal_the_eager_division_everywhere() -> None:
    dataset = load_dataset(SAMPLE)
    for series in dataset.series.values():
        for name, ints, scale in (
            ("open", series.open_i, series.price_scale),
            ("high", series.high_i, series.price_scale),
            ("low", series.low_i, series.price_scale),
            ("volume", series.volume_i, series.volume_scale),
        ):
            lazy = getattr(series, name)
            eager = array("d", map(truediv, ints, repeat(10**scale)))
            assert isinstance(lazy, ScaledFloats), name
            assert len(lazy) == len(eager) and lazy == eager, name
            assert list(lazy) == list(eager)
            assert (lazy[0], lazy[-1], lazy[10:20]) == (eager[0], eager[-1], list(eager[10:20]))
        window = series.window(50)
        assert window.high[49] == series.high_i[49] / 10**series.price_scale


def test_a_lazy_column_is_not_equal_to_a_different_one() -> None:
    column = ScaledFloats(array("q", [105, 110]), 1)

    assert column == [10.5, 11.0]
    assert column != [10.5, 11.5] and column != [10.5]
