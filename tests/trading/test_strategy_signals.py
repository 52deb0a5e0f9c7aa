"""Signal masks are conservative and causal on real bundled candles.

Conservative: wherever a mask says 0, ``evaluate`` returns ``None`` (so skipping that cycle
cannot change a decision). Causal: the mask of a prefix equals the prefix of the mask.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from replay.domain.dataset import load_dataset
from trading.domain.market import MarketSnapshot
from trading.domain.strategies.base import StrategyContext
from trading.domain.strategies.registry import build_strategy
from trading.domain.strategies.signals import EVERY_BAR, rolling_means
from trading.domain.symbols import Symbol

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
BARS = 4000


@pytest.fixture(scope="module")
def series():
    dataset = load_dataset(SAMPLE / "usdt-5m")
    return dataset.series[Symbol("BTC", "USDT")]


def context(series, end: int, *, quantity: Decimal, average_cost: Decimal) -> StrategyContext:
    window = series.window(end)
    market = MarketSnapshot(series.symbol, window, series.close_decimal(end - 1), 0)
    return StrategyContext(
        symbol=series.symbol,
        bars=window,
        market=market,
        position_quantity=quantity,
        average_cost=average_cost,
        fee_maker_bps=Decimal(10),
        fee_taker_bps=Decimal(20),
    )


STRATEGIES = [
    ("sma_cross", {}),
    ("sma_cross", {"fast": 5, "slow": 50}),
    ("mean_reversion", {}),
    ("mean_reversion", {"window": 50, "entry_bps": 30, "exit_bps": 10}),
]


@pytest.mark.parametrize(("name", "params"), STRATEGIES)
@pytest.mark.parametrize("holding", [False, True])
def test_a_zero_in_the_mask_means_evaluate_returns_nothing(series, name, params, holding):
    strategy = build_strategy(name, params)
    close = series.close[:BARS]
    mask = strategy.signal_bars(close).for_position(holding)
    assert mask is not None and len(mask) == BARS
    quantity = Decimal(1) if holding else Decimal(0)
    acted = 0
    for i in range(BARS):
        cost = series.close_decimal(max(0, i - 7)) if holding else Decimal(0)
        intent = strategy.evaluate(context(series, i + 1, quantity=quantity, average_cost=cost))
        if intent is not None:
            acted += 1
            assert mask[i] == 1, f"{name} acted at bar {i} where its mask is 0"
    assert acted > 0, "the sample should contain signals, or this test proves nothing"
    assert sum(mask) < BARS // 2, "a mask of mostly ones would make the fast path useless"


@pytest.mark.parametrize(("name", "params"), STRATEGIES)
def test_masks_are_causal(series, name, params):
    strategy = build_strategy(name, params)
    full = strategy.signal_bars(series.close[:BARS])
    prefix = strategy.signal_bars(series.close[: BARS // 3])
    for holding in (False, True):
        whole = full.for_position(holding)
        part = prefix.for_position(holding)
        if whole is None:
            assert part is None
        else:
            assert part == whole[: BARS // 3]


def test_mean_reversion_with_a_stop_loss_has_no_holding_mask(series):
    strategy = build_strategy("mean_reversion", {"stop_loss_bps": 200})
    assert strategy.signal_bars(series.close[:100]).holding is None


def test_profit_take_asks_every_bar(series):
    assert build_strategy("profit_take").signal_bars(series.close[:100]) == EVERY_BAR


def test_rolling_means_match_the_plain_definition():
    closes = [1.0, 2.0, 4.0, 8.0, 16.0]
    assert rolling_means(closes, 2) == [None, 1.5, 3.0, 6.0, 12.0]
