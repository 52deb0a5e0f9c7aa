"""Strategies: sma_cross, mean_reversion, profit_take and the registry (pure domain tests)."""

from __future__ import annotations

import json
import math
import random
from decimal import Decimal

import pytest

from trading.domain.intents import Intent, PricePolicy
from trading.domain.market import BarWindow, MarketSnapshot
from trading.domain.orders import Side
from trading.domain.strategies.base import StrategyContext, StrategyParamError
from trading.domain.strategies.mean_reversion import MeanReversion
from trading.domain.strategies.profit_take import ProfitTake
from trading.domain.strategies.registry import (
    STRATEGY_PARAMS,
    STRATEGY_REGISTRY,
    build_strategy,
)
from trading.domain.strategies.sma_cross import SmaCross
from trading.domain.symbols import Symbol

BTC_TRY = Symbol("BTC", "TRY")
MINUTE_MS = 60_000


def make_ctx(
    closes: list[float],
    *,
    end: int | None = None,
    position: str = "0",
    average_cost: str = "0",
    fee_taker_bps: str = "10",
    mark: str | None = None,
    bid: str | None = None,
    ask: str | None = None,
    open_buy: bool = False,
    open_sell: bool = False,
    min_notional: str = "0",
) -> StrategyContext:
    """A context over ``closes`` (closed bars ``[0, end)``); the mark defaults to the last close."""
    end = len(closes) if end is None else end
    bars = BarWindow(
        ts=[i * MINUTE_MS for i in range(len(closes))],
        open=closes,
        high=closes,
        low=closes,
        close=closes,
        volume=[1.0] * len(closes),
        end=end,
        interval_ms=MINUTE_MS,
    )
    if mark is None:
        mark = str(closes[end - 1]) if end else "100"
    market = MarketSnapshot(
        symbol=BTC_TRY,
        bars=bars,
        mark_price=Decimal(mark),
        age_ms=0,
        bid=None if bid is None else Decimal(bid),
        ask=None if ask is None else Decimal(ask),
    )
    return StrategyContext(
        symbol=BTC_TRY,
        bars=bars,
        market=market,
        position_quantity=Decimal(position),
        average_cost=Decimal(average_cost),
        fee_maker_bps=Decimal("5"),
        fee_taker_bps=Decimal(fee_taker_bps),
        open_buy=open_buy,
        open_sell=open_sell,
        min_notional=Decimal(min_notional),
    )


def signal_bars(strategy: object, closes: list[float], **state: object) -> list[int]:
    """Bar counts (number of closed bars) at which ``strategy`` returned an intent."""
    return [
        end
        for end in range(1, len(closes) + 1)
        if strategy.evaluate(make_ctx(closes, end=end, **state)) is not None
    ]


# --- sma_cross (fast=2, slow=4: warmup 5 bars) --------------------------------------------

CROSS_UP = [10.0, 10.0, 10.0, 10.0, 8.0, 14.0, 14.0, 15.0]  # fast 9 < 9.5, then 11 > 10.5
CROSS_DOWN = [10.0, 10.0, 10.0, 10.0, 12.0, 6.0, 6.0, 5.0]  # fast 11 > 10.5, then 9 < 9.5
HOLDING = {"position": "1", "average_cost": "10"}


def test_sma_cross_needs_slow_plus_one_bars() -> None:
    strategy = SmaCross(fast=2, slow=4)

    assert strategy.warmup_bars() == 5
    assert strategy.evaluate(make_ctx([10.0, 10.0, 10.0, 8.0, 14.0], end=4)) is None
    assert strategy.evaluate(make_ctx([10.0, 10.0, 10.0, 8.0, 14.0])) is not None


def test_sma_cross_buys_market_on_the_crossing_bar_and_not_on_the_next() -> None:
    strategy = SmaCross(fast=2, slow=4)

    assert signal_bars(strategy, CROSS_UP) == [6]
    intent = strategy.evaluate(make_ctx(CROSS_UP, end=6))
    assert intent == Intent(
        strategy="sma_cross",
        symbol=BTC_TRY,
        side=Side.BUY,
        price_policy=PricePolicy.MARKET,
        reason="sma_cross_up",
    )


