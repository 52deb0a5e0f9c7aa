"""The planner (cycle steps 2-9) as one pure function: fills before equity, closed bars only,
mode-driven and TTL cancels, exits before buys, caps across the cycle, every denial kept.

Numbers: TRY quote; BTC_TRY marked at 1,000, ETH_TRY at 100, AVAX_TRY at 10; equity 10,000;
taker fee 20 bps. Strategies here are scripted: they return fixed intents and record what
they were shown.
"""

from __future__ import annotations

import builtins
import datetime as dt
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

import pytest

from ledger.domain.fills import Fill
from ledger.domain.portfolio import Portfolio
from ledger.domain.positions import Position
from trading.domain.intents import Intent, PricePolicy
from trading.domain.market import BarWindow, MarketSnapshot
from trading.domain.orders import OrderStatus, OrderType, Side
from trading.domain.planner import CycleInputs, CyclePlan, plan_cycle
from trading.domain.reports import OrderReport
from trading.domain.risk import Mode, RiskLimits, RiskState
from trading.domain.rules import ExchangeRules
from trading.domain.strategies.base import StrategyContext
from trading.domain.symbols import Symbol

D = Decimal
BTC, ETH, AVAX = Symbol("BTC", "TRY"), Symbol("ETH", "TRY"), Symbol("AVAX", "TRY")
MARKS = {BTC: "1000", ETH: "100", AVAX: "10"}
NOW = 1_704_880_800_000  # 2024-01-10T10:00:00Z
DAY = dt.date(2024, 1, 10)
INTERVAL = 60_000
LIMITS = RiskLimits(
    cash_reserve_pct=D(0),
    max_order_pct=D("0.5"),
    max_cycle_pct=D(1),
    max_position_pct=D("0.5"),
    max_orders_per_cycle=4,
    cooldown_ms=300_000,
    order_ttl_ms=900_000,
)


@dataclass
class Scripted:
    """A strategy returning ``intents[symbol]`` and recording every context it was given."""

    intents: Mapping[Symbol, Intent] = field(default_factory=dict)
    seen: list[StrategyContext] = field(default_factory=list)
    name: str = "scripted"
    params: Mapping[str, object] = field(default_factory=dict)

    def warmup_bars(self) -> int:
        return 1

    def evaluate(self, ctx: StrategyContext) -> Intent | None:
        self.seen.append(ctx)
        return self.intents.get(ctx.symbol)


def bars(closes: list[float], end: int | None = None) -> BarWindow:
    n = len(closes)
    return BarWindow(
        ts=[NOW - (n - i) * INTERVAL for i in range(n)],
        open=closes,
        high=closes,
        low=closes,
        close=closes,
        volume=[1.0] * n,
        end=n if end is None else end,
        interval_ms=INTERVAL,
    )


def snap(symbol: Symbol, *, mark: str | None = None, age_ms: int = 0) -> MarketSnapshot:
    price = D(mark or MARKS[symbol])
    return MarketSnapshot(symbol, bars([float(price)] * 3), price, age_ms)


def rules(symbol: Symbol) -> ExchangeRules:
    return ExchangeRules(symbol, D("0.01"), D("0.0001"), D("10"))


def buy(symbol: Symbol, *, notional: str | None = None, **kw: object) -> Intent:
    return Intent(
        "scripted", symbol, Side.BUY, PricePolicy.MARKET, "entry",
        notional=None if notional is None else D(notional), **kw,
    )  # fmt: skip


def sell(symbol: Symbol, **kw: object) -> Intent:
    return Intent("scripted", symbol, Side.SELL, PricePolicy.MARKET, "exit", reduce_only=True, **kw)


def position(symbol: Symbol, quantity: str, cost: str) -> Position:
    return Position(symbol, D(quantity), D(cost))


def inputs(
    *,
    strategy: Scripted | None = None,
    cash: str = "10000",
    positions: tuple[Position, ...] = (),
    **overrides: object,
) -> CycleInputs:
    base = CycleInputs(
        now_ms=NOW,
        account="acct",
        market={s: snap(s) for s in (AVAX, BTC, ETH)},
        rules={s: rules(s) for s in (AVAX, BTC, ETH)},
        portfolio=Portfolio("TRY", D(cash), {p.symbol: p for p in positions}),
        available_cash=D(cash),
        fills=(),
        open_orders=(),
        risk_state=RiskState(),
        limits=LIMITS,
        strategies=(strategy or Scripted(),),
        fee_maker_bps=D("10"),
        fee_taker_bps=D("20"),
        trading_day=DAY,
    )
    return base._replace(**overrides)


