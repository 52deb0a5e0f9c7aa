"""Risk: modes from the kill switch, unknown orders, stale data, drawdown and daily loss, with
hysteresis and a re-based risk peak; the per-order rules and their reason codes; limits from
settings with validated overrides.

Numbers: equity 1,000 quote; reduce at 10 % drawdown, observe at 20 %, daily loss 5 %.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Context, Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.drawdown import trading_day
from meva.errors import ApplicationError
from trading.domain.orders import Side
from trading.domain.risk import (
    CycleRiskContext,
    Denial,
    Mode,
    ModeInputs,
    OrderCheck,
    RiskLimits,
    RiskState,
    order_risk_check,
    risk_mode_decide,
)
from trading.domain.symbols import Symbol
from trading.services.risk import risk_limits_from_settings, risk_limits_override

D = Decimal
BTC_TRY = Symbol("BTC", "TRY")
ETH_TRY = Symbol("ETH", "TRY")
DAY = dt.date(2024, 1, 10)
NEXT_DAY = dt.date(2024, 1, 11)
HOUR = 3_600_000
ISTANBUL = ZoneInfo("Europe/Istanbul")
LIMITS = RiskLimits(
    reduce_drawdown_pct=D("0.10"),
    observe_drawdown_pct=D("0.20"),
    daily_loss_pct=D("0.05"),
    mode_cooldown_ms=HOUR,
    drawdown_window_ms=7 * 24 * HOUR,
)
T0 = 1_704_880_800_000  # 2024-01-10T10:00:00Z


def decide(
    state: RiskState,
    equity: str,
    *,
    now: int = T0,
    day: dt.date = DAY,
    limits: RiskLimits = LIMITS,
    **flags: object,
) -> RiskState:
    return risk_mode_decide(
        state, ModeInputs(now_ms=now, equity=D(equity), day=day, **flags), limits
    )


def settled(equity: str = "1000", *, peak: str = "1000", day_start: str | None = None) -> RiskState:
    """A NORMAL state, long past any cooldown, with a fresh risk peak and today's start equity."""
    return RiskState(
        mode=Mode.NORMAL,
        mode_since_ms=T0 - 10 * HOUR,
        day=DAY,
        day_start_equity=D(day_start or equity),
        risk_peak=D(peak),
        risk_peak_ms=T0 - HOUR,
    )


# --- modes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        ({"kill_switch": True}, "KILL_SWITCH"),
        ({"unknown_orders": 1}, "UNKNOWN_ORDERS"),
        ({"all_data_stale": True}, "STALE_DATA"),
    ],
)
def test_it_observes_only_on_a_kill_switch_unknown_orders_or_stale_data(
    flags: dict[str, object], reason: str
) -> None:
    state = decide(settled(), "1000", **flags)

    assert state.mode is Mode.OBSERVE_ONLY
    assert reason in state.mode_reasons
    assert state.mode_since_ms == T0


def test_stop_entries_reduces_risk_only_even_from_a_settled_normal_state() -> None:
    # settled() takes the NORMAL fast path when no flag is set: the switch must not be skipped
    state = decide(settled(), "1000", stop_entries=True)

    assert (state.mode, state.mode_reasons, state.mode_since_ms) == (
        Mode.REDUCE_RISK_ONLY,
        ("STOP_ENTRIES",),
        T0,
    )


@pytest.mark.parametrize(
    ("equity", "mode", "reasons"),
    [
        ("850", Mode.REDUCE_RISK_ONLY, ("STOP_ENTRIES", "DRAWDOWN")),
        ("800", Mode.OBSERVE_ONLY, ("DRAWDOWN", "STOP_ENTRIES")),
    ],
)
def test_stop_entries_is_listed_with_the_other_reasons(
    equity: str, mode: Mode, reasons: tuple[str, ...]
) -> None:
    state = decide(settled(equity, peak="1000", day_start="800"), equity, stop_entries=True)

    assert (state.mode, state.mode_reasons) == (mode, reasons)


