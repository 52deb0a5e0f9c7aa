"""Universe governance and parameter adaptation in the paper/live cycle (issue 11).

:func:`adaptive_load` runs in the cycle's snapshot, under the account's cycle lock: it reads
the account's settings and carried state (``universe_state``, ``adaptation_state``; version 1
is started, not yet written, when adaptation is on and nothing is stored), the recent
rejects per symbol (``Order`` rows rejected with a symbol code, by their cycle's clock) and
whether the exchange is degraded (an open ``CLOCK_SKEW`` or ``CYCLE_FAILURES`` alert). The
cycle passes what it returns to the planner (``CycleSetup.universe_governance`` and
``params``, ``cycle_inputs_build(universe_state=..., symbol_rejects=...,
exchange_degraded=...)``), the same inputs a backtest gives it.

:func:`adaptive_record` runs inside the cycle record's transaction: it stores the plan's next
universe state, writes an ``AuditEvent`` per universe event (``universe.symbol_added`` ...,
reason = the event's code), and, when adaptation is on and no version is pinned, builds the
cycle's :class:`~trading.domain.adaptation.CycleOutcome`, calls
:func:`~trading.domain.adaptation.adaptation_step`, stores the next state, mirrors the
versions into ``ParamSet`` rows (new versions created, statuses updated; the account's
``active_param_set`` follows) and writes an ``AuditEvent`` per adaptation event
(``params.change``, ``params.confirm``, ``params.rollback``, reason = its code).

Manual actions (:mod:`trading.services.adaptive_actions`) roll back to a good version or pin
one under the same lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from meva.errors import ApplicationError
from trading.domain.adaptation import (
    AdaptationEvent,
    AdaptationPolicy,
    AdaptationState,
    adaptation_start,
    adaptation_state_from_json,
    adaptation_step,
)
from trading.domain.adaptation_bounds import FieldBound, Params, adaptable_bounds
from trading.domain.orders import OrderStatus
from trading.domain.planner import CyclePlan
from trading.domain.risk import RiskLimits
from trading.domain.symbols import Symbol, SymbolError, parse_symbol
from trading.domain.universe_governance import (
    UniverseEvent,
    UniverseState,
    universe_state_from_json,
)
from trading.domain.universe_plan import (  # adaptation_initial_params: re-exported
    UniverseGovernance,
    adaptation_initial_params,
    cycle_outcome,
)
from trading.domain.universe_scoring import RejectRecord, symbol_rejects_count
from trading.models import Account, Alert, Cycle, Order, ParamSet
from trading.services.adaptive_config import (
    adaptation_policy_build,
    reject_window_ms,
    universe_governance_build,
)
from trading.services.audit import audit_record

DEGRADED_ALERT_KINDS = ("CLOCK_SKEW", "CYCLE_FAILURES")
FREEZE_CODES = frozenset({"KEPT_DEGRADED", "KEPT_STALE", "KEPT_CHURN_CAP"})


@dataclass(frozen=True, slots=True)
class AdaptiveContext:
    """What :func:`adaptive_load` read for one cycle. ``governance`` ``None`` = universe
    governance off; ``adaptation`` ``None`` = adaptation off; ``started`` the adaptation state
    was created this cycle (version 1, to be written); ``universe_outcome`` the previous
    cycle's governance outcome (freeze events are audited when they begin)."""

    governance: UniverseGovernance | None
    universe_state: UniverseState
    universe_outcome: str
    rejects: Mapping[Symbol, int]
    degraded: bool
    policy: AdaptationPolicy | None = None
    bounds: Mapping[str, FieldBound] = field(default_factory=dict)
    adaptation: AdaptationState | None = None
    started: bool = False
    pinned: bool = False

    @property
    def params(self) -> Params | None:
        """The active version's parameters, for ``CycleSetup.params`` (``None``: off)."""
        return None if self.adaptation is None else self.adaptation.active_version.params