def test_sma_cross_does_not_see_bars_after_the_window_end() -> None:
    strategy = SmaCross(fast=2, slow=4)

    assert strategy.evaluate(make_ctx(CROSS_UP, end=5)) is None


def test_sma_cross_sells_the_whole_position_on_the_cross_down_when_holding() -> None:
    strategy = SmaCross(fast=2, slow=4)

    assert signal_bars(strategy, CROSS_DOWN, **HOLDING) == [6]
    intent = strategy.evaluate(make_ctx(CROSS_DOWN, end=6, **HOLDING))
    assert intent is not None
    assert (intent.side, intent.price_policy, intent.reason) == (
        Side.SELL,
        PricePolicy.MARKET,
        "sma_cross_down",
    )
    assert (intent.quantity, intent.notional, intent.reduce_only) == (None, None, True)


@pytest.mark.parametrize(
    ("closes", "state"),
    [
        pytest.param(CROSS_DOWN, {}, id="flat-cross-down-never-shorts"),
        pytest.param(CROSS_UP, HOLDING, id="holding-cross-up-never-adds"),
        pytest.param(CROSS_UP, {"open_buy": True}, id="flat-with-resting-buy"),
        pytest.param(CROSS_DOWN, {**HOLDING, "open_sell": True}, id="holding-with-resting-sell"),
    ],
)
def test_sma_cross_stays_out_when_the_cross_does_not_apply(
    closes: list[float], state: dict[str, object]
) -> None:
    assert signal_bars(SmaCross(fast=2, slow=4), closes, **state) == []


@pytest.mark.parametrize(
    "closes",
    [
        pytest.param([10.0, 10.0, 10.0, 10.0, 10.0, 14.0], id="equal-on-previous-bar"),
        pytest.param([10.0, 10.0, 10.0, 10.0, 8.0, 12.0, 14.0], id="equal-on-last-bar-then-up"),
    ],
)
def test_sma_cross_does_not_count_equal_averages_as_a_cross(closes: list[float]) -> None:
    assert signal_bars(SmaCross(fast=2, slow=4), closes) == []


def _oracle_series() -> list[float]:
    """400 deterministic closes on a coarse 0.5 tick, so that averages sometimes tie."""
    return [round(2 * (100 + 8 * math.sin(i / 9) + 3 * math.sin(i / 2.3))) / 2 for i in range(400)]


def test_sma_cross_signals_match_backtesting_lib_crossover_on_pandas_rolling_means() -> None:
    pd = pytest.importorskip("pandas")
    lib = pytest.importorskip("backtesting.lib")
    closes = _oracle_series()
    fast = pd.Series(closes).rolling(3).mean().to_numpy()
    slow = pd.Series(closes).rolling(7).mean().to_numpy()
    expected_up = [n for n in range(2, 401) if lib.crossover(fast[:n], slow[:n])]
    expected_down = [n for n in range(2, 401) if lib.crossover(slow[:n], fast[:n])]
    strategy = SmaCross(fast=3, slow=7)

    assert len(expected_up) > 5
    assert signal_bars(strategy, closes) == expected_up
    assert signal_bars(strategy, closes, **HOLDING) == expected_down


def _fsum_sma(closes: list[float], n: int) -> list[float]:
    return [math.nan] * (n - 1) + [
        math.fsum(closes[i - n + 1 : i + 1]) / n for i in range(n - 1, len(closes))
    ]


