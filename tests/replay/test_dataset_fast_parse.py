"""Arrow's column kernels, and the services' (NumPy checks, Arrow parsing), give exactly what
the standard-library ones give.

``parse_table(..., kernels=ARROW_KERNELS)`` tries Arrow's whole-file parse first and falls
back to the row-by-row one for anything irregular; both must agree on every value, scale and
line number, and on every error reported, for any text. The other kernels (candle checks,
spacing, float closes) must agree with :data:`PYTHON_KERNELS` on any column.
"""

from __future__ import annotations

from array import array
from decimal import Decimal
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replay.arrow_columns import ARROW_KERNELS as ARROW
from replay.domain.columns import PYTHON_KERNELS as PYTHON
from replay.domain.dataset_csv import ErrorLog, Table, TooManyErrors, parse_table
from replay.fast_columns import FAST_KERNELS as FAST

GROUPS = (("open", "high", "low", "close"), ("volume",))
T0 = 1_704_067_200_000


def parsed(text: str, *, fast: bool) -> tuple[object, list[str]]:
    errors = ErrorLog()
    try:
        table = parse_table("c.csv", text, GROUPS, errors, kernels=ARROW if fast else PYTHON)
    except TooManyErrors:
        table = None
    return _plain(table), [str(e) for e in errors.items]


def _plain(table: Table | None) -> object:
    if table is None:
        return None
    return (
        list(table.ts),
        {name: list(values) for name, values in table.columns.items()},
        table.scales,
        list(table.lines),
    )


def number(places: int) -> st.SearchStrategy[str]:
    return st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**6), places=places).map(
        lambda d: f"{d:.{places}f}"
    )


@st.composite
def regular_csv(draw) -> str:
    """Well-formed candle files in the shapes exchanges write: fixed decimals per column."""
    rows = draw(st.integers(min_value=1, max_value=12))
    places = [draw(st.integers(min_value=0, max_value=8)) for _ in range(5)]
    step = draw(st.sampled_from([60_000, 300_000]))
    lines = ["ts,open,high,low,close,volume"]
    for i in range(rows):
        o, h, lo, c, v = (draw(number(p)) for p in places)
        if draw(st.booleans()):  # writers that drop trailing zeros (and a bare dot)
            o, h, lo, c, v = (
                x.rstrip("0").rstrip(".") if "." in x else x for x in (o, h, lo, c, v)
            )
        lines.append(f"{T0 + i * step},{o},{h},{lo},{c},{v}")
    return "\n".join(lines) + "\n"


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(regular_csv())
def test_regular_files_parse_the_same_either_way(text: str) -> None:
    assert parsed(text, fast=True) == parsed(text, fast=False)


CELLS = ["1", "1.0", "1.50", "0.10", "-1.5", "1e3", "", " 2", "1.2.3", "١٢", "99999999999999999999"]


@st.composite
def odd_csv(draw) -> str:
    """Files with the irregularities the fast parse must step aside for."""
    header = draw(
        st.sampled_from(["ts,open,high,low,close,volume", "TS,Open,High,Low,Close,Volume,x"])
    )
    width = header.count(",") + 1
    lines = [header]
    for i in range(draw(st.integers(min_value=0, max_value=8))):
        stamp = draw(st.sampled_from([str(T0 + i * 60_000), str(T0), "2024-01-01T00:00:00Z", "x"]))
        cells = [draw(st.sampled_from(CELLS)) for _ in range(width - 1)]
        if draw(st.booleans()):
            cells = cells[: draw(st.integers(0, width - 1))]
        lines.append(",".join([stamp, *cells]))
    end = draw(st.sampled_from(["\n", "\r\n", "", "\n\n"]))
    return end.join(lines) + end


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(odd_csv())
def test_irregular_files_parse_and_report_the_same_either_way(text: str) -> None:
    assert parsed(text, fast=True) == parsed(text, fast=False)


def test_a_regular_file_never_reaches_the_row_by_row_parse() -> None:
    text = "ts,open,high,low,close,volume\n" + "".join(
        f"{T0 + i * 60_000},1.5,2,1.25,1.75,{i}.5\n" for i in range(1000)
    )
    refuse = AssertionError("the row-by-row parse was used")

    with mock.patch("replay.domain.dataset_csv._read_rows", side_effect=refuse):
        table, errors = parsed(text, fast=True)

    assert errors == [] and len(table[0]) == 1000
    assert table[2] == {"open": 2, "high": 2, "low": 2, "close": 2, "volume": 1}


def test_the_fast_parse_keeps_the_smallest_exact_scale() -> None:
    text = (
        "ts,open,high,low,close,volume\n"
        + "\n".join(f"{T0 + i * 60_000},10.500,11.000,10.000,10.250,3.000" for i in range(3))
        + "\n"
    )

    table, errors = parsed(text, fast=True)

    assert errors == []
    ts, columns, scales, lines = table
    assert scales == {"open": 2, "high": 2, "low": 2, "close": 2, "volume": 0}
    assert columns["open"] == [1050] * 3 and columns["volume"] == [3] * 3
    assert lines == [2, 3, 4]


int64s = st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=40)


@given(int64s, st.integers(min_value=0, max_value=18))
def test_float_columns_are_python_true_division(values: list[int], scale: int) -> None:
    column = array("q", values)

    expected = list(PYTHON.floats(column, scale))
    assert list(ARROW.floats(column, scale)) == expected
    assert list(FAST.floats(column, scale)) == expected


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=40))
def test_the_largest_abs_agrees(values: list[int]) -> None:
    column = array("q", values)

    expected = max(map(abs, values), default=0)
    assert PYTHON.largest_abs(column) == expected
    assert ARROW.largest_abs(column) == expected
    assert FAST.largest_abs(column) == expected


@given(st.integers(min_value=0, max_value=10**12), st.integers(-3, 70_000), st.integers(1, 30))
def test_spacing_checks_agree(first: int, step: int, count: int) -> None:
    even = array("q", [first + i * step for i in range(count)])
    uneven = array("q", [*even[:-1], even[-1] + 1])
    inside = array("q", [even[0], *(t + 1 for t in even[1:-1]), even[-1]])  # same ends

    for kernels in (ARROW, FAST):
        for ts in (even, uneven, inside):
            assert kernels.evenly_spaced(ts, step) == PYTHON.evenly_spaced(ts, step)
        assert kernels.evenly_spaced(even, step) == (step > 0)
        assert count == 1 or not kernels.evenly_spaced(uneven, step)  # one value: spaced


prices = st.lists(st.integers(min_value=-5, max_value=50), min_size=5, max_size=5)


@given(st.lists(prices, min_size=1, max_size=20))
def test_candle_suspicion_agrees(rows: list[list[int]]) -> None:
    columns = [array("q", column) for column in zip(*rows, strict=True)]

    expected = PYTHON.candles_suspect(*columns)
    assert ARROW.candles_suspect(*columns) == expected
    assert FAST.candles_suspect(*columns) == expected
