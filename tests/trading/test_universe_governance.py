"""Universe governance: top N, probation, removal and reject-spike cooldowns, the churn cap per
trading day, held symbols kept for their exits, and the previous set kept while the exchange
is degraded or the data is stale. The churn cap holds over any sequence of cycles.

Scores are built directly (best first); times are epoch ms, one cycle a minute.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.domain.market import BarWindow, MarketSnapshot
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol
from trading.domain.universe_governance import (
    GovernancePolicy,
    UniverseDecision,
    UniverseState,
    universe_govern,
    universe_state_from_json,
)
from trading.domain.universe_scoring import (
    ScoredSymbol,
    ScoringPolicy,
    SymbolMetrics,
    UniverseScores,
    universe_score,
)

D = Decimal
BTC, ETH, SOL, AVAX, XRP = (Symbol(b, "TRY") for b in ("BTC", "ETH", "SOL", "AVAX", "XRP"))
DAY = date(2026, 12, 6)
T0 = 1_796_000_000_000
MINUTE = 60_000
# no probation, a wide churn cap: each test narrows the rule it is about
OPEN = GovernancePolicy(size=2, probation_cycles=0, max_changes_per_day=100)


def scores_of(
    *symbols: Symbol,
    rejects: dict[Symbol, int] | None = None,
    excluded: dict[Symbol, str] | None = None,
    data_age_ms: int | None = 0,
) -> UniverseScores:
    """Ranked best first in the order given."""
    rejects = rejects or {}
    ranked = tuple(
        ScoredSymbol(
            s,
            D(len(symbols) - i) / len(symbols),
            SymbolMetrics(s, D(1), None, None, None, rejects.get(s, 0), 0),
            {},
        )
        for i, s in enumerate(symbols)
    )
    return UniverseScores(ranked, excluded or {}, data_age_ms)


def govern(
    state: UniverseState,
    scores: UniverseScores,
    *,
    policy: GovernancePolicy = OPEN,
    held: frozenset[Symbol] = frozenset(),
    now_ms: int = T0,
    day: date = DAY,
    degraded: bool = False,
) -> UniverseDecision:
    return universe_govern(
        state,
        scores,
        held=held,
        now_ms=now_ms,
        trading_day=day,
        exchange_degraded=degraded,
        policy=policy,
    )


def seeded(*symbols: Symbol, **changes: object) -> UniverseState:
    return replace(UniverseState(symbols=tuple(sorted(symbols)), day=DAY), **changes)


def test_the_first_selection_takes_the_top_n_and_is_not_counted_as_churn() -> None:
    decision = govern(UniverseState(), scores_of(SOL, BTC, ETH))

    assert decision.outcome == "SEEDED"
    assert decision.symbols == (BTC, SOL)
    assert decision.added == (BTC, SOL)
    assert decision.excluded == {ETH: "RANKED_OUT"}
    assert decision.state.changes_today == 0
    assert [e.code for e in decision.events] == ["SYMBOL_ADDED", "SYMBOL_ADDED"]


def test_scoring_exclusions_pass_through_with_their_reason() -> None:
    decision = govern(UniverseState(), scores_of(BTC, excluded={ETH: "SPREAD_TOO_WIDE"}))

    assert decision.excluded == {ETH: "SPREAD_TOO_WIDE"}


def test_an_unchanged_ranking_changes_nothing() -> None:
    decision = govern(seeded(BTC, ETH), scores_of(ETH, BTC, SOL))

    assert decision.outcome == "UNCHANGED"
    assert decision.state.symbols == (BTC, ETH)
    assert decision.events == ()


def test_a_better_symbol_replaces_the_worst_member_and_both_count_as_changes() -> None:
    decision = govern(seeded(BTC, ETH), scores_of(SOL, BTC, ETH))

    assert decision.outcome == "UPDATED"
    assert (decision.added, decision.removed) == ((SOL,), (ETH,))
    assert decision.state.changes_today == 2
    assert decision.excluded == {ETH: "RANKED_OUT"}
    removed = [e for e in decision.events if e.code == "SYMBOL_REMOVED"]
    assert [(e.symbol, e.detail) for e in removed] == [(ETH, "RANKED_OUT")]


def test_a_member_that_left_the_scores_is_removed_as_unlisted() -> None:
    decision = govern(seeded(BTC, XRP), scores_of(BTC))

    assert decision.removed == (XRP,)
    assert decision.excluded == {XRP: "UNLISTED"}


def test_a_member_excluded_by_scoring_is_removed_with_that_reason() -> None:
    decision = govern(seeded(BTC, ETH), scores_of(BTC, excluded={ETH: "NOT_TRADING"}))

    assert decision.removed == (ETH,)
    assert decision.events[-1].detail == "NOT_TRADING"


# --- probation -------------------------------------------------------------------------


def test_a_newcomer_waits_its_probation_cycles_before_it_is_added() -> None:
    policy = replace(OPEN, probation_cycles=2)
    state = seeded(BTC, ETH)
    ranking = scores_of(SOL, BTC, ETH)

    first = govern(state, ranking, policy=policy)
    second = govern(first.state, ranking, policy=policy, now_ms=T0 + MINUTE)
    third = govern(second.state, ranking, policy=policy, now_ms=T0 + 2 * MINUTE)

    assert first.outcome == second.outcome == "UNCHANGED"
    assert first.excluded[SOL] == second.excluded[SOL] == "PROBATION"
    assert first.symbols == second.symbols == (BTC, ETH)  # ETH keeps the slot meanwhile
    assert third.outcome == "UPDATED"
    assert third.symbols == (BTC, SOL)
    assert SOL not in third.state.probation


def test_probation_restarts_when_the_newcomer_drops_out_of_the_top() -> None:
    policy = replace(OPEN, probation_cycles=1)
    state = seeded(BTC, ETH)

    qualified = govern(state, scores_of(SOL, BTC, ETH), policy=policy)
    dropped = govern(qualified.state, scores_of(BTC, ETH, SOL), policy=policy)
    back = govern(dropped.state, scores_of(SOL, BTC, ETH), policy=policy)

    assert qualified.state.probation == {SOL: 1}
    assert dropped.state.probation == {}
    assert back.excluded[SOL] == "PROBATION"


def test_probation_applies_to_the_first_selection_too() -> None:
    policy = replace(OPEN, probation_cycles=1)

    first = govern(UniverseState(), scores_of(BTC, ETH), policy=policy)
    second = govern(first.state, scores_of(BTC, ETH), policy=policy)

    assert first.symbols == ()
    assert first.excluded == {BTC: "PROBATION", ETH: "PROBATION"}
    assert second.outcome == "SEEDED"
    assert second.symbols == (BTC, ETH)


# --- cooldowns -------------------------------------------------------------------------


def test_a_removed_symbol_cools_down_before_it_may_return() -> None:
    policy = replace(OPEN, removal_cooldown_ms=10 * MINUTE)
    removed = govern(seeded(BTC, ETH), scores_of(SOL, BTC, ETH), policy=policy)

    during = govern(removed.state, scores_of(ETH, BTC, SOL), policy=policy, now_ms=T0 + MINUTE)
    after = govern(during.state, scores_of(ETH, BTC, SOL), policy=policy, now_ms=T0 + 10 * MINUTE)

    assert removed.state.removal_cooldowns == {ETH: T0 + 10 * MINUTE}
    assert during.excluded[ETH] == "REMOVAL_COOLDOWN"
    assert during.symbols == (BTC, SOL)
    assert after.symbols == (BTC, ETH)
    assert ETH not in after.state.removal_cooldowns


def test_a_reject_spike_puts_the_symbol_in_a_cooldown_and_removes_it() -> None:
    policy = replace(OPEN, reject_spike_count=3, reject_cooldown_ms=30 * MINUTE)

    decision = govern(seeded(BTC, ETH), scores_of(BTC, ETH, SOL, rejects={BTC: 3}), policy=policy)

    assert decision.state.reject_cooldowns == {BTC: T0 + 30 * MINUTE}
    assert decision.symbols == (ETH, SOL)
    assert decision.excluded[BTC] == "REJECT_COOLDOWN"
    assert decision.events[0].code == "REJECT_SPIKE_COOLDOWN"
    assert decision.events[0].symbol == BTC


def test_rejects_below_the_spike_count_change_nothing() -> None:
    decision = govern(seeded(BTC, ETH), scores_of(BTC, ETH, rejects={BTC: 2}))

    assert decision.outcome == "UNCHANGED"
    assert decision.state.reject_cooldowns == {}


def test_a_reject_cooldown_is_not_extended_while_it_runs() -> None:
    policy = replace(OPEN, reject_cooldown_ms=30 * MINUTE)
    spiking = scores_of(BTC, ETH, SOL, rejects={BTC: 5})
    first = govern(seeded(BTC, ETH), spiking, policy=policy)

    again = govern(first.state, spiking, policy=policy, now_ms=T0 + MINUTE)

    assert again.state.reject_cooldowns == {BTC: T0 + 30 * MINUTE}
    assert not [e for e in again.events if e.code == "REJECT_SPIKE_COOLDOWN"]


# --- held symbols ----------------------------------------------------------------------


def test_a_held_member_is_kept_even_when_ranked_out_so_it_can_exit() -> None:
    decision = govern(seeded(BTC, ETH), scores_of(SOL, AVAX, BTC, ETH), held=frozenset({ETH}))

    assert decision.state.symbols == (AVAX, ETH, SOL)  # two best plus the held member
    assert decision.removed == (BTC,)
    assert ETH not in decision.excluded


def test_a_held_member_excluded_by_scoring_is_kept() -> None:
    decision = govern(
        seeded(BTC, ETH), scores_of(BTC, excluded={ETH: "NOT_TRADING"}), held=frozenset({ETH})
    )

    assert decision.outcome == "UNCHANGED"
    assert decision.symbols == (BTC, ETH)


def test_a_held_member_in_a_reject_cooldown_is_kept_for_exits_only() -> None:
    decision = govern(
        seeded(BTC, ETH), scores_of(BTC, ETH, rejects={ETH: 9}), held=frozenset({ETH})
    )

    assert decision.symbols == (BTC, ETH)
    assert decision.exit_only == frozenset({ETH})


def test_a_held_symbol_outside_the_set_is_traded_for_exits_only_and_is_no_change() -> None:
    decision = govern(seeded(BTC, ETH), scores_of(BTC, ETH, XRP), held=frozenset({XRP}))

    assert decision.outcome == "UNCHANGED"
    assert decision.symbols == (BTC, ETH, XRP)
    assert decision.state.symbols == (BTC, ETH)
    assert decision.exit_only == frozenset({XRP})
    assert XRP not in decision.excluded


# --- churn cap -------------------------------------------------------------------------


def test_changes_beyond_the_daily_cap_keep_the_previous_set() -> None:
    policy = replace(OPEN, max_changes_per_day=3)
    first = govern(seeded(BTC, ETH), scores_of(SOL, BTC, ETH), policy=policy)  # 2 changes

    second = govern(first.state, scores_of(AVAX, SOL, BTC), policy=policy, now_ms=T0 + MINUTE)

    assert first.state.changes_today == 2
    assert second.outcome == "KEPT_CHURN_CAP"
    assert second.symbols == (BTC, SOL)
    assert second.excluded == {AVAX: "CHURN_CAP"}
    assert second.state.changes_today == 2
    assert second.events[-1].code == "KEPT_CHURN_CAP"


def test_a_change_that_reaches_the_cap_exactly_is_applied() -> None:
    policy = replace(OPEN, max_changes_per_day=2)

    decision = govern(seeded(BTC, ETH), scores_of(SOL, BTC, ETH), policy=policy)

    assert decision.outcome == "UPDATED"
    assert decision.state.changes_today == 2


def test_a_new_trading_day_resets_the_change_count() -> None:
    policy = replace(OPEN, max_changes_per_day=2)
    state = seeded(BTC, ETH, changes_today=2)

    same_day = govern(state, scores_of(SOL, BTC, ETH), policy=policy)
    next_day = govern(state, scores_of(SOL, BTC, ETH), policy=policy, day=DAY + timedelta(1))

    assert same_day.outcome == "KEPT_CHURN_CAP"
    assert next_day.outcome == "UPDATED"
    assert next_day.state.day == DAY + timedelta(1)
    assert next_day.state.changes_today == 2


def test_a_newcomer_blocked_by_the_cap_stays_admissible() -> None:
    policy = replace(OPEN, probation_cycles=1, max_changes_per_day=2)
    state = seeded(BTC, ETH, changes_today=1, probation={SOL: 1})

    blocked = govern(state, scores_of(SOL, BTC, ETH), policy=policy)
    next_day = govern(
        blocked.state, scores_of(SOL, BTC, ETH), policy=policy, day=DAY + timedelta(1)
    )

    assert blocked.outcome == "KEPT_CHURN_CAP"
    assert blocked.state.probation == {SOL: 1}
    assert next_day.symbols == (BTC, SOL)


# --- freezes ---------------------------------------------------------------------------


def test_a_degraded_exchange_keeps_the_previous_set() -> None:
    decision = govern(seeded(BTC, ETH), scores_of(SOL, AVAX), degraded=True)

    assert decision.outcome == "KEPT_DEGRADED"
    assert decision.symbols == (BTC, ETH)
    assert decision.excluded == {SOL: "KEPT_DEGRADED", AVAX: "KEPT_DEGRADED"}
    assert [e.code for e in decision.events] == ["KEPT_DEGRADED"]


def test_stale_data_keeps_the_previous_set() -> None:
    policy = replace(OPEN, max_data_age_ms=MINUTE)

    stale = govern(seeded(BTC, ETH), scores_of(SOL, data_age_ms=MINUTE + 1), policy=policy)
    none = govern(seeded(BTC, ETH), scores_of(data_age_ms=None), policy=policy)
    at_limit = govern(seeded(BTC, ETH), scores_of(SOL, AVAX, data_age_ms=MINUTE), policy=policy)

    assert stale.outcome == none.outcome == "KEPT_STALE"
    assert stale.symbols == none.symbols == (BTC, ETH)
    assert at_limit.outcome == "UPDATED"


def test_a_freeze_keeps_cooldowns_and_probation_but_rolls_the_day() -> None:
    state = seeded(BTC, changes_today=3, probation={SOL: 1}, removal_cooldowns={ETH: T0 + 1})

    decision = govern(state, scores_of(SOL), degraded=True, day=DAY + timedelta(1))

    assert decision.state.symbols == (BTC,)
    assert decision.state.probation == {SOL: 1}
    assert decision.state.removal_cooldowns == {ETH: T0 + 1}
    assert decision.state.changes_today == 0


def bars_snapshot(symbol: Symbol, age_ms: int) -> MarketSnapshot:
    closes = [100.0, 101.0, 100.0]
    window = BarWindow([0, 1, 2], closes, closes, closes, closes, [1.0] * 3, 3, MINUTE)
    return MarketSnapshot(symbol, window, D(100), age_ms)


def test_a_replay_does_not_freeze_because_snapshot_ages_are_known() -> None:
    # the predecessor froze after the first replay cycle: its replay data had no age
    state = UniverseState()
    for cycle in range(3):
        market = {s: bars_snapshot(s, age_ms=MINUTE) for s in (BTC, ETH, SOL)}
        if cycle == 2:
            market[AVAX] = bars_snapshot(AVAX, age_ms=MINUTE)
        rules = {s: ExchangeRules(s, D(1), D("0.0001"), D(10)) for s in market}
        scores = universe_score(market=market, rules=rules, policy=ScoringPolicy())
        decision = govern(state, scores, policy=replace(OPEN, size=4), now_ms=T0 + cycle * MINUTE)
        state = decision.state

    assert decision.outcome == "UPDATED"
    assert decision.symbols == (AVAX, BTC, ETH, SOL)


@pytest.mark.parametrize(
    "settings_",
    [
        {"size": 0},
        {"reject_spike_count": 0},
        {"probation_cycles": -1},
        {"max_changes_per_day": -1},
        {"removal_cooldown_ms": -1},
    ],
)
def test_a_policy_with_an_impossible_setting_is_refused(settings_: dict) -> None:
    with pytest.raises(ValueError):
        GovernancePolicy(**settings_)


# --- persistence -----------------------------------------------------------------------


def test_the_state_round_trips_through_json() -> None:
    state = UniverseState(
        symbols=(BTC, ETH),
        removal_cooldowns={SOL: T0},
        reject_cooldowns={BTC: T0 + 1},
        probation={AVAX: 2},
        day=DAY,
        changes_today=3,
    )

    assert universe_state_from_json(state.as_json()) == state
    assert universe_state_from_json(UniverseState().as_json()) == UniverseState()


# --- properties ------------------------------------------------------------------------

UNIVERSE = (BTC, ETH, SOL, AVAX, XRP, Symbol("ADA", "TRY"))
cycle = st.fixed_dictionaries(
    {
        "ranking": st.permutations(UNIVERSE).flatmap(
            lambda p: st.integers(0, len(p)).map(lambda n: p[:n])
        ),
        "rejects": st.dictionaries(st.sampled_from(UNIVERSE), st.integers(0, 5), max_size=3),
        "held": st.frozensets(st.sampled_from(UNIVERSE), max_size=2),
        "degraded": st.integers(0, 9).map(lambda n: n == 0),
        "stale": st.integers(0, 9).map(lambda n: n == 0),
        "minutes": st.integers(1, 600),
    }
)
policies = st.builds(
    GovernancePolicy,
    size=st.integers(1, 5),
    removal_cooldown_ms=st.integers(0, 120).map(lambda m: m * MINUTE),
    probation_cycles=st.integers(0, 2),
    max_changes_per_day=st.integers(0, 6),
    reject_spike_count=st.integers(1, 4),
    reject_cooldown_ms=st.integers(0, 120).map(lambda m: m * MINUTE),
    max_data_age_ms=st.just(MINUTE),
)


@settings(max_examples=300, deadline=None)
@given(policy=policies, cycles=st.lists(cycle, min_size=1, max_size=40))
def test_governance_never_exceeds_its_churn_cap_over_any_sequence_of_cycles(
    policy: GovernancePolicy, cycles: list[dict]
) -> None:
    state, now = UniverseState(), T0
    changes_per_day: dict[date, int] = {}
    for spec in cycles:
        now += spec["minutes"] * MINUTE
        day = DAY + timedelta(days=(now - T0) // 86_400_000)
        scores = scores_of(
            *spec["ranking"],
            rejects=spec["rejects"],
            data_age_ms=2 * MINUTE if spec["stale"] else 0,
        )
        decision = govern(
            state,
            scores,
            policy=policy,
            held=spec["held"],
            now_ms=now,
            day=day,
            degraded=spec["degraded"],
        )
        before, after = set(state.symbols), set(decision.state.symbols)
        if before:
            changes_per_day[day] = changes_per_day.get(day, 0) + len(before ^ after)
        assert changes_per_day.get(day, 0) <= policy.max_changes_per_day
        assert decision.state.changes_today <= policy.max_changes_per_day
        assert set(decision.added) == after - before
        assert set(decision.removed) == before - after
        # held symbols are always traded, and members with a position are never removed
        assert spec["held"] <= set(decision.symbols)
        assert not (spec["held"] & set(decision.removed))
        assert len(after - spec["held"]) <= max(policy.size, len(before - spec["held"]))
        # every symbol seen but not traded carries a reason
        seen = set(spec["ranking"]) | before
        assert seen - set(decision.symbols) == set(decision.excluded)
        state = decision.state