def adaptive_load(*, account: Account, limits: RiskLimits, now_ms: int) -> AdaptiveContext:
    """Read the account's governance and adaptation inputs for the cycle at ``now_ms``
    (module docstring). ``limits`` the account's configured risk limits. Raises
    ``ApplicationError`` for a malformed stored state (a hand-edited row must not silently
    reset it)."""
    quote = account.quote_asset
    governance = universe_governance_build(account.universe or {}, limits, quote=quote)
    state_json = account.universe_state or {}
    universe_state = stored_state_parse(universe_state_from_json, state_json, "universe_state")
    context = AdaptiveContext(
        governance=governance,
        universe_state=universe_state or UniverseState(),
        universe_outcome=str(state_json.get("outcome", "")),
        rejects=_rejects(account, now_ms) if governance is not None else {},
        degraded=governance is not None and _degraded(account),
    )
    adaptation = account.adaptation or {}
    if not adaptation.get("enabled"):
        return context
    policy = adaptation_policy_build(adaptation)
    # a universe never grows past the account's pairs (as a backtest's past its dataset's)
    bounds = adaptable_bounds(
        turnover_cap_max=limits.max_cycle_notional, pairs=len(account.symbols)
    )
    state = stored_state_parse(
        adaptation_state_from_json, account.adaptation_state, "adaptation_state"
    )
    started = state is None
    if state is None:
        state = adaptation_start(
            adaptation_initial_params(governance, limits), bounds=bounds, now_ms=now_ms
        )
    return replace(
        context,
        policy=policy,
        bounds=bounds,
        adaptation=state,
        started=started,
        pinned=account.params_pinned,
    )


def stored_state_parse(parse, data: Mapping | None, name: str):
    """``parse(data)``, ``None`` for an empty document; raises ``ApplicationError`` naming
    the account field ``name`` for a malformed one."""
    if not data:
        return None
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ApplicationError(f"account {name} is malformed: {exc!r}") from None


def _rejects(account: Account, now_ms: int) -> dict[Symbol, int]:
    """Rejects per symbol over the reject window, timed by their cycle's clock."""
    window = reject_window_ms(account.universe or {})
    rows = Order.objects.filter(
        account=account.name,
        status=OrderStatus.REJECTED.value,
        cycle__now_ms__gt=now_ms - window,
        cycle__now_ms__lte=now_ms,
    ).values_list("symbol", "reject_code", "cycle__now_ms")
    records = []
    for symbol, code, ts in rows:
        try:
            records.append(RejectRecord(parse_symbol(symbol), code, ts))
        except SymbolError:
            continue
    return symbol_rejects_count(records, now_ms=now_ms, window_ms=window)


def _degraded(account: Account) -> bool:
    return Alert.objects.filter(
        kind__in=DEGRADED_ALERT_KINDS,
        account__in=[account.name, ""],
        acknowledged_at__isnull=True,
    ).exists()


def adaptive_record(
    *,
    account: Account,
    cycle: Cycle,
    context: AdaptiveContext,
    plan: CyclePlan,
    rejected: int,
    drawdown_pct: Decimal,
    previous_equity: Decimal | None,
    actor: str,
) -> None:
    """Persist the cycle's governance and adaptation (module docstring). Call inside the
    cycle record's transaction. ``rejected`` orders the venue rejected this cycle;
    ``drawdown_pct`` percent (0..100) after it; ``previous_equity`` the equity before it."""
    updates: dict[str, object] = {}
    if context.governance is not None and plan.universe_state is not None:
        updates["universe_state"] = {
            **plan.universe_state.as_json(),
            "outcome": plan.universe_outcome,
        }
        for event in plan.universe_events:
            if event.code in FREEZE_CODES and context.universe_outcome == plan.universe_outcome:
                continue  # a freeze is audited when it begins, not every cycle it lasts
            _universe_audit(account, cycle, plan, event, actor)
    if context.adaptation is not None:
        updates.update(_adaptation_record(account, cycle, context, plan, rejected,
                                          drawdown_pct, previous_equity, actor))  # fmt: skip
    if updates:
        Account.objects.filter(pk=account.pk).update(**updates)
        for name, value in updates.items():
            setattr(account, name, value)