def test_lifting_stop_entries_steps_down_through_the_cooldown() -> None:
    stopped = decide(settled(), "1000", stop_entries=True)

    held = decide(stopped, "1000", now=T0 + HOUR - 1)
    back = decide(held, "1000", now=T0 + HOUR)

    assert held.mode is Mode.REDUCE_RISK_ONLY
    assert held.mode_reasons == ("COOLDOWN_REDUCE_RISK_ONLY",)
    assert back.mode is Mode.NORMAL


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    equities=st.lists(st.integers(min_value=60_000, max_value=140_000), min_size=1, max_size=20),
)
def test_with_stop_entries_the_mode_is_never_normal(equities: list[int]) -> None:
    state = RiskState()
    now = T0
    for equity in equities:
        now += 60_000
        state = risk_mode_decide(state, ModeInputs(now, D(equity), DAY), LIMITS)
        stopped = risk_mode_decide(
            state, ModeInputs(now + 1, D(equity), DAY, stop_entries=True), LIMITS
        )
        assert stopped.mode is not Mode.NORMAL
        assert "STOP_ENTRIES" in stopped.mode_reasons


def test_it_stays_normal_when_nothing_is_wrong() -> None:
    state = decide(settled(), "1000")

    assert state.mode is Mode.NORMAL
    assert state.mode_reasons == ()


def test_it_lists_every_reason_not_just_the_first() -> None:
    state = decide(settled(), "1000", kill_switch=True, unknown_orders=2, all_data_stale=True)

    assert state.mode_reasons == ("KILL_SWITCH", "UNKNOWN_ORDERS", "STALE_DATA")


@pytest.mark.parametrize(
    ("equity", "mode"),
    [
        ("1000", Mode.NORMAL),
        ("900.01", Mode.NORMAL),  # 9.999 % below the peak
        ("900", Mode.REDUCE_RISK_ONLY),  # exactly 10 %
        ("850", Mode.REDUCE_RISK_ONLY),
        ("800.01", Mode.REDUCE_RISK_ONLY),
        ("800", Mode.OBSERVE_ONLY),  # exactly 20 %
        ("500", Mode.OBSERVE_ONLY),
    ],
)
def test_it_degrades_on_drawdown_from_the_risk_peak(equity: str, mode: Mode) -> None:
    # the day started at this equity, so only the drawdown can trip
    state = decide(settled(equity, peak="1000"), equity)

    assert state.mode is mode
    assert ("DRAWDOWN" in state.mode_reasons) is (mode is not Mode.NORMAL)


@pytest.mark.parametrize(
    ("equity", "mode"),
    [("951", Mode.NORMAL), ("950", Mode.OBSERVE_ONLY), ("940", Mode.OBSERVE_ONLY)],
)
def test_it_observes_only_once_todays_loss_reaches_the_daily_limit(equity: str, mode: Mode) -> None:
    state = decide(settled("1000"), equity)

    assert state.mode is mode
    assert ("DAILY_LOSS" in state.mode_reasons) is (mode is Mode.OBSERVE_ONLY)


def test_it_does_not_count_yesterdays_loss_today() -> None:
    limits = replace(LIMITS, mode_cooldown_ms=0)
    yesterday = decide(settled("1000"), "940", limits=limits)
    assert yesterday.mode is Mode.OBSERVE_ONLY

    today = decide(yesterday, "940", now=T0 + 24 * HOUR, day=NEXT_DAY, limits=limits)

    assert today.mode is Mode.NORMAL
    assert today.day == NEXT_DAY
    assert today.day_start_equity == D("940")


def test_it_measures_daily_loss_per_day_not_on_cumulative_pnl() -> None:
    # -3 % on each of two days is -5.9 % cumulative, but never 5 % within one day
    day_one = decide(settled("1000"), "970")
    day_two_open = decide(day_one, "970", now=T0 + 24 * HOUR, day=NEXT_DAY)
    day_two_close = decide(day_two_open, "941", now=T0 + 30 * HOUR, day=NEXT_DAY)

    assert [s.mode for s in (day_one, day_two_open, day_two_close)] == [Mode.NORMAL] * 3
    assert "DAILY_LOSS" not in day_two_close.mode_reasons


