from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ledger.domain import drawdown as drawdown_module
from ledger.domain.drawdown import DrawdownState, TradingDayClock, drawdown_update, trading_day

D = Decimal
ISTANBUL = ZoneInfo("Europe/Istanbul")


def ms(text: str) -> int:
    """Epoch milliseconds of an ISO UTC timestamp."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


def run(equities: list[str]) -> DrawdownState:
    state = None
    for equity in equities:
        state = drawdown_update(state, D(equity))
    assert state is not None
    return state


@pytest.mark.parametrize(
    ("equities", "peak", "drawdown", "max_drawdown"),
    [
        (["1000"], "1000", "0", "0"),
        (["1000", "900"], "1000", "10", "10"),
        (["1000", "900", "1100"], "1100", "0", "10"),
        (["1000", "800", "1200", "1140"], "1200", "5", "20"),
        (["1000", "1000", "500", "750"], "1000", "25", "50"),
        (["1000", "-50"], "1000", "100", "100"),
        (["0", "0"], "0", "0", "0"),
        (["-10", "-20"], "-10", "0", "0"),
    ],
)
def test_drawdown_is_measured_from_the_running_peak_in_percent(
    equities: list[str], peak: str, drawdown: str, max_drawdown: str
) -> None:
    state = run(equities)
    assert state == DrawdownState(D(peak), D(drawdown), D(max_drawdown))


def test_the_first_point_starts_the_curve_with_no_drawdown() -> None:
    assert drawdown_update(None, D("123.45")) == DrawdownState(D("123.45"), D(0), D(0))


@pytest.mark.parametrize(
    ("utc", "day"),
    [
        ("2024-03-10T20:59:59.999", "2024-03-10"),
        ("2024-03-10T21:00:00.000", "2024-03-11"),
        ("2024-12-31T21:00:00.000", "2025-01-01"),
        ("2024-07-01T00:00:00.000", "2024-07-01"),
        # Turkey kept DST until 2016: winter midnight was 22:00 UTC
        ("2015-01-15T21:30:00.000", "2015-01-15"),
        ("2015-01-15T22:00:00.000", "2015-01-16"),
    ],
)
def test_the_istanbul_trading_day_starts_at_local_midnight(utc: str, day: str) -> None:
    assert trading_day(ms(utc), ISTANBUL) == dt.date.fromisoformat(day)
    assert TradingDayClock(ISTANBUL).day_of(ms(utc)) == dt.date.fromisoformat(day)


@pytest.mark.parametrize(
    "zone", ["Europe/Istanbul", "UTC", "Europe/London", "America/Havana", "Australia/Lord_Howe"]
)
def test_the_clock_agrees_with_trading_day_every_17_minutes_across_a_year(zone: str) -> None:
    tz = ZoneInfo(zone)
    clock = TradingDayClock(tz)
    start, step = ms("2023-01-01T00:00:00"), 17 * 60_000
    for ts in range(start, start + 366 * 86_400_000, step):
        assert clock.day_of(ts) == trading_day(ts, tz), dt.datetime.fromtimestamp(ts / 1000, tz)


def test_the_clock_computes_the_time_zone_once_per_day(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = drawdown_module.trading_day

    def counting(ts_ms: int, tz: ZoneInfo) -> dt.date:
        calls.append(ts_ms)
        return real(ts_ms, tz)

    monkeypatch.setattr(drawdown_module, "trading_day", counting)
    clock = TradingDayClock(ISTANBUL)
    start = ms("2024-03-10T21:00:00")
    days = {clock.day_of(start + minute * 60_000) for minute in range(3 * 24 * 60)}
    assert len(days) == 3
    assert len(calls) == 3


def test_the_clock_handles_time_going_backwards() -> None:
    clock = TradingDayClock(ISTANBUL)
    assert clock.day_of(ms("2024-03-11T10:00:00")) == dt.date(2024, 3, 11)
    assert clock.day_of(ms("2024-03-10T10:00:00")) == dt.date(2024, 3, 10)
    assert clock.day_of(ms("2024-03-11T20:59:59.999")) == dt.date(2024, 3, 11)


# --- drawdown_fold (drawdown_update is one point of it) is the formula, point by point ---

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ledger.domain.drawdown import drawdown_fold  # noqa: E402


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    start=st.booleans(),
    values=st.lists(
        st.one_of(
            st.integers(min_value=-5_000, max_value=200_000).map(lambda v: Decimal(v) / 7),
            # equal values with different digits (12, 12.0, 12.00...): not the same text
            st.tuples(st.integers(-2, 12), st.integers(0, 3)).map(
                lambda v: Decimal(v[0] * 10 ** v[1]).scaleb(-v[1])
            ),
        ),
        max_size=40,
    ),
)
def test_folding_equities_equals_updating_one_by_one(start, values):
    _assert_fold_equals_updates(drawdown_update(None, Decimal(10)) if start else None, values)


def test_a_fold_keeps_the_first_peak_object_when_equity_comes_back_to_it():
    # 12.0 and 12.00 are equal; the peak keeps the digits of the first (as drawdown_update)
    _assert_fold_equals_updates(None, [Decimal("12.0"), Decimal("6"), Decimal("12.00")])
    _, final = drawdown_fold(None, [Decimal("12.0"), Decimal("6"), Decimal("12.00")])
    assert str(final.peak) == "12.0"


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    peak=st.sampled_from([Decimal("10"), Decimal("10.00"), Decimal("1234.5678")]),
    worst=st.sampled_from([Decimal(0), Decimal("12.5"), Decimal("50.0")]),
    values=st.lists(
        st.one_of(
            # below the peak, equal drawdowns with other digits (5, 5.0, 5.00) included
            st.integers(min_value=0, max_value=9_999).map(lambda v: Decimal(v) / 1000),
            st.tuples(st.integers(1, 9), st.integers(0, 3)).map(
                lambda v: Decimal(v[0] * 10 ** v[1]).scaleb(-v[1])
            ),
            st.just(Decimal("-3")),  # below zero: past 100 %, clamped
        ),
        min_size=6,
        max_size=40,
    ),
)
def test_a_long_stretch_below_the_peak_folds_as_point_by_point(peak, worst, values):
    # a quiet held stretch of a losing run: every point below the peak
    state = DrawdownState(peak, Decimal(0), worst)
    _assert_fold_equals_updates(state, values)
    _assert_fold_equals_updates(state, [*values, peak])  # back at the peak: the loop
    _assert_fold_equals_updates(state, [*values, peak * 2])  # a new high: the loop


def test_equal_deepest_drawdowns_keep_the_first_digits():
    # 5 and 5.000 below a peak of 10.0 give 50.0 and 50.00: equal, not the same text
    equities = [Decimal("9"), Decimal("5"), Decimal("5.000"), Decimal("8"), *[Decimal("6")] * 5]
    start = DrawdownState(Decimal("10.0"), Decimal(0), Decimal(0))
    folded, final = drawdown_fold(start, equities)
    assert folded[1] == folded[2] and str(folded[1]) != str(folded[2])
    assert str(final.max_drawdown_pct) == str(folded[1]) and final.drawdown_pct == 40
    _assert_fold_equals_updates(start, equities)


def _reference_update(state, equity):
    """The documented formula, step by step: the running peak (a new high replaces it, an
    equal value does not), ``min((peak - equity) / peak * 100, 100)`` below a positive peak."""
    if state is None:
        return DrawdownState(equity, Decimal(0), Decimal(0))
    if equity == state.peak and not state.drawdown_pct:
        return state
    peak = equity if equity > state.peak else state.peak
    if peak <= 0 or equity >= peak:
        drawdown = Decimal(0)
    else:
        drawdown = min((peak - equity) / peak * 100, Decimal(100))
    return DrawdownState(peak, drawdown, max(state.max_drawdown_pct, drawdown))


def _assert_fold_equals_updates(state, equities):
    folded, final = drawdown_fold(state, equities)
    expected_state, expected = state, []
    for equity in equities:
        assert drawdown_update(expected_state, equity) == _reference_update(expected_state, equity)
        expected_state = _reference_update(expected_state, equity)
        expected.append(expected_state.drawdown_pct)
    assert folded == expected
    assert final == expected_state
    assert [str(x) for x in folded] == [str(x) for x in expected]  # same digits, not just value
    assert [str(x) for x in final or ()] == [str(x) for x in expected_state or ()]


# --- days_of is day_of over ascending times, DST days included --------------------------------


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(["Europe/Istanbul", "America/Santiago", "Europe/London", "UTC"]),
    start=st.integers(min_value=1_680_000_000_000, max_value=1_760_000_000_000),
    steps=st.lists(st.integers(min_value=1, max_value=9 * 3_600_000), max_size=60),
)
def test_days_of_ascending_times_are_each_times_day(zone, start, steps):
    # America/Santiago leaves DST at local midnight, back to 23:00 of the day before
    times = [start]
    for step in steps:
        times.append(times[-1] + step)
    expected = [trading_day(t, ZoneInfo(zone)) for t in times]

    assert TradingDayClock(ZoneInfo(zone)).days_of(times) == expected


def test_days_of_times_around_santiagos_switch_at_midnight():
    # 2024-04-06 24:00 -03 becomes 23:00 -04: the 6th lasts 25 hours, until 04:00 UTC
    tz = ZoneInfo("America/Santiago")
    switch = ms("2024-04-07T03:00:00")
    times = list(range(switch - 2 * 3_600_000, switch + 3 * 3_600_000, 600_000))

    days = TradingDayClock(tz).days_of(times)

    assert days == [trading_day(t, tz) for t in times]
    assert days.count(dt.date(2024, 4, 6)) == 18  # 01:00 to 03:50 UTC, every 10 minutes
