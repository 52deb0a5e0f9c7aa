"""The engine's quiet-cycle fast path changes nothing but speed.

Each run below is made twice, with and without the fast path, and every observable result
must be identical: fingerprint, fills, final ledger, and each cycle's time, mode, reasons,
equity, cash and drawdown. Tight risk limits force mode changes, peak expiry and day rolls
inside quiet stretches.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from functools import partial
from pathlib import Path

import pytest

from replay.domain.dataset import load_dataset
from replay.domain.engine import BacktestConfig
from replay.domain.engine import run_backtest as engine_run
from replay.numpy_signals import NUMPY_SIGNALS
from trading.domain.orders import Side
from trading.domain.risk import RiskLimits
from trading.domain.strategies.registry import build_strategy
from trading.domain.venue import FillModel
from trading.exchange.simulated import SimulatedExchange
from trading.services.execution import plan_execute

# The engine executes through the same service and port as paper cycles (injected).
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
ALL_IN = RiskLimits(
    cash_reserve_pct=D(0),
    max_order_pct=D(1),
    max_cycle_pct=D(1),
    max_position_pct=D(1),
    reduce_drawdown_pct=D(1),
    observe_drawdown_pct=D(1),
    daily_loss_pct=D(1),
    cooldown_ms=0,
)


@pytest.fixture(scope="module")
def usdt():
    return load_dataset(SAMPLE / "usdt-5m")


@pytest.fixture(scope="module")
def try_1m():
    return load_dataset(SAMPLE / "try-1m")


def observable(result):
    cycles = [
        (c.seq, c.now_ms, c.mode, c.mode_reasons, c.equity, c.cash, c.drawdown_pct, c.fills)
        for c in result.cycles
    ]
    # the digits too (stored rows and series keep them): equal values are not enough
    digits = [(str(c.equity), str(c.cash), str(c.drawdown_pct)) for c in result.cycles]
    ledger = sorted(
        (str(s), p.quantity, p.average_cost, p.realized_pnl)
        for s, p in result.portfolio.positions.items()
    )
    floats = list(result.cycles.equity_floats)
    assert floats == [float(c.equity) for c in result.cycles]  # the column Sharpe reads
    return (
        result.fingerprint,
        result.fills,
        ledger,
        result.portfolio.cash,
        cycles,
        digits,
        result.sharpe,
        str(result.final_equity),
        str(result.drawdown.max_drawdown_pct),
    )


CASES = [
    ("sma_cross", {}, FillModel.NEXT_OPEN, ALL_IN),
    ("sma_cross", {"fast": 5, "slow": 20}, FillModel.BAR, TIGHT),
    ("mean_reversion", {}, FillModel.BAR, TIGHT),
    ("mean_reversion", {"stop_loss_bps": 150}, FillModel.BAR, RiskLimits()),
    ("mean_reversion", {"window": 50, "entry_bps": 40}, FillModel.NEXT_OPEN, TIGHT),
    ("profit_take", {}, FillModel.BAR, RiskLimits()),
]


@pytest.mark.parametrize(("name", "params", "fill_model", "limits"), CASES)
def test_fast_path_and_full_planning_give_identical_runs(usdt, name, params, fill_model, limits):
    config = BacktestConfig(
        strategy=build_strategy(name, params),
        limits=limits,
        fee_maker_bps=D(10),
        fee_taker_bps=D(20),
        initial_cash=D(100000),
        fill_model=fill_model,
        max_volume_share=D("0.1"),
        end_ms=1_704_067_200_000 + 6000 * 300_000,
    )
    fast = run_backtest(usdt, config)
    full = run_backtest(usdt, replace(config, fast_path=False))
    # the services' masks (NumPy kernels) skip the same cycles
    services = run_backtest(usdt, replace(config, signal_kernels=NUMPY_SIGNALS))
    assert observable(fast) == observable(full) == observable(services)
    assert fast.fills, "the case should trade, or it proves little"


def test_fast_path_matches_on_the_try_dataset_with_exchange_rules(try_1m):
    config = BacktestConfig(
        strategy=build_strategy("mean_reversion", {"window": 10, "entry_bps": 20, "exit_bps": 10}),
        limits=TIGHT,
        fee_maker_bps=D(10),
        fee_taker_bps=D(20),
        initial_cash=D(100000),
    )
    fast = run_backtest(try_1m, config)
    full = run_backtest(try_1m, replace(config, fast_path=False))
    assert observable(fast) == observable(full)
    modes = {c.mode for c in full.cycles}
    assert len(modes) > 1, "tight limits should move the risk mode at least once"


def test_the_fast_path_skips_most_planning_for_sma_cross(usdt):
    config = BacktestConfig(
        strategy=build_strategy("sma_cross", {}),
        limits=ALL_IN,
        fee_maker_bps=D(10),
        fee_taker_bps=D(10),
        initial_cash=D(100000),
        fill_model=FillModel.NEXT_OPEN,
        end_ms=1_704_067_200_000 + 4000 * 300_000,
    )
    result = run_backtest(usdt, config)
    planned = sum(1 for c in result.cycles if c.universe is not None)
    assert len(result.cycles) == 4000
    assert planned < len(result.cycles) // 4


@pytest.mark.parametrize("params", [{}, {"sell_fraction": "0.5", "min_profit_bps": "5"}])
def test_profit_take_exits_by_band_give_identical_runs_and_skip_planning(usdt, params):
    """profit_take's exits depend on the average cost: the engine scans for the next close
    outside its exit band instead of planning every held cycle."""
    config = BacktestConfig(
        strategy=build_strategy("profit_take", params),
        limits=RiskLimits(),
        fee_maker_bps=D(10),
        fee_taker_bps=D(20),
        initial_cash=D(100000),
        end_ms=1_704_067_200_000 + 8000 * 300_000,
    )
    fast = run_backtest(usdt, config)
    full = run_backtest(usdt, replace(config, fast_path=False))

    assert observable(fast) == observable(full)
    sells = [o for c in fast.cycles for o in c.orders if o.side is Side.SELL]
    assert fast.fills and sells, "the case should take profit, or it proves little"
    planned = sum(fast.cycles.planned)
    assert planned < len(fast.cycles) // 2
