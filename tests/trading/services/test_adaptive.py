"""Universe governance and adaptation around the paper/live cycle, without an exchange:
settings validated with errors naming the key, state loaded and round-tripped, ParamSet rows
and audit events with reason codes, automatic rollback to the last good version, and the
operator's rollback and pin.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from meva.locks import single_flight
from trading.domain.adaptation import (
    AdaptationState,
    ParamVersion,
    VersionStatus,
    adaptation_state_from_json,
)
from trading.domain.planner import CyclePlan
from trading.domain.risk import Mode, RiskLimits, RiskState
from trading.domain.symbols import parse_symbol
from trading.domain.universe_governance import UniverseEvent, UniverseState
from trading.models import Account, AuditEvent, Cycle, CycleStatus, Order, ParamSet
from trading.services.account_config import AccountConfigError
from trading.services.accounts import account_create, account_update
from trading.services.adaptive import adaptive_load, adaptive_record
from trading.services.adaptive_actions import (
    ParamsActionError,
    params_pin,
    params_rollback,
    params_unpin,
)
from trading.services.operator_actions import OperatorActionBusy

D = Decimal
ACTOR = "command:test"
NOW = 1_796_000_000_000
BTC, ETH = parse_symbol("BTC_TRY"), parse_symbol("ETH_TRY")
LIMITS = RiskLimits(max_cycle_notional=D(2000))

pytestmark = pytest.mark.django_db


def account(universe: dict | None = None, adaptation: dict | None = None) -> Account:
    return account_create(
        name="adaptive",
        mode="paper",
        strategy="mean_reversion",
        symbols=["BTC_TRY", "ETH_TRY"],
        balances={"TRY": "100000"},
        actor=ACTOR,
        universe=universe,
        adaptation=adaptation,
    )


def plan(now_ms: int = NOW, *, equity: str = "100000", **extra: object) -> CyclePlan:
    return CyclePlan(
        now_ms, Mode.NORMAL, (), (BTC,), {}, (), (), (), (), None, RiskState(), D(equity), **extra
    )


def cycle(acct: Account, now_ms: int = NOW) -> Cycle:
    return Cycle.objects.create(
        account=acct.name, mode="paper", status=CycleStatus.RUNNING, now_ms=now_ms
    )


def record(acct: Account, context, the_plan: CyclePlan, *, drawdown: str = "0") -> None:
    adaptive_record(
        account=acct,
        cycle=cycle(acct, the_plan.now_ms),
        context=context,
        plan=the_plan,
        rejected=0,
        drawdown_pct=D(drawdown),
        previous_equity=D(100000),
        actor=ACTOR,
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("universe", {"size": 0}, "universe: size: 0 must be between 1 and 50"),
        ("universe", {"weights": {"volume": "-1"}}, "universe: weights.volume: '-1' must be"),
        ("universe", {"weights": {"speed": 1}}, "universe: weights.speed: unknown weight"),
        ("universe", {"allow": ["NOPE"]}, "universe: allow:"),
        ("universe", {"colour": 1}, "universe: colour: unknown key"),
        ("universe", {"enabled": "yes"}, "universe: enabled: 'yes' must be true or false"),
        ("adaptation", {"window_cycles": 2, "loss_cycles": 3}, "adaptation: window_cycles:"),
        ("adaptation", {"max_drawdown_pct": "2"}, "adaptation: max_drawdown_pct: '2' must be"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field_and_key(
    field: str, value: dict, message: str
) -> None:
    with pytest.raises(AccountConfigError) as error:
        account(**{field: value})

    assert error.value.field == field
    assert str(error.value).startswith(message)


def test_settings_are_off_by_default_and_normalized_when_given() -> None:
    plain = account()
    assert (plain.universe, plain.adaptation) == ({}, {})

    changed = account_update(
        account=plain,
        changes={"universe": {"enabled": True, "size": "2", "weights": {"volume": 1}}},
        actor=ACTOR,
    )

    assert changed.universe == {"enabled": True, "size": 2, "weights": {"volume": "1"}}
    assert AuditEvent.objects.filter(action="account.update", account="adaptive").exists()


def test_with_both_off_nothing_is_loaded_and_nothing_recorded() -> None:
    acct = account()
    context = adaptive_load(account=acct, limits=LIMITS, now_ms=NOW)

    assert context.governance is None and context.params is None
    record(acct, context, plan())
    acct.refresh_from_db()
    assert acct.universe_state == {} and acct.adaptation_state == {}
    assert not ParamSet.objects.exists()


def test_the_universe_state_round_trips_and_recent_rejects_are_counted_by_cycle_clock() -> None:
    acct = account(universe={"enabled": True, "size": 1, "reject_window_s": 600})
    state = UniverseState(symbols=(BTC,), reject_cooldowns={ETH: NOW + 5}, changes_today=1)
    Account.objects.filter(pk=acct.pk).update(universe_state=state.as_json())
    acct.refresh_from_db()
    for i, ts in enumerate((NOW - 60_000, NOW - 700_000)):
        Order.objects.create(
            account=acct.name, cycle=cycle(acct, ts), client_order_id=f"r{i}", symbol="ETH_TRY",
            side="buy", order_type="limit", quantity=D(1), status="REJECTED",
            reject_code="MIN_NOTIONAL",
        )  # fmt: skip

    context = adaptive_load(account=acct, limits=LIMITS, now_ms=NOW)

    assert context.universe_state == state
    assert context.rejects == {ETH: 1}  # the older one is outside the 600 s window
    assert context.governance.governance.size == 1


def test_universe_events_are_audited_with_their_reason_code_and_the_state_is_stored() -> None:
    acct = account(universe={"enabled": True, "size": 1})
    context = adaptive_load(account=acct, limits=LIMITS, now_ms=NOW)
    nxt = UniverseState(symbols=(BTC,))
    events = (
        UniverseEvent("SYMBOL_ADDED", BTC),
        UniverseEvent("SYMBOL_REMOVED", ETH, "RANKED_OUT"),
    )

    record(
        acct, context, plan(universe_state=nxt, universe_outcome="UPDATED", universe_events=events)
    )

    acct.refresh_from_db()
    assert acct.universe_state["symbols"] == ["BTC_TRY"]
    rows = AuditEvent.objects.filter(account="adaptive", action__startswith="universe.")
    assert sorted(rows.values_list("action", "reason")) == [
        ("universe.symbol_added", "SYMBOL_ADDED"),
        ("universe.symbol_removed", "SYMBOL_REMOVED: RANKED_OUT"),
    ]


def test_a_freeze_is_audited_when_it_begins_not_every_cycle() -> None:
    acct = account(universe={"enabled": True})
    frozen = {"universe_state": UniverseState(), "universe_outcome": "KEPT_STALE",
              "universe_events": (UniverseEvent("KEPT_STALE"),)}  # fmt: skip
    for i in range(3):
        acct.refresh_from_db()
        context = adaptive_load(account=acct, limits=LIMITS, now_ms=NOW + i)
        record(acct, context, plan(NOW + i, **frozen))

    assert AuditEvent.objects.filter(action="universe.kept_stale").count() == 1


def test_adaptation_starts_at_a_good_version_one_from_the_configured_policies() -> None:
    acct = account(universe={"enabled": True, "size": 3}, adaptation={"enabled": True})
    context = adaptive_load(account=acct, limits=LIMITS, now_ms=NOW)

    assert context.started
    assert context.params["universe_size"] == 2  # size 3 capped at the account's 2 pairs
    assert context.params["turnover_cap"] == 2000
    record(acct, context, plan())

    acct.refresh_from_db()
    first = ParamSet.objects.get(account=acct)
    assert (first.version, first.status, first.reason) == (1, "good", "INITIAL")
    assert acct.active_param_set == first
    assert adaptation_state_from_json(acct.adaptation_state).active == 1
    assert AuditEvent.objects.filter(action="params.start", reason="INITIAL").count() == 1


def with_pending(acct: Account) -> Account:
    """Version 1 good, version 2 pending and active (rows and state)."""
    base = {"universe_size": D(3), "turnover_cap": D(2000)}
    state = AdaptationState(
        (
            ParamVersion(1, base, None, VersionStatus.GOOD, NOW - 10, "INITIAL"),
            ParamVersion(2, {**base, "universe_size": D(4)}, 1, VersionStatus.PENDING, NOW - 5,
                         "HEALTHY_WINDOW_EXPAND"),
        ),
        2,
    )  # fmt: skip
    one = ParamSet.objects.create(account=acct, version=1, params={"universe_size": "3",
                                  "turnover_cap": "2000"}, status="good", reason="INITIAL")  # fmt: skip
    two = ParamSet.objects.create(account=acct, version=2, parent=one, status="pending",
                                  params={"universe_size": "4", "turnover_cap": "2000"},
                                  reason="HEALTHY_WINDOW_EXPAND")  # fmt: skip
    Account.objects.filter(pk=acct.pk).update(
        adaptation_state=state.as_json(), active_param_set=two
    )
    acct.refresh_from_db()
    return acct


def test_a_drawdown_breach_rolls_a_pending_version_back_to_the_last_good_one() -> None:
    acct = with_pending(
        account(
            universe={"enabled": True}, adaptation={"enabled": True, "max_drawdown_pct": "0.05"}
        )
    )
    context = adaptive_load(account=acct, limits=LIMITS, now_ms=NOW)
    assert context.params["universe_size"] == 4

    record(acct, context, plan(), drawdown="6")  # 6 % >= 5 %

    acct.refresh_from_db()
    two = ParamSet.objects.get(account=acct, version=2)
    assert (two.status, two.outcome) == ("bad", "DRAWDOWN_BREACH")
    assert acct.active_param_set.version == 1
    assert adaptive_load(account=acct, limits=LIMITS, now_ms=NOW + 1).params["universe_size"] == 3
    event = AuditEvent.objects.get(action="params.rollback")
    assert event.reason == "DRAWDOWN_BREACH"
    assert (event.before["version"], event.after["version"]) == (2, 1)


def test_an_operator_rolls_back_to_a_chosen_good_version(operator) -> None:
    acct = with_pending(account(adaptation={"enabled": True}))

    row = params_rollback(account_name=acct.name, version=1, user=operator, reason="too wide")

    acct.refresh_from_db()
    assert row.version == 1 and acct.active_param_set == row
    assert ParamSet.objects.get(account=acct, version=2).status == "bad"
    event = AuditEvent.objects.get(action="params.rollback")
    assert event.reason == "MANUAL_ROLLBACK: too wide"
    assert event.user == operator


@pytest.mark.parametrize(("version", "message"), [(2, "not good"), (9, "no parameter version 9")])
def test_a_rollback_needs_a_known_good_version(operator, version: int, message: str) -> None:
    acct = with_pending(account(adaptation={"enabled": True}))

    with pytest.raises(ParamsActionError, match=message):
        params_rollback(account_name=acct.name, version=version, user=operator, reason="x")


def test_a_pinned_version_is_kept_by_the_cycles_until_unpinned(operator) -> None:
    acct = with_pending(account(adaptation={"enabled": True, "max_drawdown_pct": "0.05"}))
    params_pin(account_name=acct.name, version=2, user=operator, reason="watch it")
    acct.refresh_from_db()
    assert acct.params_pinned

    record(acct, adaptive_load(account=acct, limits=LIMITS, now_ms=NOW), plan(), drawdown="9")

    acct.refresh_from_db()
    assert acct.active_param_set.version == 2  # no rollback while pinned
    params_unpin(account_name=acct.name, user=operator, reason="done")
    acct.refresh_from_db()
    assert not acct.params_pinned
    assert list(
        AuditEvent.objects.filter(action__in=["params.pin", "params.rollback", "params.unpin"])
        .order_by("id")
        .values_list("action", "reason")
    ) == [("params.pin", "PINNED: watch it"), ("params.unpin", "done")]


def test_an_action_while_a_cycle_holds_the_lock_is_refused(operator) -> None:
    acct = with_pending(account(adaptation={"enabled": True}))

    with single_flight("cycle_run:{account}", account=acct.name) as lease:
        assert lease
        with pytest.raises(OperatorActionBusy):
            params_rollback(account_name=acct.name, version=1, user=operator, reason="x")