def test_the_trading_day_turns_at_istanbul_midnight_not_utc_midnight() -> None:
    before = int(dt.datetime(2024, 1, 10, 20, 59, tzinfo=dt.UTC).timestamp() * 1000)
    after = int(dt.datetime(2024, 1, 10, 21, 1, tzinfo=dt.UTC).timestamp() * 1000)
    limits = replace(LIMITS, mode_cooldown_ms=0)
    first = decide(RiskState(), "1000", now=before, day=trading_day(before, ISTANBUL))
    lost = decide(first, "940", now=before + 30_000, day=trading_day(before + 30_000, ISTANBUL))
    assert lost.mode is Mode.OBSERVE_ONLY

    new_day = decide(lost, "940", now=after, day=trading_day(after, ISTANBUL), limits=limits)

    assert trading_day(after, ISTANBUL) == dt.date(2024, 1, 11)
    assert new_day.mode is Mode.NORMAL
    assert new_day.day_start_equity == D("940")


# --- hysteresis ------------------------------------------------------------------------------


def test_it_holds_a_degraded_mode_for_the_mode_cooldown_before_stepping_down() -> None:
    degraded = decide(settled("850", peak="1000"), "850")
    assert degraded.mode is Mode.REDUCE_RISK_ONLY
    # equity recovers to the peak at once; the mode must not flap back
    held = decide(degraded, "1000", now=T0 + HOUR - 1)
    released = decide(held, "1000", now=T0 + HOUR)

    assert held.mode is Mode.REDUCE_RISK_ONLY
    assert "COOLDOWN_REDUCE_RISK_ONLY" in held.mode_reasons
    assert held.mode_since_ms == T0
    assert released.mode is Mode.NORMAL
    assert released.mode_since_ms == T0 + HOUR
    assert released.mode_reasons == ()


def test_it_escalates_at_once_even_while_a_mode_is_cooling_down() -> None:
    degraded = decide(settled("850", peak="1000"), "850")

    worse = decide(degraded, "850", now=T0 + 1, kill_switch=True)

    assert worse.mode is Mode.OBSERVE_ONLY
    assert worse.mode_since_ms == T0 + 1


