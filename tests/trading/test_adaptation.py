"""Bounded parameter adaptation: clamping into declared bounds, versions with a parent and a
status, rollback of a pending version to the last good one on each trigger, small proposals
only in a healthy NORMAL window, and an event with a reason code for every change.

Parameters: 10 symbols, 10 bps offset, 1,000 TRY turnover per cycle, 4 orders per cycle.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.domain.adaptation import (
    AdaptationPolicy,
    AdaptationState,
    AdaptationStep,
    CycleOutcome,
    VersionStatus,
    adaptation_start,
    adaptation_state_from_json,
    adaptation_step,
    rollback_triggers,
)
from trading.domain.adaptation_bounds import (
    DEFAULT_BOUNDS,
    FieldBound,
    ParamBoundsError,
    adaptable_bounds,
    params_apply,
    params_clamp,
    params_read,
)
from trading.domain.bounds import MAX_AMOUNT
from trading.domain.risk import Mode, RiskLimits
from trading.domain.universe_governance import GovernancePolicy
from trading.domain.universe_scoring import ScoreWeights, ScoringPolicy, score_weights_normalise

D = Decimal
T0 = 1_796_000_000_000
MINUTE = 60_000
PARAMS = {
    "universe_size": D(10),
    "order_offset_bps": D(10),
    "turnover_cap": D(1000),
    "max_orders_per_cycle": D(4),
}
BOUNDS = adaptable_bounds(turnover_cap_max=D(5000))
POLICY = AdaptationPolicy(enabled=True, window_cycles=3, throttle_cycles=2, loss_cycles=2)
CALM = CycleOutcome(T0, Mode.NORMAL, D("0.01"), D(5))


def start(params: dict[str, Decimal] = PARAMS) -> AdaptationState:
    return adaptation_start(params, bounds=BOUNDS, now_ms=T0)


def run(
    state: AdaptationState, *outcomes: CycleOutcome, policy: AdaptationPolicy = POLICY
) -> list[AdaptationStep]:
    steps = []
    for i, outcome in enumerate(outcomes):
        step = adaptation_step(
            state, replace(outcome, ts_ms=T0 + (i + 1) * MINUTE), policy=policy, bounds=BOUNDS
        )
        steps.append(step)
        state = step.state
    return steps


def changed_once(policy: AdaptationPolicy = POLICY) -> AdaptationState:
    """Version 2 pending: the healthy window expanded version 1."""
    steps = run(start(), CALM, CALM, CALM, policy=policy)
    assert steps[-1].outcome == "CHANGED"
    return steps[-1].state


# --- bounds and clamping ---------------------------------------------------------------


def test_a_value_outside_its_bounds_is_clamped_and_reported() -> None:
    result = params_clamp(
        {"universe_size": 80, "order_offset_bps": D("-3"), "max_spread_bps": D(100)}, BOUNDS
    )

    assert result.params == {
        "universe_size": D(50),
        "order_offset_bps": D(0),
        "max_spread_bps": D(100),
    }
    assert result.clamped == {"universe_size", "order_offset_bps"}


def test_an_integer_field_is_rounded_half_even() -> None:
    result = params_clamp({"max_orders_per_cycle": D("2.5"), "universe_size": D("3.5")}, BOUNDS)

    assert result.params == {"max_orders_per_cycle": D(2), "universe_size": D(4)}


@pytest.mark.parametrize(
    ("proposal", "message"),
    [
        ({"leverage": D(3)}, "not an adaptable field"),
        ({"universe_size": D("NaN")}, "not a number"),
        ({"universe_size": "10"}, "not a number"),
        ({"universe_size": True}, "not a number"),
        ({"universe_size": 1.5}, "not a number"),
    ],
)
def test_a_proposal_that_cannot_be_clamped_is_refused(proposal: dict, message: str) -> None:
    with pytest.raises(ParamBoundsError, match=message):
        params_clamp(proposal, BOUNDS)


def test_bounds_declare_the_issue_fields_and_the_turnover_cap_follows_the_risk_limits() -> None:
    assert set(DEFAULT_BOUNDS) == {
        "universe_size",
        "weight_volume",
        "weight_spread",
        "weight_volatility",
        "weight_depth",
        "weight_rejects",
        "order_offset_bps",
        "turnover_cap",
        "max_orders_per_cycle",
        "max_spread_bps",
        "min_quote_volume",
    }
    assert DEFAULT_BOUNDS["turnover_cap"].maximum == MAX_AMOUNT
    assert BOUNDS["turnover_cap"].maximum == D(5000)


def test_strategy_parameters_opt_in_under_their_own_prefix() -> None:
    bounds = adaptable_bounds(strategy_fields={"sma_cross.fast": FieldBound(D(2), D(50), True)})

    assert params_clamp({"strategy.sma_cross.fast": 1}, bounds).params == {
        "strategy.sma_cross.fast": D(2)
    }
    with pytest.raises(ParamBoundsError):
        params_clamp({"strategy.sma_cross.slow": 1}, bounds)


@pytest.mark.parametrize(("low", "high"), [(D(2), D(1)), (D(0), D("Infinity"))])
def test_bounds_must_be_finite_and_ordered(low: Decimal, high: Decimal) -> None:
    with pytest.raises(ValueError):
        FieldBound(low, high)


numbers = (
    st.decimals(allow_nan=False)
    | st.integers(-(10**30), 10**30)
    | st.sampled_from([D("1e-999999"), D("-1e999999"), D("1e999999"), D("-Infinity")])
)


@settings(max_examples=500, deadline=None)
@given(proposal=st.dictionaries(st.sampled_from(sorted(BOUNDS)), numbers, min_size=1))
def test_clamping_always_lands_inside_the_bounds(proposal: dict) -> None:
    result = params_clamp(proposal, BOUNDS)

    assert set(result.params) == set(proposal)
    for name, value in result.params.items():
        bound = BOUNDS[name]
        assert bound.minimum <= value <= bound.maximum
        assert not bound.integer or value == value.to_integral_value()
        # a value already inside (and whole, where it must be) is kept exactly
        inside = bound.minimum <= D(proposal[name]) <= bound.maximum
        whole = not bound.integer or D(proposal[name]) == D(proposal[name]).to_integral_value()
        assert (name not in result.clamped) == (inside and whole)
        if inside and whole:
            assert value == D(proposal[name])


def test_params_are_read_from_the_account_policies_and_applied_back() -> None:
    scoring = ScoringPolicy(weights=ScoreWeights(D(2), D(1), D(1), D(0), D(0)))
    governance = GovernancePolicy(size=8)
    limits = RiskLimits(max_cycle_notional=D(2000), max_orders_per_cycle=3)

    params = params_read(scoring=scoring, governance=governance, limits=limits)
    again = params_apply(params, scoring=scoring, governance=governance, limits=limits)

    assert params == {
        "universe_size": D(8),
        "max_orders_per_cycle": D(3),
        "turnover_cap": D(2000),
        "weight_volume": D("0.5"),
        "weight_spread": D("0.25"),
        "weight_volatility": D("0.25"),
        "weight_depth": D(0),
        "weight_rejects": D(0),
    }
    assert again[1:] == (governance, limits)
    assert again[0].weights == score_weights_normalise(scoring.weights)
    assert params_clamp(params, BOUNDS).clamped == frozenset()


def test_applied_params_land_in_their_policies() -> None:
    changed = {
        "universe_size": D(12),
        "max_orders_per_cycle": D(2),
        "turnover_cap": D(900),
        "max_spread_bps": D(40),
        "min_quote_volume": D(5000),
        "weight_depth": D("0.9"),
        "order_offset_bps": D(4),  # no home in these policies: ignored
    }

    scoring, governance, limits = params_apply(
        changed, scoring=ScoringPolicy(), governance=GovernancePolicy(), limits=RiskLimits()
    )

    assert governance.size == 12
    assert (limits.max_orders_per_cycle, limits.max_cycle_notional) == (2, D(900))
    assert (scoring.max_spread_bps, scoring.min_quote_volume) == (D(40), D(5000))
    assert scoring.weights.depth == D("0.9")
    assert scoring.weights.volume == ScoreWeights().volume


# --- versions --------------------------------------------------------------------------


def test_the_first_version_is_good_and_holds_the_configured_parameters_clamped() -> None:
    state = start({**PARAMS, "universe_size": D(99)})

    first = state.active_version
    assert (first.number, first.parent, first.status, first.reason) == (
        1,
        None,
        VersionStatus.GOOD,
        "INITIAL",
    )
    assert first.params["universe_size"] == D(50)
    assert first.created_ms == T0


def test_a_version_is_immutable() -> None:
    first = start().active_version

    with pytest.raises(TypeError):
        first.params["universe_size"] = D(1)  # type: ignore[index]


def test_adaptation_is_off_by_default() -> None:
    state = start()

    step = adaptation_step(
        state, replace(CALM, drawdown_pct=D(1)), policy=AdaptationPolicy(), bounds=BOUNDS
    )

    assert step.outcome == "DISABLED"
    assert step.state is state


def test_it_observes_until_the_window_is_full() -> None:
    steps = run(start(), CALM, CALM)

    assert [s.outcome for s in steps] == ["OBSERVING", "OBSERVING"]
    assert len(steps[-1].state.recent) == 2


# --- proposals -------------------------------------------------------------------------


def only_change(step: AdaptationStep) -> dict[str, tuple[Decimal, Decimal, str]]:
    assert step.outcome == "CHANGED"
    (event,) = [e for e in step.events if e.action == "params.change"]
    return {c.name: (c.before, c.after, c.reason) for c in event.changes}


def test_a_healthy_window_expands_slightly() -> None:
    step = run(start(), CALM, CALM, CALM)[-1]

    assert only_change(step) == {
        "universe_size": (D(10), D(11), "HEALTHY_WINDOW_EXPAND"),
        "turnover_cap": (D(1000), D(1050), "HEALTHY_WINDOW_EXPAND"),
    }
    version = step.state.active_version
    assert (version.number, version.parent, version.status) == (2, 1, VersionStatus.PENDING)
    assert version.reason == "HEALTHY_WINDOW_EXPAND"
    assert version.created_ms == T0 + 3 * MINUTE
    assert step.state.recent == ()  # the next window watches version 2 only


def test_a_throttled_cycle_proposes_fewer_orders() -> None:
    step = run(start(), CALM, CALM, replace(CALM, throttled=True))[-1]

    assert only_change(step) == {"max_orders_per_cycle": (D(4), D(3), "THROTTLED_FEWER_ORDERS")}


def test_rejects_below_a_spike_propose_a_smaller_offset() -> None:
    step = run(start(), CALM, CALM, replace(CALM, rejects=2))[-1]

    assert only_change(step) == {"order_offset_bps": (D(10), D(8), "REJECTS_SMALLER_OFFSET")}


def test_a_drawdown_near_the_limit_proposes_a_lower_turnover() -> None:
    step = run(start(), CALM, CALM, replace(CALM, drawdown_pct=D("0.08")))[-1]

    assert only_change(step) == {"turnover_cap": (D(1000), D(950), "NEAR_DRAWDOWN_LOWER_TURNOVER")}


def test_a_proposal_changes_at_most_k_fields_in_priority_order() -> None:
    rough = replace(CALM, throttled=True, rejects=1, drawdown_pct=D("0.09"))
    policy = replace(POLICY, max_fields_per_change=2)

    step = run(start(), CALM, CALM, rough, policy=policy)[-1]

    assert set(only_change(step)) == {"max_orders_per_cycle", "order_offset_bps"}


def test_a_field_stuck_at_its_bound_leaves_its_slot_to_the_next_one() -> None:
    state = start({**PARAMS, "max_orders_per_cycle": D(1)})
    rough = replace(CALM, throttled=True, rejects=1)

    step = run(state, CALM, CALM, rough, policy=replace(POLICY, max_fields_per_change=1))[-1]

    assert only_change(step) == {"order_offset_bps": (D(10), D(8), "REJECTS_SMALLER_OFFSET")}


def test_a_field_the_parameters_do_not_carry_is_not_proposed() -> None:
    state = start({"universe_size": D(10)})

    step = run(state, CALM, CALM, replace(CALM, throttled=True))[-1]

    assert step.outcome == "STEADY"
    assert step.state.active == 1


def test_a_proposal_already_at_its_bound_changes_nothing() -> None:
    state = start({**PARAMS, "max_orders_per_cycle": D(1)})

    step = run(state, CALM, CALM, replace(CALM, throttled=True))[-1]

    assert step.outcome == "STEADY"


def test_a_clamped_proposal_is_applied_at_the_bound() -> None:
    state = start({**PARAMS, "order_offset_bps": D(1)})

    step = run(state, CALM, CALM, replace(CALM, rejects=1))[-1]

    assert only_change(step) == {"order_offset_bps": (D(1), D(0), "REJECTS_SMALLER_OFFSET")}
    assert step.events[-1].changes[0].clamped


@pytest.mark.parametrize("mode", [Mode.REDUCE_RISK_ONLY, Mode.OBSERVE_ONLY])
def test_nothing_is_proposed_unless_the_latest_cycle_ran_normal(mode: Mode) -> None:
    step = run(start(), CALM, CALM, replace(CALM, mode=mode, throttled=True))[-1]

    assert step.outcome == "NOT_NORMAL"
    assert step.state.active == 1


def test_a_window_with_a_degraded_cycle_does_not_expand() -> None:
    step = run(start(), replace(CALM, mode=Mode.REDUCE_RISK_ONLY), CALM, CALM)[-1]

    assert step.outcome == "STEADY"


def test_a_pending_version_is_confirmed_good_after_a_full_healthy_window() -> None:
    state = changed_once()

    step = run(state, CALM, CALM, replace(CALM, mode=Mode.REDUCE_RISK_ONLY))[-1]

    assert step.outcome == "CONFIRMED"
    assert step.state.active_version.status is VersionStatus.GOOD
    (event,) = step.events
    assert (event.action, event.reason, event.from_version, event.to_version) == (
        "params.confirm",
        "HEALTHY_WINDOW_CONFIRMED",
        2,
        2,
    )


def test_a_confirmation_and_the_next_change_can_share_a_cycle() -> None:
    step = run(changed_once(), CALM, CALM, CALM)[-1]

    assert [e.action for e in step.events] == ["params.confirm", "params.change"]
    assert step.state.active == 3
    assert step.state.version(2).status is VersionStatus.GOOD
    assert step.state.active_version.parent == 2


# --- rollback --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "trigger"),
    [
        ((replace(CALM, drawdown_pct=D("0.10")),), "DRAWDOWN_BREACH"),
        ((replace(CALM, rejects=1), replace(CALM, rejects=2)), "REJECT_SPIKE"),
        ((replace(CALM, throttled=True),) * 2, "REPEATED_THROTTLING"),
        ((replace(CALM, pnl=D("-0.01")),) * 2, "REPEATED_LOSSES"),
    ],
)
def test_a_trigger_rolls_a_pending_version_back_to_the_last_good_one(
    outcomes: tuple[CycleOutcome, ...], trigger: str
) -> None:
    state = changed_once()
    good = state.version(1)

    step = run(state, *outcomes)[-1]

    assert step.outcome == "ROLLED_BACK"
    assert step.state.active_version == good
    assert step.state.version(2).status is VersionStatus.BAD
    assert step.state.recent == ()
    (event,) = step.events
    assert (event.action, event.reason, event.from_version, event.to_version) == (
        "params.rollback",
        trigger,
        2,
        1,
    )


def test_isolated_throttling_losses_or_rejects_below_the_spike_do_not_roll_back() -> None:
    mixed = (
        replace(CALM, throttled=True, pnl=D(-1)),
        replace(CALM, rejects=2),
        replace(CALM, throttled=True, pnl=D(-1)),
    )

    assert rollback_triggers(mixed, POLICY) == ()


def test_a_loss_within_the_threshold_is_not_a_loss() -> None:
    policy = replace(POLICY, loss_threshold=D(10))

    assert rollback_triggers((replace(CALM, pnl=D(-10)),) * 2, policy) == ()
    assert rollback_triggers((replace(CALM, pnl=D(-11)),) * 2, policy) == ("REPEATED_LOSSES",)


def test_a_trigger_on_a_good_version_stops_proposals_but_rolls_nothing_back() -> None:
    step = run(start(), CALM, CALM, replace(CALM, drawdown_pct=D("0.5")))[-1]

    assert step.outcome == "UNHEALTHY"
    assert step.triggers == ("DRAWDOWN_BREACH",)
    assert step.state.active == 1
    assert step.state.active_version.status is VersionStatus.GOOD
    assert step.events == ()


def test_a_proposal_equal_to_a_bad_version_is_not_tried_again() -> None:
    rolled = run(changed_once(), replace(CALM, drawdown_pct=D(1)))[-1].state

    step = run(rolled, CALM, CALM, CALM)[-1]

    assert step.outcome == "KNOWN_BAD"
    assert step.state.active == 1


def test_rollback_restores_the_latest_good_version_not_the_first() -> None:
    state = run(changed_once(), CALM, CALM, CALM)[-1].state  # 2 good, 3 pending
    good = state.version(2)

    step = run(state, replace(CALM, drawdown_pct=D(1)))[-1]

    assert step.state.active_version == good
    assert step.state.version(3).status is VersionStatus.BAD


@pytest.mark.parametrize(
    "settings_",
    [
        {"window_cycles": 0},
        {"window_cycles": 2, "throttle_cycles": 3},
        {"max_fields_per_change": 0},
    ],
)
def test_a_policy_whose_window_cannot_hold_its_runs_is_refused(settings_: dict) -> None:
    with pytest.raises(ValueError):
        AdaptationPolicy(**{"loss_cycles": 1, "throttle_cycles": 1, **settings_})


def test_the_state_round_trips_through_json() -> None:
    state = run(changed_once(), CALM, replace(CALM, rejects=1, throttled=True))[-1].state

    document = json.loads(json.dumps(state.as_json()))

    assert adaptation_state_from_json(document) == state
    assert document["versions"][1]["params"]["turnover_cap"] == "1050.00"


def test_a_json_state_whose_active_version_is_missing_is_refused() -> None:
    document = {**start().as_json(), "active": 7}

    with pytest.raises(ValueError, match="active version 7"):
        adaptation_state_from_json(document)


# --- properties ------------------------------------------------------------------------

outcomes = st.builds(
    CycleOutcome,
    ts_ms=st.just(0),
    mode=st.sampled_from([Mode.NORMAL] * 8 + [Mode.REDUCE_RISK_ONLY, Mode.OBSERVE_ONLY]),
    drawdown_pct=st.sampled_from([D(0)] * 12 + [D("0.02"), D("0.085"), D("0.12")]),
    pnl=st.sampled_from([D(5)] * 4 + [D(0), D(-3)]),
    rejects=st.sampled_from([0] * 12 + [1, 3]),
    throttled=st.sampled_from([False] * 6 + [True]),
)
start_params = st.fixed_dictionaries(
    {
        "universe_size": st.integers(1, 50).map(D),
        "order_offset_bps": st.integers(0, 50).map(D),
        "turnover_cap": st.integers(0, 5000).map(D),
        "max_orders_per_cycle": st.integers(1, 20).map(D),
    }
)
CODES = {
    "params.change": {
        "THROTTLED_FEWER_ORDERS",
        "REJECTS_SMALLER_OFFSET",
        "NEAR_DRAWDOWN_LOWER_TURNOVER",
        "HEALTHY_WINDOW_EXPAND",
    },
    "params.rollback": {
        "DRAWDOWN_BREACH",
        "REJECT_SPIKE",
        "REPEATED_THROTTLING",
        "REPEATED_LOSSES",
    },
    "params.confirm": {"HEALTHY_WINDOW_CONFIRMED"},
}


@settings(max_examples=300, deadline=None)
@given(
    params=start_params,
    window=st.integers(2, 5),
    fields=st.integers(1, 3),
    sequence=st.lists(outcomes, min_size=1, max_size=60),
)
def test_rollback_restores_exactly_the_last_good_version(
    params: dict, window: int, fields: int, sequence: list[CycleOutcome]
) -> None:
    policy = AdaptationPolicy(
        enabled=True,
        window_cycles=window,
        throttle_cycles=2,
        loss_cycles=2,
        max_fields_per_change=fields,
    )
    state = start(params)
    for i, outcome in enumerate(sequence):
        good = [v for v in state.versions if v.status is VersionStatus.GOOD]
        last_good = max(good, key=lambda v: v.number)
        step = adaptation_step(
            state, replace(outcome, ts_ms=T0 + i * MINUTE), policy=policy, bounds=BOUNDS
        )
        after = step.state
        if step.outcome == "ROLLED_BACK":
            assert state.active_version.status is VersionStatus.PENDING
            assert after.active_version == last_good  # number, params, parent, status, when, why
            assert dict(after.active_version.params) == dict(last_good.params)
            assert after.version(state.active).status is VersionStatus.BAD
        # versions are never lost or rewritten, except a status moving on
        assert [v.number for v in after.versions[: len(state.versions)]] == [
            v.number for v in state.versions
        ]
        for old, new in zip(state.versions, after.versions, strict=False):
            assert (old.params, old.parent, old.created_ms) == (
                new.params,
                new.parent,
                new.created_ms,
            )
        # every version stays inside its bounds, a change moves at most K fields
        active = after.active_version
        assert params_clamp(active.params, BOUNDS).clamped == frozenset()
        if step.outcome == "CHANGED":
            parent = after.version(active.parent)
            moved = {n for n in active.params if active.params[n] != parent.params[n]}
            assert 1 <= len(moved) <= fields
        for event in step.events:
            assert event.reason in CODES[event.action]
        state = after


def test_the_universe_size_bound_stops_at_the_pairs_there_are() -> None:
    assert adaptable_bounds(pairs=4)["universe_size"].maximum == D(4)
    assert adaptable_bounds(pairs=0)["universe_size"].maximum == D(1)  # never below the minimum
    assert adaptable_bounds(pairs=500)["universe_size"] == DEFAULT_BOUNDS["universe_size"]
    assert params_clamp({"universe_size": D(9)}, adaptable_bounds(pairs=4)).params == {
        "universe_size": D(4)
    }