def fill(side: Side, quantity: str, price: str, *, symbol: Symbol = BTC, coid: str = "c1") -> Fill:
    notional = D(price) * D(quantity)
    return Fill(
        "t1", coid, symbol, side, D(price), D(quantity), notional * D("0.002"), "TRY", NOW - 1
    )


def codes(plan: CyclePlan) -> list[str]:
    return [d.code for d in plan.denials]


# --- ledger before decisions -------------------------------------------------------------------


def test_it_applies_new_fills_to_the_portfolio_before_computing_equity() -> None:
    strategy = Scripted()
    market = {BTC: snap(BTC, mark="1100"), ETH: snap(ETH), AVAX: snap(AVAX)}

    plan = plan_cycle(
        inputs(strategy=strategy, market=market, fills=(fill(Side.BUY, "1", "1000"),))
    )

    assert plan.portfolio.cash == D("8998")  # 10,000 - 1,000 - 2 fee
    assert plan.portfolio.positions[BTC].quantity == D("1")
    assert plan.equity == D("8998") + D("1100")
    btc_ctx = next(c for c in strategy.seen if c.symbol == BTC)
    assert btc_ctx.position_quantity == D("1")
    assert btc_ctx.average_cost == D("1002")


def test_the_risk_mode_sees_equity_after_this_cycles_fills() -> None:
    # 5 BTC bought at 1,000 now marked at 600: equity 10,000 -> 7,990, a 20 % drawdown
    state = RiskState(day=DAY, day_start_equity=D("7990"), risk_peak=D("10000"), risk_peak_ms=NOW)
    market = {BTC: snap(BTC, mark="600"), ETH: snap(ETH), AVAX: snap(AVAX)}

    plan = plan_cycle(inputs(market=market, risk_state=state, fills=(fill(Side.BUY, "5", "1000"),)))

    assert plan.equity == D("7990")
    assert plan.mode is Mode.OBSERVE_ONLY
    assert "DRAWDOWN" in plan.mode_reasons


def test_a_fill_of_an_unknown_order_is_applied_and_reported_never_dropped() -> None:
    plan = plan_cycle(
        inputs(
            fills=(fill(Side.BUY, "1", "1000", coid="stranger"),),
            known_client_order_ids=frozenset({"c1"}),
        )
    )

    assert codes(plan) == ["UNMATCHED_FILL"]
    assert plan.portfolio.positions[BTC].quantity == D("1")


# --- strategies ------------------------------------------------------------------------------


def test_strategies_see_only_the_closed_bars_of_the_snapshot() -> None:
    strategy = Scripted()
    window = bars([1.0, 2.0, 3.0, 4.0, 5.0], end=3)  # bars 3 and 4 have not closed yet
    market = {BTC: MarketSnapshot(BTC, window, D("3"), 0)}

    plan_cycle(inputs(strategy=strategy, market=market, rules={BTC: rules(BTC)}))

    (ctx,) = strategy.seen
    assert ctx.bars.count == 3
    assert ctx.bars.last_close() == 3.0
    assert list(ctx.bars.closes(10)) == [1.0, 2.0, 3.0]
    assert ctx.market.mark_price == D("3")


def test_strategies_are_asked_only_about_the_universe() -> None:
    strategy = Scripted()
    market = {BTC: snap(BTC), ETH: snap(ETH, age_ms=LIMITS.max_data_age_ms + 1), AVAX: snap(AVAX)}

    plan = plan_cycle(inputs(strategy=strategy, market=market))

    assert {c.symbol for c in strategy.seen} == {AVAX, BTC}
    assert plan.excluded == {ETH: "STALE_DATA"}


def test_quiet_symbols_are_not_evaluated_but_stay_in_the_universe_and_equity() -> None:
    # a backtest names the symbols whose signal masks prove the strategy returns nothing
    strategy = Scripted()
    held = position(ETH, "2", "90")

    plan = plan_cycle(inputs(strategy=strategy, positions=(held,), quiet_symbols={ETH, AVAX}))

    assert [c.symbol for c in strategy.seen] == [BTC]
    assert plan.universe == (AVAX, BTC, ETH)
    assert plan.equity == D("10000") + 2 * D(MARKS[ETH])  # ETH still marked