def test_it_steps_down_from_observe_only_through_the_cooldown_too() -> None:
    halted = decide(settled(), "1000", kill_switch=True)

    still = decide(halted, "1000", now=T0 + HOUR // 2)
    back = decide(still, "1000", now=T0 + HOUR)

    assert still.mode is Mode.OBSERVE_ONLY
    assert "COOLDOWN_OBSERVE_ONLY" in still.mode_reasons
    assert back.mode is Mode.NORMAL


# --- risk peak ------------------------------------------------------------------------------


def test_it_raises_the_risk_peak_with_new_equity_highs() -> None:
    state = decide(settled(), "1100", now=T0 + 5)

    assert state.risk_peak == D("1100")
    assert state.risk_peak_ms == T0 + 5


def test_it_re_bases_the_risk_peak_once_it_is_older_than_the_drawdown_window() -> None:
    window = LIMITS.drawdown_window_ms
    start = RiskState(day=DAY, day_start_equity=D("850"), risk_peak=D("1000"), risk_peak_ms=T0)
    limits = replace(LIMITS, mode_cooldown_ms=0)

    inside = decide(start, "850", now=T0 + window, limits=limits)
    expired = decide(start, "850", now=T0 + window + 1, limits=limits)

    assert inside.risk_peak == D("1000")
    assert inside.mode is Mode.REDUCE_RISK_ONLY
    assert expired.risk_peak == D("850")
    assert expired.risk_peak_ms == T0 + window + 1
    assert expired.mode is Mode.NORMAL


def test_it_starts_the_day_and_the_peak_from_a_blank_state() -> None:
    state = decide(RiskState(), "1000")

    assert (state.day, state.day_start_equity, state.risk_peak) == (DAY, D("1000"), D("1000"))
    assert state.mode is Mode.NORMAL


def test_deciding_the_mode_never_mutates_the_previous_state() -> None:
    before = settled("850", peak="1000")
    snapshot = replace(before)

    decide(before, "700", kill_switch=True)

    assert before == snapshot


# --- per-order rules ------------------------------------------------------------------------

NOW = T0
ORDER_LIMITS = RiskLimits(max_orders_per_cycle=3, cooldown_ms=300_000)


def order(side: Side = Side.BUY, *, reduces: bool = False, symbol: Symbol = BTC_TRY) -> OrderCheck:
    return OrderCheck(symbol, side, D("500"), reduces, "test_strategy")


def ctx(
    *,
    mode: Mode = Mode.NORMAL,
    last: dict[tuple[Symbol, Side], int] | None = None,
    open_sides: frozenset[tuple[Symbol, Side]] = frozenset(),
    accepted: int = 0,
) -> CycleRiskContext:
    return CycleRiskContext(NOW, mode, ORDER_LIMITS, last or {}, open_sides, accepted)


@pytest.mark.parametrize(
    ("mode", "check", "code"),
    [
        (Mode.OBSERVE_ONLY, order(Side.BUY), "MODE_OBSERVE_ONLY"),
        (Mode.OBSERVE_ONLY, order(Side.SELL, reduces=True), "MODE_OBSERVE_ONLY"),
        (Mode.REDUCE_RISK_ONLY, order(Side.BUY), "MODE_REDUCE_RISK_ONLY"),
        (Mode.REDUCE_RISK_ONLY, order(Side.SELL, reduces=False), "MODE_REDUCE_RISK_ONLY"),
        (Mode.REDUCE_RISK_ONLY, order(Side.SELL, reduces=True), None),
        (Mode.NORMAL, order(Side.BUY), None),
        (Mode.NORMAL, order(Side.SELL, reduces=True), None),
    ],
)
def test_the_mode_decides_which_orders_may_be_placed(
    mode: Mode, check: OrderCheck, code: str | None
) -> None:
    denial = order_risk_check(check, ctx(mode=mode))

    assert (denial.code if denial else None) == code


@pytest.mark.parametrize(("accepted", "denied"), [(0, False), (2, False), (3, True), (4, True)])
def test_it_denies_orders_beyond_the_max_orders_per_cycle(accepted: int, denied: bool) -> None:
    denial = order_risk_check(order(), ctx(accepted=accepted))

    assert (denial is not None and denial.code == "MAX_ORDERS_PER_CYCLE") is denied
    assert (denial is None) is not denied


@pytest.mark.parametrize(
    ("open_side", "denied"),
    [
        ((BTC_TRY, Side.BUY), True),
        ((BTC_TRY, Side.SELL), False),
        ((ETH_TRY, Side.BUY), False),
    ],
)
def test_it_denies_an_order_while_one_on_the_same_side_is_open(
    open_side: tuple[Symbol, Side], denied: bool
) -> None:
    denial = order_risk_check(order(Side.BUY), ctx(open_sides=frozenset({open_side})))

    assert (denial.code if denial else None) == ("OPEN_ORDER_EXISTS" if denied else None)


@pytest.mark.parametrize(
    ("last_ms", "side", "reduces", "code"),
    [
        (NOW - 299_999, Side.BUY, False, "COOLDOWN"),
        (NOW - 1, Side.BUY, False, "COOLDOWN"),
        (NOW - 300_000, Side.BUY, False, None),
        (NOW - 1, Side.SELL, True, None),  # exits are exempt
    ],
)
def test_it_enforces_a_cooldown_per_symbol_and_side_except_for_exits(
    last_ms: int, side: Side, reduces: bool, code: str | None
) -> None:
    last = {(BTC_TRY, side): last_ms}

    denial = order_risk_check(order(side, reduces=reduces), ctx(last=last))

    assert (denial.code if denial else None) == code


def test_a_cooldown_on_one_symbol_does_not_block_another() -> None:
    last = {(ETH_TRY, Side.BUY): NOW - 1, (BTC_TRY, Side.SELL): NOW - 1}

    assert order_risk_check(order(Side.BUY), ctx(last=last)) is None


def test_a_denial_names_the_order_it_denies() -> None:
    denial = order_risk_check(order(Side.BUY), ctx(mode=Mode.OBSERVE_ONLY))

    assert denial is not None
    assert denial.as_dict() == {
        "code": "MODE_OBSERVE_ONLY",
        "detail": denial.detail,
        "symbol": "BTC_TRY",
        "side": "buy",
        "strategy": "test_strategy",
    }
    assert denial.detail


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    mode=st.sampled_from(list(Mode)),
    side=st.sampled_from(list(Side)),
    reduces=st.booleans(),
    accepted=st.integers(0, 6),
    open_same=st.booleans(),
    since_last=st.none() | st.integers(0, 600_000),
)
def test_every_rule_outcome_is_either_allowed_or_a_coded_denial(
    mode: Mode,
    side: Side,
    reduces: bool,
    accepted: int,
    open_same: bool,
    since_last: int | None,
) -> None:
    last = {} if since_last is None else {(BTC_TRY, side): NOW - since_last}
    sides = frozenset({(BTC_TRY, side)}) if open_same else frozenset()
    check = order(side, reduces=reduces)

    denial = order_risk_check(check, ctx(mode=mode, last=last, open_sides=sides, accepted=accepted))

    should_deny = (
        mode is Mode.OBSERVE_ONLY
        or (mode is Mode.REDUCE_RISK_ONLY and not reduces)
        or accepted >= ORDER_LIMITS.max_orders_per_cycle
        or open_same
        or (since_last is not None and since_last < ORDER_LIMITS.cooldown_ms and not reduces)
    )
    assert (denial is not None) is should_deny
    if denial is not None:
        assert isinstance(denial, Denial)
        assert denial.code.isupper() and denial.code.replace("_", "").isalpha()
        assert (denial.symbol, denial.side, denial.strategy) == (BTC_TRY, side, "test_strategy")