def test_sma_cross_signals_match_backtesting_lib_crossover_on_fine_tick_prices_with_ties() -> None:
    lib = pytest.importorskip("backtesting.lib")
    rng = random.Random(7)
    closes = [1000.0]
    for _ in range(1499):  # 0.01 tick random walk that often stands still: many tied averages
        closes.append(round(closes[-1] + rng.choice([-2, -1, 0, 0, 0, 1, 2]) * 0.01, 2))
    fast, slow = _fsum_sma(closes, 3), _fsum_sma(closes, 7)
    expected_up = [n for n in range(2, 1501) if lib.crossover(fast[:n], slow[:n])]
    expected_down = [n for n in range(2, 1501) if lib.crossover(slow[:n], fast[:n])]
    strategy = SmaCross(fast=3, slow=7)

    assert sum(f == s for f, s in zip(fast, slow, strict=True)) > 10
    assert signal_bars(strategy, closes) == expected_up
    assert signal_bars(strategy, closes, **HOLDING) == expected_down


# --- mean_reversion ------------------------------------------------------------------------


def _boundary(prefix: list[float], factor: float) -> float:
    """The last close ``x`` with ``x == mean(prefix + [x]) * factor``."""
    return sum(prefix) * factor / (len(prefix) + 1 - factor)


def test_mean_reversion_needs_window_bars() -> None:
    strategy = MeanReversion(window=4)

    assert strategy.warmup_bars() == 4
    assert strategy.evaluate(make_ctx([100.0, 100.0, 50.0])) is None
    assert strategy.evaluate(make_ctx([100.0, 100.0, 100.0, 50.0])) is not None


@pytest.mark.parametrize(
    ("scale", "buys"),
    [
        pytest.param(1 - 1e-9, True, id="just-below-entry-buys"),
        pytest.param(1 + 1e-9, False, id="just-above-entry-waits"),
    ],
)
def test_mean_reversion_enters_at_entry_bps_below_the_rolling_mean(
    scale: float, buys: bool
) -> None:
    prefix = [100.0, 101.0, 99.0]
    last = _boundary(prefix, 1 - 100 / 1e4) * scale
    intent = MeanReversion(window=4, entry_bps=Decimal(100)).evaluate(make_ctx([*prefix, last]))

    assert (intent is not None) is buys


def test_mean_reversion_entry_is_a_limit_buy_at_the_mark_for_the_order_notional() -> None:
    strategy = MeanReversion(window=2, entry_bps=Decimal(5000), order_notional=Decimal("250"))
    intent = strategy.evaluate(make_ctx([300.0, 100.0]))  # mean 200 * 0.5 == 100: on the line

    assert intent == Intent(
        strategy="mean_reversion",
        symbol=BTC_TRY,
        side=Side.BUY,
        price_policy=PricePolicy.LIMIT,
        reason="mean_reversion_entry",
        notional=Decimal("250"),
        limit_price=Decimal("100.0"),
    )


@pytest.mark.parametrize(
    ("scale", "sells"),
    [
        pytest.param(1 + 1e-9, True, id="just-above-exit-sells"),
        pytest.param(1 - 1e-9, False, id="just-below-exit-holds"),
    ],
)
def test_mean_reversion_exits_at_exit_bps_above_the_rolling_mean(scale: float, sells: bool) -> None:
    prefix = [100.0, 101.0, 99.0]
    last = _boundary(prefix, 1 + 50 / 1e4) * scale
    ctx = make_ctx([*prefix, last], position="1", average_cost="100")
    intent = MeanReversion(window=4, exit_bps=Decimal(50)).evaluate(ctx)

    assert (intent is not None) is sells


def test_mean_reversion_exit_is_a_limit_sell_of_the_whole_position_at_the_mark() -> None:
    strategy = MeanReversion(window=2, exit_bps=Decimal(5000))
    intent = strategy.evaluate(make_ctx([100.0, 300.0], position="1", average_cost="90"))

    assert intent is not None
    assert (intent.side, intent.price_policy, intent.reason) == (
        Side.SELL,
        PricePolicy.LIMIT,
        "mean_reversion_exit",
    )
    assert (intent.limit_price, intent.quantity, intent.reduce_only) == (
        Decimal("300.0"),
        None,
        True,
    )


