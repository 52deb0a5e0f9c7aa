"""A run keeps every cycle compactly: full records only for decisions, the rest in columns.

The engine's :class:`~replay.domain.cycle_log.CycleLog` must give back every cycle exactly as
a list of records would; the stored form (rows for :meth:`CycleLog.rows` plus the compressed
series of ``replay.domain.series``) must give back every cycle's time, equity, cash, drawdown,
mode, reasons and decisions; and the downsampled curve must keep the first and last cycle and
the worst drawdown.
"""

from __future__ import annotations

import zlib
from decimal import Decimal as D
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replay.domain.cycle_log import CycleLog, CycleRecord
from replay.domain.dataset import load_dataset
from replay.domain.engine import BacktestConfig
from replay.domain.engine import run_backtest as engine_run
from replay.domain.series import (
    SeriesError,
    curve_indices,
    series_curve,
    series_encode,
    series_modes,
    series_texts,
    series_times,
)
from trading.domain.risk import RiskLimits
from trading.domain.strategies.registry import build_strategy
from trading.exchange.simulated import SimulatedExchange
from trading.services.execution import plan_execute

run_backtest = partial(engine_run, execute=plan_execute, port=SimulatedExchange)
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
TIGHT = RiskLimits(
    reduce_drawdown_pct=D("0.02"),
    observe_drawdown_pct=D("0.04"),
    daily_loss_pct=D("0.01"),
    mode_cooldown_ms=2 * 3_600_000,
    drawdown_window_ms=86_400_000,
    cooldown_ms=0,
)
SIX = D("0.000001")


@pytest.fixture(scope="module")
def result():
    """sma_cross on the bundled 5-minute USDT sample with tight limits (mode changes)."""
    config = BacktestConfig(
        strategy=build_strategy("sma_cross", {"fast": 5, "slow": 20}),
        limits=TIGHT,
        fee_maker_bps=D(10),
        fee_taker_bps=D(10),
        initial_cash=D(100_000),
    )
    return run_backtest(load_dataset(SAMPLE / "usdt-5m"), config)


@pytest.fixture(scope="module")
def records(result) -> list[CycleRecord]:
    return list(result.cycles)


def test_the_log_keeps_full_records_only_for_cycles_that_decided(result, records) -> None:
    log = result.cycles
    decided = [r.seq for r in records if r.decided]

    assert [r.seq for r in records] == list(range(len(log)))
    assert sorted(log.decisions) == decided
    assert 0 < log.decided_count < len(log) // 2  # most cycles are quiet
    assert {r.mode for r in records} == {"NORMAL", "REDUCE_RISK_ONLY", "OBSERVE_ONLY"}


def test_indexing_and_slices_agree_with_iteration(result, records) -> None:
    log = result.cycles

    assert log[0] == records[0] and log[-1] == records[-1]
    assert log[100:110] == records[100:110]
    assert log[-3:] == records[-3:]
    with pytest.raises(IndexError):
        log[len(log)]


def test_stored_rows_and_series_give_back_every_cycle(result, records) -> None:
    """What ``replay.services.backtests`` stores: the rows of ``log.rows()`` and the series."""
    log = result.cycles
    rows = {r.seq: r for r in log.rows()}
    encoded = series_encode(log.now_ms, log.equity, log.cash, log.drawdown_pct, log.modes)
    n = encoded.points
    times = series_times(encoded.now_ms, n)
    equity = series_texts(encoded.equity, n)
    cash = series_texts(encoded.cash, n)
    drawdown = series_texts(encoded.drawdown_pct, n)
    modes = series_modes(encoded.modes, encoded.mode_names, n)

    assert 0 in rows and len(rows) < len(records) // 2
    row = rows[0]
    for k, expected in enumerate(records):
        row = rows.get(k, row)  # a cycle without a row repeats the row before it...
        assert (times[k], D(equity[k]), D(cash[k])) == (
            expected.now_ms,
            expected.equity,
            expected.cash,
        )  # ...except for its time, equity, cash and drawdown (in the series)
        assert D(drawdown[k]) == expected.drawdown_pct.quantize(SIX)
        assert modes[k] == expected.mode == row.mode
        assert expected.mode_reasons == row.mode_reasons
        if k not in rows:
            assert not expected.decided
        else:
            assert rows[k] == expected


def test_every_mode_change_and_every_decision_has_a_row(result, records) -> None:
    seqs = set(result.cycles.row_seqs())
    changes = {
        k
        for k in range(1, len(records))
        if (records[k].mode, records[k].mode_reasons)
        != (records[k - 1].mode, records[k - 1].mode_reasons)
    }

    assert changes and changes <= seqs
    assert {r.seq for r in records if r.decided} <= seqs