def _universe_audit(
    account: Account, cycle: Cycle, plan: CyclePlan, event: UniverseEvent, actor: str
) -> None:
    audit_record(
        actor=actor,
        action=f"universe.{event.code.lower()}"[:64],
        account=account.name,
        object_type="cycle",
        object_id=str(cycle.pk),
        after={
            "code": event.code,
            "symbol": None if event.symbol is None else str(event.symbol),
            "detail": event.detail,
            "outcome": plan.universe_outcome,
            "universe": [str(s) for s in plan.universe],
        },
        reason=f"{event.code}: {event.detail}" if event.detail else event.code,
    )


def _adaptation_record(
    account: Account,
    cycle: Cycle,
    context: AdaptiveContext,
    plan: CyclePlan,
    rejected: int,
    drawdown_pct: Decimal,
    previous_equity: Decimal | None,
    actor: str,
) -> dict[str, object]:
    state = context.adaptation
    events: tuple[AdaptationEvent, ...] = ()
    if context.started:
        events = (AdaptationEvent("params.start", "INITIAL", 0, state.active, plan.now_ms),)
    if not context.pinned:
        outcome = cycle_outcome(
            plan, drawdown_pct=drawdown_pct, previous_equity=previous_equity, rejects=rejected
        )
        step = adaptation_step(state, outcome, policy=context.policy, bounds=context.bounds)
        state, events = step.state, events + step.events
    return adaptation_persist(account=account, state=state, events=events, actor=actor, cycle=cycle)


def adaptation_persist(
    *,
    account: Account,
    state: AdaptationState,
    events: tuple[AdaptationEvent, ...],
    actor: str,
    cycle: Cycle | None = None,
    user: object = None,
    typed_reason: str = "",
) -> dict[str, object]:
    """Mirror ``state`` into the account's ``ParamSet`` rows (create new versions, update
    statuses; a status change records its event's reason code as the row's ``outcome``),
    write one ``AuditEvent`` per event and return the account fields to update
    (``adaptation_state``, ``active_param_set``). Call inside the change's transaction."""
    outcomes = {}
    for event in events:
        if event.action == "params.rollback":
            outcomes[event.from_version] = event.reason
        elif event.action == "params.confirm":
            outcomes[event.to_version] = event.reason
    rows = {row.version: row for row in ParamSet.objects.filter(account=account)}
    for version in state.versions:
        row = rows.get(version.number)
        params = {name: str(version.params[name]) for name in sorted(version.params)}
        if row is None:
            parent = rows.get(version.parent) if version.parent is not None else None
            rows[version.number] = ParamSet.objects.create(
                account=account,
                version=version.number,
                params=params,
                parent=parent,
                status=version.status.value,
                reason=version.reason,
                created_ms=version.created_ms,
            )
        elif row.status != version.status.value:
            row.status = version.status.value
            row.outcome = outcomes.get(version.number, row.outcome)[:64]
            row.save(update_fields=["status", "outcome", "updated_at"])
    for event in events:
        _adaptation_audit(account, rows, event, actor, cycle, user, typed_reason)
    return {"adaptation_state": state.as_json(), "active_param_set": rows[state.active]}


def _adaptation_audit(
    account: Account,
    rows: dict[int, ParamSet],
    event: AdaptationEvent,
    actor: str,
    cycle: Cycle | None,
    user: object,
    typed_reason: str,
) -> None:
    before = rows.get(event.from_version)
    after = rows[event.to_version]
    audit_record(
        actor=actor,
        user=user,
        action=event.action,
        account=account.name,
        object_type="param_set",
        object_id=str(after.pk),
        before=None if before is None else {"version": before.version, "params": before.params},
        after={
            "version": after.version,
            "params": after.params,
            "status": after.status,
            "cycle": None if cycle is None else cycle.pk,
            "changes": [
                {
                    "field": c.name,
                    "before": c.before,
                    "after": c.after,
                    "reason": c.reason,
                    "clamped": c.clamped,
                }
                for c in event.changes
            ],  # fmt: skip
        },
        reason=f"{event.reason}: {typed_reason}" if typed_reason else event.reason,
    )