# --- limits from settings ----------------------------------------------------------------------


def test_limits_from_settings_apply_validated_overrides() -> None:
    limits = risk_limits_from_settings(
        {"max_position_pct": "0.3", "cooldown_ms": 0, "max_order_notional": None}
    )

    assert limits.max_position_pct == D("0.3")
    assert limits.cooldown_ms == 0
    assert limits.max_order_notional is None


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"max_positon_pct": "0.3"}, "max_positon_pct"),
        ({"max_position_pct": "1.5"}, "max_position_pct"),
        ({"cooldown_ms": "soon"}, "cooldown_ms"),
        ({"cooldown_ms": 1.5}, "cooldown_ms"),
        ({"daily_loss_pct": -0.1}, "daily_loss_pct"),
        ({"max_order_pct": True}, "max_order_pct"),
        ({"max_order_pct": None}, "max_order_pct"),
    ],
)
def test_a_bad_override_raises_naming_its_key(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ApplicationError, match=named):
        risk_limits_override(RiskLimits(), overrides)


# --- risk_stable_until: the promise the backtest fast path relies on -----------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from trading.domain.risk import risk_stable_until  # noqa: E402


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    equities=st.lists(st.integers(min_value=80_000, max_value=120_000), min_size=1, max_size=30),
    wait_ms=st.integers(min_value=1, max_value=3 * 86_400_000),
)
def test_a_state_does_not_change_before_it_says_so(equities, wait_ms):
    limits = RiskLimits(drawdown_window_ms=86_400_000, mode_cooldown_ms=3_600_000)
    day = dt.date(2024, 1, 2)
    state = RiskState()
    now = 1_704_153_600_000  # 2024-01-02T00:00Z, i.e. 03:00 in Istanbul
    for equity in equities:
        now += 60_000
        state = risk_mode_decide(state, ModeInputs(now, D(equity), day), limits)
    later = now + wait_ms
    if later < risk_stable_until(state, limits):
        again = risk_mode_decide(state, ModeInputs(later, D(equities[-1]), day), limits)
        assert again is state


# --- risk_mode_fold is exactly risk_mode_decide applied point by point ----------------------