def record(seq: int, *, universe=None, fills: int = 0) -> CycleRecord:
    value = D(100 + seq)
    return CycleRecord(
        seq, seq * 60_000, "NORMAL", (), value, value, D(0), universe, (), (), (), (), fills
    )


def test_cycles_must_come_in_order() -> None:
    log = CycleLog()
    log.append(record(0))

    with pytest.raises(ValueError, match="cycle 2 appended after 1 cycles"):
        log.append(record(2))


def test_only_a_quiet_cycle_repeats() -> None:
    log = CycleLog()
    log.append(record(0, universe=()))

    with pytest.raises(ValueError, match="only a quiet cycle"):
        log.repeat_last([60_000])


def test_a_repeat_has_no_fills_and_a_planned_cycle_without_decisions_keeps_its_universe() -> None:
    log = CycleLog()
    log.append(record(0, fills=2))  # quiet, with fills of an order that had just completed
    log.repeat_last([60_000, 120_000])
    log.append(record(3, universe=("BTC_TRY",)))

    assert [c.fills for c in log] == [2, 0, 0, 0]
    assert [c.now_ms for c in log] == [0, 60_000, 120_000, 180_000]
    assert log[2].equity == log[0].equity and log[2].universe is None
    assert log[3].universe == ("BTC_TRY",)
    assert log.row_seqs() == [0, 3]  # first, fills; 3 changed the universe


# --- the series codec -----------------------------------------------------------------------

decimals = st.decimals(min_value=D(-(10**12)), max_value=D(10**12), places=8)
columns = st.integers(min_value=0, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n).map(sorted),
        st.lists(decimals, min_size=n, max_size=n),
        st.lists(decimals, min_size=n, max_size=n),
        st.lists(st.decimals(min_value=D(0), max_value=D(100), places=6), min_size=n, max_size=n),
        st.lists(
            st.sampled_from(["NORMAL", "REDUCE_RISK_ONLY", "OBSERVE_ONLY"]), min_size=n, max_size=n
        ),
    )
)


@given(columns)
def test_the_series_gives_back_every_value_exactly(cols) -> None:
    times, equity, cash, drawdown, modes = cols
    encoded = series_encode(times, equity, cash, drawdown, modes)
    n = len(times)

    assert series_times(encoded.now_ms, n) == times
    assert [D(t) for t in series_texts(encoded.equity, n)] == equity
    assert [D(t) for t in series_texts(encoded.cash, n)] == cash
    assert [D(t) for t in series_texts(encoded.drawdown_pct, n)] == drawdown
    assert series_modes(encoded.modes, encoded.mode_names, n) == modes


@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=D(-(10**9)), max_value=D(10**9), places=4), st.integers(1, 5)
        ),
        max_size=30,
    )
)
def test_runs_of_one_repeated_object_keep_every_text_digit_for_digit(runs) -> None:
    # quiet stretches repeat the cycle before them: the same objects, formatted once
    values = [value for value, count in runs for _ in range(count)]
    copies = [D(str(v)) for v in values]  # equal values, distinct objects
    n = len(values)
    encoded = series_encode(list(range(n)), values, copies, values, ["NORMAL"] * n)

    assert series_texts(encoded.equity, n) == [str(v) for v in values]
    assert series_texts(encoded.cash, n) == [str(v) for v in values]
    assert series_texts(encoded.drawdown_pct, n) == [str(v.quantize(D("0.000001"))) for v in values]


@given(columns, st.integers(min_value=2, max_value=70))
def test_the_curve_keeps_the_ends_and_the_worst_drawdown(cols, max_points: int) -> None:
    times, equity, cash, drawdown, modes = cols
    curve = series_curve(series_encode(times, equity, cash, drawdown, modes), max_points)

    assert len(curve) == min(len(times), max_points)
    if times:
        assert (curve[0].ts_ms, curve[-1].ts_ms) == (times[0], times[-1])
        assert curve[-1].equity == equity[-1]
        assert max(p.drawdown_pct for p in curve) == max(drawdown)
        kept = curve_indices(len(times), max_points)
        assert [p.equity for p in curve] == [equity[k] for k in kept]


def test_a_corrupt_or_short_series_names_its_column() -> None:
    encoded = series_encode([1, 2], [D(1), D(2)], [D(1), D(2)], [D(0), D(0)], ["NORMAL"] * 2)

    with pytest.raises(SeriesError, match="equity holds 2 values, expected 3"):
        series_texts(encoded.equity, 3, "equity")
    with pytest.raises(SeriesError, match="now_ms"):
        series_times(b"not zlib", 2)
    with pytest.raises(SeriesError, match="modes"):
        series_modes(zlib.compress(bytes([7])), ["NORMAL"], 1)
    with pytest.raises(ValueError, match="differ in length"):
        series_encode([1], [], [], [], [])
    with pytest.raises(ValueError, match="at least 2"):
        curve_indices(10, 1)
