"""The planner's governed universe and adaptive parameters (issue 11 wiring): off by default
(the plan is exactly as before), scoring then governance when configured, the next state and
events in the plan, buys on exit-only symbols denied, and the active parameter set applied to
the governance and the limits by ``cycle_inputs_build``.

Numbers as in ``test_planner``: BTC_TRY marked at 1,000, ETH_TRY at 100, AVAX_TRY at 10.
"""

from __future__ import annotations

from decimal import Decimal

from tests.trading.test_planner import (
    AVAX,
    BTC,
    DAY,
    ETH,
    LIMITS,
    NOW,
    Portfolio,
    Scripted,
    buy,
    inputs,
    position,
    rules,
    sell,
    snap,
)
from trading.domain.cycle import CycleSetup, VenueSnapshot, cycle_inputs_build
from trading.domain.planner import plan_cycle
from trading.domain.reports import AssetBalance
from trading.domain.risk import Mode, RiskState
from trading.domain.universe_governance import GovernancePolicy, UniverseState
from trading.domain.universe_plan import UniverseGovernance, cycle_outcome
from trading.domain.universe_scoring import CandidatePolicy, ScoringPolicy

D = Decimal
GOVERNED = UniverseGovernance(
    ScoringPolicy(candidates=CandidatePolicy(quote="TRY"), volume_bars=3, volatility_bars=2),
    GovernancePolicy(size=2, probation_cycles=0, max_changes_per_day=4),
)


def test_without_governance_the_plan_carries_no_universe_state() -> None:
    plan = plan_cycle(inputs())

    assert plan.universe == (AVAX, BTC, ETH)
    assert plan.universe_state is None
    assert plan.universe_events == ()
    assert plan.exit_only == frozenset()


def test_governance_seeds_the_top_n_by_score_and_returns_the_next_state() -> None:
    plan = plan_cycle(inputs(universe_governance=GOVERNED))

    # quote volume ranks BTC (1000/bar) over ETH (100) over AVAX (10)
    assert plan.universe == (BTC, ETH)
    assert plan.universe_outcome == "SEEDED"
    assert plan.universe_state.symbols == (BTC, ETH)
    assert plan.excluded[AVAX] == "RANKED_OUT"
    assert [e.code for e in plan.universe_events] == ["SYMBOL_ADDED", "SYMBOL_ADDED"]


def test_the_carried_state_is_governed_on_from_where_it_was() -> None:
    first = plan_cycle(inputs(universe_governance=GOVERNED))
    second = plan_cycle(inputs(universe_governance=GOVERNED, universe_state=first.universe_state))

    assert second.universe_outcome == "UNCHANGED"
    assert second.universe_state == first.universe_state


def test_a_degraded_exchange_keeps_the_previous_set() -> None:
    state = UniverseState(symbols=(AVAX,))
    plan = plan_cycle(
        inputs(universe_governance=GOVERNED, universe_state=state, exchange_degraded=True)
    )

    assert plan.universe == (AVAX,)
    assert plan.universe_outcome == "KEPT_DEGRADED"


def test_buys_on_exit_only_symbols_are_denied_and_sells_go_through() -> None:
    entries, exits = Scripted({BTC: buy(BTC, notional="500")}), Scripted({BTC: sell(BTC)})
    plan = plan_cycle(
        inputs(
            strategies=(entries, exits),
            positions=(position(BTC, "1", "1000"),),
            universe_governance=GOVERNED,
            universe_state=UniverseState(symbols=(BTC, ETH)),
            symbol_rejects={BTC: 5},  # a reject spike: held BTC is kept for exits only
        )
    )

    assert plan.exit_only == frozenset({BTC})
    assert BTC in plan.universe
    assert [(o.symbol, o.side.value) for o in plan.orders] == [(BTC, "sell")]
    assert [(d.code, d.symbol) for d in plan.denials] == [("UNIVERSE_EXIT_ONLY", BTC)]


def test_the_active_parameter_set_replaces_the_governance_and_limits_fields() -> None:
    setup = CycleSetup(
        "acct",
        (Scripted(),),
        LIMITS,
        D(10),
        D(20),
        universe_governance=GOVERNED,
        params={"universe_size": D(1), "max_orders_per_cycle": D(1)},
    )
    built = cycle_inputs_build(
        now_ms=NOW,
        setup=setup,
        venue=VenueSnapshot({"TRY": AssetBalance("TRY", D(10000), D(0))}, (), ()),
        market={s: snap(s) for s in (AVAX, BTC, ETH)},
        rules={s: rules(s) for s in (AVAX, BTC, ETH)},
        portfolio=Portfolio("TRY", D(10000), {}),
        risk_state=RiskState(),
        trading_day=DAY,
    )
    plan = plan_cycle(built)

    assert built.limits.max_orders_per_cycle == 1
    assert built.universe_governance.governance.size == 1
    assert plan.universe == (BTC,)


def test_without_params_or_governance_the_inputs_are_as_before() -> None:
    setup = CycleSetup("acct", (Scripted(),), LIMITS, D(10), D(20))
    built = cycle_inputs_build(
        now_ms=NOW,
        setup=setup,
        venue=VenueSnapshot({}, (), ()),
        market={},
        rules={},
        portfolio=Portfolio("TRY", D(0), {}),
        risk_state=RiskState(),
        trading_day=DAY,
    )

    assert built.limits is LIMITS
    assert built.universe_governance is None
    assert built.universe_state == UniverseState()


def test_a_cycle_outcome_is_the_equity_change_drawdown_as_a_fraction_and_the_order_cap() -> None:
    strategy = Scripted({s: buy(s, notional="100") for s in (AVAX, BTC, ETH)})
    plan = plan_cycle(inputs(strategy=strategy, limits=LIMITS.__class__(max_orders_per_cycle=1)))

    outcome = cycle_outcome(plan, drawdown_pct=D(5), previous_equity=D(10100), rejects=1)

    assert outcome.mode is Mode.NORMAL
    assert outcome.drawdown_pct == D("0.05")
    assert outcome.pnl == D(-100)
    assert outcome.rejects == 1
    assert outcome.throttled