def test_it_observes_only_when_every_symbol_is_stale() -> None:
    market = {s: snap(s, age_ms=LIMITS.max_data_age_ms + 1) for s in (AVAX, BTC, ETH)}

    plan = plan_cycle(inputs(strategy=Scripted({BTC: buy(BTC)}), market=market))

    assert plan.mode is Mode.OBSERVE_ONLY
    assert plan.mode_reasons == ("STALE_DATA",)
    assert plan.orders == ()


# --- cancels ---------------------------------------------------------------------------------


def open_order(symbol: Symbol, side: Side, age_ms: int = 0, oid: str = "1") -> OrderReport:
    """A resting limit order as a venue reports it, placed ``age_ms`` before the cycle."""
    created = NOW - age_ms
    return OrderReport(
        order_id=oid,
        client_order_id=f"coid-{oid}",
        symbol=symbol,
        side=side,
        order_type=OrderType.LIMIT,
        status=OrderStatus.OPEN,
        price=D("100"),
        quantity=D("1"),
        remaining=D("1"),
        created_ms=created,
        updated_ms=created,
    )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"kill_switch": True}, "MODE_OBSERVE_ONLY"),
        ({"unknown_orders": 1}, "MODE_OBSERVE_ONLY"),
        ({"stop_entries": True}, "MODE_REDUCE_RISK_ONLY"),
        (
            {
                "risk_state": RiskState(
                    day=DAY, day_start_equity=D("10000"), risk_peak=D("11500"), risk_peak_ms=NOW
                )
            },
            "MODE_REDUCE_RISK_ONLY",
        ),
    ],
)
def test_a_degraded_mode_cancels_open_buys_but_not_open_sells(
    overrides: dict[str, object], reason: str
) -> None:
    orders = (open_order(BTC, Side.BUY, oid="1"), open_order(ETH, Side.SELL, oid="2"))

    plan = plan_cycle(inputs(open_orders=orders, **overrides))

    assert [(c.order.order_id, c.reason) for c in plan.cancels] == [("1", reason)]


def test_normal_mode_keeps_young_open_orders() -> None:
    orders = (open_order(BTC, Side.BUY, oid="1"), open_order(ETH, Side.SELL, oid="2"))

    assert plan_cycle(inputs(open_orders=orders)).cancels == ()


@pytest.mark.parametrize(
    ("age_ms", "canceled"),
    [(LIMITS.order_ttl_ms - 1, False), (LIMITS.order_ttl_ms, True), (10 * 900_000, True)],
)
def test_an_order_older_than_its_ttl_is_canceled(age_ms: int, canceled: bool) -> None:
    plan = plan_cycle(inputs(open_orders=(open_order(ETH, Side.SELL, age_ms),)))

    assert [c.reason for c in plan.cancels] == (["ORDER_TTL"] if canceled else [])


# --- orders: exits first, caps across the cycle -------------------------------------------------


def test_it_plans_exits_before_buys_so_exits_get_the_order_slots() -> None:
    strategy = Scripted({AVAX: buy(AVAX, notional="100"), ETH: sell(ETH)})
    limits = replace(LIMITS, max_orders_per_cycle=1)

    plan = plan_cycle(
        inputs(strategy=strategy, limits=limits, positions=(position(ETH, "5", "90"),))
    )

    assert [(o.symbol, o.side) for o in plan.orders] == [(ETH, Side.SELL)]
    assert codes(plan) == ["MAX_ORDERS_PER_CYCLE"]
    assert plan.denials[0].symbol == AVAX


def test_exits_come_first_in_the_submission_order() -> None:
    strategy = Scripted({AVAX: buy(AVAX, notional="100"), ETH: sell(ETH)})

    plan = plan_cycle(inputs(strategy=strategy, positions=(position(ETH, "5", "90"),)))

    assert [(o.symbol, o.side) for o in plan.orders] == [(ETH, Side.SELL), (AVAX, Side.BUY)]
    assert plan.orders[0].quantity == D("5")


