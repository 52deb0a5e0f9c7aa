"""profit_take on three months of real 5-minute bars never churns dust: before the fix its slices
fell below the minimum notional, 71,638 sells were denied ``MIN_NOTIONAL`` (one a cycle) and the
dust froze the strategy at 60 fills."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal as D
from pathlib import Path

from replay.domain.dataset import load_dataset
from replay.domain.engine import BacktestConfig
from replay.domain.engine import run_backtest as engine_run
from trading.domain.risk import RiskLimits
from trading.domain.strategies.registry import build_strategy
from trading.domain.venue import FillModel
from trading.exchange.simulated import SimulatedExchange
from trading.services.execution import plan_execute

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def test_profit_take_has_no_min_notional_denials_and_keeps_trading() -> None:
    config = BacktestConfig(
        strategy=build_strategy("profit_take", {}),
        limits=RiskLimits(),
        fee_maker_bps=D(10),
        fee_taker_bps=D(10),
        initial_cash=D(100000),
        fill_model=FillModel.BAR,
    )

    result = engine_run(
        load_dataset(SAMPLE / "usdt-5m"), config, execute=plan_execute, port=SimulatedExchange
    )

    denials = Counter(d.code for c in result.cycles for d in c.denials)
    assert denials["MIN_NOTIONAL"] == 0
    sells = [f for f in result.fills if f.side.value == "sell"]
    assert len(sells) > 500  # it takes profit again and again, never frozen by dust