@pytest.mark.parametrize(
    ("mark", "stop_loss_bps", "reason"),
    [
        ("97.9", "200", "stop_loss"),
        ("98", "200", "stop_loss"),
        ("98.1", "200", None),
        ("50", "0", None),
    ],
)
def test_mean_reversion_stop_loss_sells_at_market_below_average_cost(
    mark: str, stop_loss_bps: str, reason: str | None
) -> None:
    strategy = MeanReversion(window=4, stop_loss_bps=Decimal(stop_loss_bps))
    ctx = make_ctx([100.0, 100.0, 100.0, float(mark)], position="1", average_cost="100")
    intent = strategy.evaluate(ctx)

    assert (None if intent is None else intent.reason) == reason
    if intent is not None:
        assert (intent.price_policy, intent.quantity) == (PricePolicy.MARKET, None)


@pytest.mark.parametrize(
    ("closes", "state"),
    [
        pytest.param([100.0, 100.0, 100.0, 50.0], {"open_buy": True}, id="dip-with-resting-buy"),
        pytest.param([100.0, 100.0, 100.0, 50.0], HOLDING, id="dip-while-holding-never-adds"),
        pytest.param([100.0, 100.0, 100.0, 150.0], {}, id="spike-while-flat-never-shorts"),
        pytest.param(
            [100.0, 100.0, 100.0, 150.0], {**HOLDING, "open_sell": True}, id="resting-sell"
        ),
    ],
)
def test_mean_reversion_stays_out_when_the_rule_does_not_apply(
    closes: list[float], state: dict[str, object]
) -> None:
    assert MeanReversion(window=4).evaluate(make_ctx(closes, **state)) is None


# --- profit_take (taker fee 10 bps: round trip 20 bps) --------------------------------------

LONG_AT_100 = {"position": "2", "average_cost": "100"}


@pytest.mark.parametrize(
    ("mark", "sells"),
    [
        pytest.param("100.31", False, id="clears-margin-but-not-fees-and-spread"),
        pytest.param("100.59", False, id="just-below-fees-spread-margin"),
        pytest.param("100.60", True, id="exactly-fees-spread-margin"),
        pytest.param("101", True, id="above"),
    ],
)
def test_profit_take_sells_only_above_cost_plus_fees_spread_and_margin(
    mark: str, sells: bool
) -> None:
    # no book: assumed spread 10 bps; threshold 100 * (1 + (2*10 + 10 + 30) / 1e4) = 100.60
    intent = ProfitTake().evaluate(make_ctx([float(mark)], mark=mark, **LONG_AT_100))

    assert (intent is not None) is sells


def test_profit_take_sells_a_fraction_of_the_position_at_the_bid() -> None:
    ctx = make_ctx([101.1], bid="101", ask="101.2", **LONG_AT_100)  # spread 19.78 bps
    intent = ProfitTake(sell_fraction=Decimal("0.25")).evaluate(ctx)

    assert intent == Intent(
        strategy="profit_take",
        symbol=BTC_TRY,
        side=Side.SELL,
        price_policy=PricePolicy.LIMIT,
        reason="take_profit",
        quantity=Decimal("0.50"),
        limit_price=Decimal("101"),
        reduce_only=True,
    )


@pytest.mark.parametrize(
    ("position", "min_notional", "quantity"),
    [
        pytest.param("2", "50", Decimal("0.50"), id="slice-worth-50.5-is-sold"),
        pytest.param("2", "60", Decimal("2"), id="slice-below-minimum-sells-whole"),
        pytest.param("0.5", "60", None, id="whole-below-minimum-is-dust-left-alone"),
    ],
)
def test_profit_take_sells_whole_or_leaves_dust_instead_of_a_slice_below_min_notional(
    position: str, min_notional: str, quantity: Decimal | None
) -> None:
    ctx = make_ctx(
        [101.1], bid="101", ask="101.2", position=position, average_cost="100",
        min_notional=min_notional,
    )  # fmt: skip

    intent = ProfitTake(sell_fraction=Decimal("0.25")).evaluate(ctx)

    if quantity is None:  # dust: never a sell; the symbol counts as flat, so an entry
        assert intent is not None and intent.side is Side.BUY
        assert intent.reason == "conservative_entry"
    else:
        assert intent.side is Side.SELL and intent.quantity == quantity