def test_buys_are_sized_from_free_cash_not_from_unfilled_sale_proceeds() -> None:
    # ETH worth 5,000 is being sold, but its proceeds arrive only with the fill
    strategy = Scripted({BTC: buy(BTC), ETH: sell(ETH)})

    plan = plan_cycle(inputs(strategy=strategy, cash="600", positions=(position(ETH, "50", "90"),)))

    btc = next(o for o in plan.orders if o.symbol == BTC)
    assert btc.quote_amount * D("1.002") <= D("600")
    assert btc.quote_amount > D("598")


def test_buys_in_one_cycle_share_the_cycle_cap_and_the_cash() -> None:
    strategy = Scripted({BTC: buy(BTC), ETH: buy(ETH)})
    limits = replace(LIMITS, max_order_pct=D("0.10"), max_cycle_pct=D("0.15"))

    plan = plan_cycle(inputs(strategy=strategy, limits=limits))

    assert [(o.symbol, o.quote_amount) for o in plan.orders] == [(BTC, D("1000")), (ETH, D("500"))]


def test_buys_in_one_cycle_never_spend_more_than_the_free_cash_together() -> None:
    strategy = Scripted({AVAX: buy(AVAX), BTC: buy(BTC), ETH: buy(ETH)})
    limits = replace(LIMITS, max_order_pct=D("0.10"))  # 1,000 per order; 1,500 free cash

    plan = plan_cycle(
        inputs(
            strategy=strategy,
            cash="1500",
            limits=limits,
            portfolio=Portfolio("TRY", D("10000")),
        )
    )

    spent = sum(o.notional * D("1.002") for o in plan.orders)
    assert len(plan.orders) == 2
    assert spent <= D("1500")
    assert codes(plan) == ["CASH_RESERVE"]


def test_the_position_cap_shrinks_a_buy_in_a_symbol_already_held() -> None:
    # equity 10,000 = 7,600 cash + 2.4 BTC at 1,000; a 25 % cap leaves 100 TRY of room
    limits = replace(LIMITS, max_position_pct=D("0.25"))
    strategy = Scripted({BTC: buy(BTC)})

    plan = plan_cycle(
        inputs(
            strategy=strategy, cash="7600", limits=limits, positions=(position(BTC, "2.4", "900"),)
        )
    )

    assert plan.equity == D("10000")
    assert [o.quote_amount for o in plan.orders] == [D("100")]


def test_the_position_cap_denies_a_buy_in_a_full_symbol() -> None:
    limits = replace(LIMITS, max_position_pct=D("0.25"))
    strategy = Scripted({BTC: buy(BTC)})

    plan = plan_cycle(
        inputs(
            strategy=strategy, cash="7500", limits=limits, positions=(position(BTC, "2.5", "900"),)
        )
    )

    assert plan.orders == ()
    assert codes(plan) == ["POSITION_CAP"]


def test_a_buy_intent_sized_in_base_units_buys_that_quantity() -> None:
    intent = Intent(
        "scripted", BTC, Side.BUY, PricePolicy.LIMIT, "entry",
        quantity=D("0.5"), limit_price=D("1000"),
    )  # fmt: skip

    plan = plan_cycle(inputs(strategy=Scripted({BTC: intent})))

    assert [(o.order_type, o.quantity, o.price) for o in plan.orders] == [
        (OrderType.LIMIT, D("0.5"), D("1000"))
    ]


# --- risk rules inside the plan ----------------------------------------------------------------


def test_reduce_risk_only_denies_buys_and_allows_exits() -> None:
    state = RiskState(day=DAY, day_start_equity=D("10000"), risk_peak=D("11500"), risk_peak_ms=NOW)
    strategy = Scripted({BTC: buy(BTC), ETH: sell(ETH)})

    plan = plan_cycle(
        inputs(
            strategy=strategy,
            cash="9500",
            risk_state=state,
            positions=(position(ETH, "5", "90"),),
        )
    )

    assert plan.mode is Mode.REDUCE_RISK_ONLY
    assert [(o.symbol, o.side) for o in plan.orders] == [(ETH, Side.SELL)]
    assert codes(plan) == ["MODE_REDUCE_RISK_ONLY"]


def test_observe_only_places_nothing_and_records_a_denial_per_intent() -> None:
    strategy = Scripted({BTC: buy(BTC), ETH: sell(ETH)})

    plan = plan_cycle(
        inputs(strategy=strategy, kill_switch=True, positions=(position(ETH, "5", "90"),))
    )

    assert plan.orders == ()
    assert codes(plan) == ["MODE_OBSERVE_ONLY", "MODE_OBSERVE_ONLY"]