from trading.domain.risk import risk_mode_fold, risk_mode_fold_columns  # noqa: E402


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    warmup=st.lists(st.integers(min_value=90_000, max_value=110_000), min_size=1, max_size=5),
    steps=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=4 * 3_600_000),
            st.integers(min_value=70_000, max_value=130_000),
        ),
        max_size=40,
    ),
)
def test_folding_points_equals_deciding_them_one_by_one(warmup, steps):
    _assert_fold_equals_decisions(warmup, [(gap, D(equity)) for gap, equity in steps])


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    warmup=st.lists(st.sampled_from([100_000, 104_000, 96_000]), min_size=1, max_size=3),
    steps=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=3_600_000),
            # around the thresholds (5 % below a peak of 100,000 or 104,000, 8 % below the
            # day's start) by less than the 28th digit, where rounding decides
            st.sampled_from(["95000", "98800", "92000", "88320", "95680", "100000", "104000"]),
            st.integers(min_value=-3, max_value=3),
            st.integers(min_value=20, max_value=27),
        ),
        max_size=30,
    ),
)
def test_folding_points_near_a_threshold_equals_deciding_them_one_by_one(warmup, steps):
    exact = Context(prec=60)  # equities of up to 33 digits, more than the context's 28
    points = [
        (gap, exact.add(D(base), D(nudge).scaleb(-places))) for gap, base, nudge, places in steps
    ]
    _assert_fold_equals_decisions(warmup, points)


def test_folding_many_digits_equals_deciding_them_one_by_one():
    # 28-digit equities (a third of a round number), gently falling through both thresholds
    equities = [D(300_000 - 200 * k) / 3 for k in range(60)]
    _assert_fold_equals_decisions([100_000], [(60_000, e) for e in equities])


def _assert_fold_equals_decisions(warmup, steps):
    limits = RiskLimits(
        reduce_drawdown_pct=D("0.05"),
        observe_drawdown_pct=D("0.15"),
        daily_loss_pct=D("0.08"),
        drawdown_window_ms=6 * 3_600_000,
        mode_cooldown_ms=3_600_000,
    )
    tz_day = dt.timezone(dt.timedelta(hours=3))
    now = 1_704_153_600_000
    state = RiskState()
    for equity in warmup:
        now += 60_000
        day = dt.datetime.fromtimestamp(now / 1000, tz_day).date()
        state = risk_mode_decide(state, ModeInputs(now, D(equity), day), limits)
    points = []
    for gap, equity in steps:
        now += gap
        points.append((now, equity, dt.datetime.fromtimestamp(now / 1000, tz_day).date()))

    folded, reasons = risk_mode_fold(state, points, limits)
    columns = [list(column) for column in zip(*points, strict=True)] or [[], [], []]
    by_columns, column_reasons = risk_mode_fold_columns(state, *columns, limits)

    expected = state
    expected_reasons = []
    for now_ms, equity, day in points:
        nxt = risk_mode_decide(expected, ModeInputs(now_ms, equity, day), limits)
        if nxt.mode is not state.mode:
            break
        expected = nxt
        expected_reasons.append(nxt.mode_reasons)
    assert folded == expected
    assert reasons == expected_reasons
    assert by_columns == expected
    assert column_reasons == expected_reasons
    # the same peak object, so the same digits
    assert str(folded.risk_peak) == str(by_columns.risk_peak) == str(expected.risk_peak)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    warmup=st.lists(st.sampled_from([100_000, 104_000, 96_000]), min_size=1, max_size=3),
    steps=st.lists(
        st.tuples(
            # one-minute cycles within a day, near and across both thresholds and new highs:
            # where the column fold decides a stretch at once and where it must not
            st.just(60_000),
            st.sampled_from(["95000", "98800", "99999", "100000", "100001", "104000", "110000"]),
            st.integers(min_value=-3, max_value=3),
            st.integers(min_value=0, max_value=27),
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_folding_a_quiet_stretch_by_columns_equals_deciding_it_point_by_point(warmup, steps):
    exact = Context(prec=60)
    points = [
        (gap, exact.add(D(base), D(nudge).scaleb(-places))) for gap, base, nudge, places in steps
    ]
    _assert_fold_equals_decisions(warmup, points)


def test_folding_by_columns_takes_the_first_of_equal_new_highs():
    limits = RiskLimits(reduce_drawdown_pct=D("0.05"), daily_loss_pct=D("0.08"))
    day = dt.date(2024, 1, 2)
    state = risk_mode_decide(RiskState(), ModeInputs(0, D(100), day), limits)
    first, later = D("101.0"), D("101.00")
    state, reasons = risk_mode_fold_columns(
        state, [60_000, 120_000, 180_000], [first, D("100.5"), later], [day] * 3, limits
    )
    assert reasons == [(), (), ()]
    assert state.risk_peak is first and state.risk_peak_ms == 60_000