def test_profit_take_holding_dust_with_a_resting_buy_does_nothing() -> None:
    ctx = make_ctx(
        [101.1], bid="101", ask="101.2", position="0.5", average_cost="100", min_notional="60",
        open_buy=True,
    )  # fmt: skip

    assert ProfitTake().evaluate(ctx) is None


def test_profit_take_without_a_price_does_not_value_the_position_as_dust() -> None:
    ctx = make_ctx([101.1], mark="0", position="0.5", average_cost="100", min_notional="60")

    assert ProfitTake().evaluate(ctx) is None


def test_profit_take_counts_the_quoted_spread_in_the_threshold() -> None:
    # the same bid clears the threshold with the assumed 10 bps spread, not with a 99 bps one
    wide = make_ctx([101.15], bid="100.65", ask="101.65", **LONG_AT_100)
    no_book = make_ctx([100.65], mark="100.65", **LONG_AT_100)

    assert ProfitTake().evaluate(wide) is None
    assert ProfitTake().evaluate(no_book) is not None


def test_profit_take_enters_flat_with_a_limit_buy_at_the_ask_for_the_entry_notional() -> None:
    intent = ProfitTake(entry_notional=Decimal("500")).evaluate(
        make_ctx([100.0], bid="99.95", ask="100.05")
    )

    assert intent == Intent(
        strategy="profit_take",
        symbol=BTC_TRY,
        side=Side.BUY,
        price_policy=PricePolicy.LIMIT,
        reason="conservative_entry",
        notional=Decimal("500"),
        limit_price=Decimal("100.05"),
    )


@pytest.mark.parametrize(
    ("bid", "ask", "max_spread_bps", "assumed_spread_bps", "buys"),
    [
        pytest.param("99", "101", "200", "10", True, id="spread-equal-to-max"),
        pytest.param("99", "101.01", "200", "10", False, id="spread-just-above-max"),
        pytest.param(None, None, "100", "10", True, id="no-book-assumed-spread-fits"),
        pytest.param(None, None, "100", "150", False, id="no-book-assumed-spread-too-wide"),
    ],
)
def test_profit_take_enters_only_when_the_spread_is_within_max_spread_bps(
    bid: str | None, ask: str | None, max_spread_bps: str, assumed_spread_bps: str, buys: bool
) -> None:
    strategy = ProfitTake(
        max_spread_bps=Decimal(max_spread_bps), assumed_spread_bps=Decimal(assumed_spread_bps)
    )
    intent = strategy.evaluate(make_ctx([100.0], bid=bid, ask=ask))

    assert (intent is not None) is buys


@pytest.mark.parametrize(
    "state",
    [
        pytest.param({**LONG_AT_100, "mark": "100.10"}, id="holding-below-threshold"),
        pytest.param({"open_buy": True}, id="flat-with-resting-buy"),
        pytest.param({**LONG_AT_100, "mark": "110", "open_sell": True}, id="resting-sell"),
    ],
)
def test_profit_take_never_rebuys_or_stacks_orders(state: dict[str, object]) -> None:
    assert ProfitTake().evaluate(make_ctx([100.0], **state)) is None


def test_profit_take_waits_for_a_closed_bar() -> None:
    assert ProfitTake().warmup_bars() == 1
    assert ProfitTake().evaluate(make_ctx([100.0], end=0)) is None


# --- registry ------------------------------------------------------------------------------