def test_stop_entries_allows_only_exits_and_says_why() -> None:
    strategy = Scripted({BTC: buy(BTC), ETH: sell(ETH)})

    plan = plan_cycle(
        inputs(strategy=strategy, stop_entries=True, positions=(position(ETH, "5", "90"),))
    )

    assert (plan.mode, plan.mode_reasons) == (Mode.REDUCE_RISK_ONLY, ("STOP_ENTRIES",))
    assert [(o.symbol, o.side) for o in plan.orders] == [(ETH, Side.SELL)]
    assert codes(plan) == ["MODE_REDUCE_RISK_ONLY"]
    assert plan.denials[0].symbol == BTC


def test_the_kill_switch_outranks_stop_entries() -> None:
    plan = plan_cycle(inputs(kill_switch=True, stop_entries=True))

    assert (plan.mode, plan.mode_reasons) == (Mode.OBSERVE_ONLY, ("KILL_SWITCH", "STOP_ENTRIES"))


def test_a_sell_without_a_position_is_denied_not_sent() -> None:
    plan = plan_cycle(inputs(strategy=Scripted({ETH: sell(ETH)})))

    assert plan.orders == ()
    assert codes(plan) == ["NO_POSITION"]
    assert plan.denials[0].symbol == ETH


def test_an_order_starts_a_cooldown_that_the_next_cycle_respects() -> None:
    strategy = Scripted({BTC: buy(BTC, notional="100")})
    first = plan_cycle(inputs(strategy=strategy))
    assert len(first.orders) == 1
    assert first.risk_state.last_order_ms == {(BTC, Side.BUY): NOW}

    second = plan_cycle(inputs(strategy=strategy, now_ms=NOW + 60_000, risk_state=first.risk_state))
    later = plan_cycle(inputs(strategy=strategy, now_ms=NOW + 300_000, risk_state=first.risk_state))

    assert second.orders == ()
    assert codes(second) == ["COOLDOWN"]
    assert len(later.orders) == 1


def test_an_open_order_on_the_same_side_blocks_a_new_one() -> None:
    strategy = Scripted({BTC: buy(BTC, notional="100")})

    plan = plan_cycle(inputs(strategy=strategy, open_orders=(open_order(BTC, Side.BUY),)))

    assert codes(plan) == ["OPEN_ORDER_EXISTS"]
    assert strategy.seen[[c.symbol for c in strategy.seen].index(BTC)].open_buy is True


# --- purity ----------------------------------------------------------------------------------


def busy_inputs() -> CycleInputs:
    strategy = Scripted({AVAX: buy(AVAX), BTC: buy(BTC, notional="500"), ETH: sell(ETH)})
    return inputs(
        strategy=strategy,
        positions=(position(ETH, "5", "90"),),
        fills=(fill(Side.BUY, "1", "1000"),),
        open_orders=(open_order(ETH, Side.SELL, age_ms=10**7),),
        risk_state=RiskState(last_order_ms={(AVAX, Side.SELL): NOW - 1}),
    )


def test_the_same_inputs_give_an_equal_plan() -> None:
    first = plan_cycle(busy_inputs())
    second = plan_cycle(busy_inputs())

    assert first == second
    assert first.orders and first.cancels


def test_planning_does_not_mutate_its_inputs() -> None:
    cycle = busy_inputs()
    last_orders = dict(cycle.risk_state.last_order_ms)
    positions = dict(cycle.portfolio.positions)

    plan = plan_cycle(cycle)

    assert cycle.risk_state.last_order_ms == last_orders
    assert dict(cycle.portfolio.positions) == positions
    assert cycle.portfolio.cash == D("10000")
    assert plan.risk_state.last_order_ms != last_orders


def test_planning_performs_no_io_and_reads_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = plan_cycle(busy_inputs())

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the planner must not do I/O or read a clock")

    monkeypatch.setattr(builtins, "open", forbidden)
    monkeypatch.setattr(socket, "socket", forbidden)
    for name in ("time", "time_ns", "monotonic", "perf_counter"):
        monkeypatch.setattr(time, name, forbidden)

    assert plan_cycle(busy_inputs()) == expected