def test_registry_holds_the_three_strategies_under_their_names() -> None:
    assert set(STRATEGY_REGISTRY) == {"profit_take", "mean_reversion", "sma_cross"}
    assert set(STRATEGY_PARAMS) == set(STRATEGY_REGISTRY)
    for name, cls in STRATEGY_REGISTRY.items():
        assert cls.name == name


@pytest.mark.parametrize("name", sorted(STRATEGY_REGISTRY))
def test_declared_param_defaults_are_the_strategy_defaults(name: str) -> None:
    declared = {spec.name: spec.default for spec in STRATEGY_PARAMS[name]}

    assert build_strategy(name).params == declared == STRATEGY_REGISTRY[name]().params


def test_an_unknown_strategy_error_lists_the_available_names() -> None:
    with pytest.raises(
        StrategyParamError, match="'momentum'.*mean_reversion, profit_take, sma_cross"
    ):
        build_strategy("momentum")


@pytest.mark.parametrize(
    ("name", "params", "key"),
    [
        ("sma_cross", {"slowest": 3}, "slowest"),
        ("sma_cross", {"fast": 0}, "fast"),
        ("sma_cross", {"slow": 10_001}, "slow"),
        ("sma_cross", {"fast": 2.5}, "fast"),
        ("sma_cross", {"fast": "ten"}, "fast"),
        ("sma_cross", {"fast": None}, "fast"),
        ("sma_cross", {"fast": [3]}, "fast"),
        ("sma_cross", {"fast": 30, "slow": 10}, "fast"),
        ("mean_reversion", {"window": 1}, "window"),
        ("mean_reversion", {"entry_bps": -1}, "entry_bps"),
        ("mean_reversion", {"exit_bps": "NaN"}, "exit_bps"),
        ("mean_reversion", {"stop_loss_bps": "Infinity"}, "stop_loss_bps"),
        ("mean_reversion", {"order_notional": 0}, "order_notional"),
        ("profit_take", {"sell_fraction": "0"}, "sell_fraction"),
        ("profit_take", {"sell_fraction": 1.01}, "sell_fraction"),
        ("profit_take", {"entry_notional": "-5"}, "entry_notional"),
        ("profit_take", {"max_spread_bps": 10_001}, "max_spread_bps"),
    ],
)
def test_a_bad_param_error_names_the_key(name: str, params: dict[str, object], key: str) -> None:
    with pytest.raises(StrategyParamError, match=f"'{key}'"):
        build_strategy(name, params)


@pytest.mark.parametrize("value", [True, False])
def test_a_bool_is_not_a_number_param(value: bool) -> None:
    with pytest.raises(StrategyParamError, match="'fast' must be a number, got bool"):
        build_strategy("sma_cross", {"fast": value})


def test_params_accept_json_numbers_and_numeric_strings() -> None:
    strategy = build_strategy(
        "mean_reversion",
        {"window": "5", "entry_bps": 0.1, "exit_bps": "75.5", "order_notional": 250},
    )

    assert strategy.params == {
        "window": 5,
        "entry_bps": Decimal("0.1"),
        "exit_bps": Decimal("75.5"),
        "stop_loss_bps": Decimal("0"),
        "order_notional": Decimal("250"),
    }
    assert build_strategy("sma_cross", {"fast": 5.0, "slow": "20"}).params == {
        "fast": 5,
        "slow": 20,
    }


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("sma_cross", {"fast": 7, "slow": 21}),
        ("mean_reversion", {"window": 50, "stop_loss_bps": "250", "order_notional": "1500.50"}),
        ("mean_reversion", {"order_notional": None}),
        ("profit_take", {"sell_fraction": "1", "min_profit_bps": 12.5}),
    ],
)
def test_params_json_round_trips_through_json_and_build_strategy(
    name: str, params: dict[str, object]
) -> None:
    strategy = build_strategy(name, params)
    again = build_strategy(name, json.loads(json.dumps(strategy.params_json())))

    assert again.params == strategy.params
    assert again.params_json() == strategy.params_json()
    assert again == strategy
