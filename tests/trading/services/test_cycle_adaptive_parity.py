"""Paper/live parity with universe governance and adaptation on: the paper cycle against the
sandbox exchange and plain planner calls over the same inputs decide the same universe and
parameters, cycle after cycle.

Each cycle's ``CycleInputs`` is captured where the service hands it to the planner. The
planner is then called again over those inputs with the universe state *it* carried from the
previous call (not the stored one), and adaptation is stepped in memory over the same
outcomes: the universes, the stored universe state, the parameter versions and the parameters
each cycle used must all match.
"""

from __future__ import annotations

import pytest

from ledger.models import EquitySnapshot
from tests.trading.services.test_cycle_sandbox import (  # noqa: F401 - fixtures
    ACTOR,
    CASH,
    PARAMS,
    exchange,
    sandbox,
)
from trading.domain.adaptation import adaptation_state_from_json, adaptation_step
from trading.domain.planner import plan_cycle
from trading.domain.universe_governance import UniverseState, universe_state_from_json
from trading.domain.universe_plan import cycle_outcome
from trading.models import Account, AuditEvent, Cycle, ParamSet
from trading.services import cycle as cycle_service
from trading.services.accounts import account_create
from trading.services.adaptive import adaptive_load
from trading.services.cycle import cycle_run
from trading.services.risk import risk_limits_from_settings

pytestmark = pytest.mark.django_db

UNIVERSE = {"enabled": True, "size": 1, "probation_cycles": 0, "volume_bars": 5}
ADAPTATION = {
    "enabled": True,
    "window_cycles": 3,
    "throttle_cycles": 1,
    "loss_cycles": 1,
    "loss_threshold": "100000",  # equity moves with marks: no cycle counts as a loss here
    "max_drawdown_pct": "1",
}


@pytest.fixture
def captured(monkeypatch) -> list:
    seen: list = []

    def recording(inputs):
        plan = plan_cycle(inputs)
        seen.append((inputs, plan))
        return plan

    monkeypatch.setattr(cycle_service, "plan_cycle", recording)
    return seen


def test_paper_cycles_and_planner_calls_decide_the_same_universe_and_params(
    exchange,  # noqa: F811
    captured: list,
) -> None:
    account_create(
        name="governed",
        mode="paper",
        strategy="mean_reversion",
        params=PARAMS,
        symbols=["BTC_TRY", "ETH_TRY"],
        balances={"TRY": CASH},
        actor=ACTOR,
        universe=UNIVERSE,
        adaptation=ADAPTATION,
    )
    cycles = []
    for _ in range(12):
        exchange.advance(1)
        cycles.append(cycle_run(account_name="governed", actor=ACTOR))
    assert [c.status for c in cycles] == ["completed"] * 12
    assert len(captured) == 12
    account = Account.objects.get(name="governed")
    limits = risk_limits_from_settings(account.risk)

    # the universe: planner calls chained on their own state
    state = UniverseState()
    for (inputs, plan), row in zip(captured, cycles, strict=True):
        assert inputs.universe_state == state
        again = plan_cycle(inputs._replace(universe_state=state))
        assert again.universe == plan.universe
        assert [s.pair_normalized for s in again.universe] == row.universe
        state = again.universe_state
    assert universe_state_from_json(account.universe_state) == state

    # the parameters: adaptation stepped in memory over the same outcomes
    context = adaptive_load(account=Account(**{**_fields(account), "adaptation_state": {}}),
                            limits=limits, now_ms=captured[0][0].now_ms)  # fmt: skip
    adaptation = context.adaptation
    snapshots = list(EquitySnapshot.objects.filter(account="governed").order_by("ts"))
    previous = None
    for (inputs, plan), snap, row in zip(captured, snapshots, cycles, strict=True):
        params = adaptation.active_version.params
        assert inputs.universe_governance.governance.size == params["universe_size"]
        assert inputs.limits.max_orders_per_cycle == params["max_orders_per_cycle"]
        outcome = cycle_outcome(
            plan,
            drawdown_pct=snap.drawdown_pct,
            previous_equity=previous,
            rejects=row.counts["rejected"],
        )
        adaptation = adaptation_step(
            adaptation, outcome, policy=context.policy, bounds=context.bounds
        ).state
        previous = snap.equity
    assert adaptation_state_from_json(account.adaptation_state) == adaptation
    assert adaptation.active > 1, "a healthy window expanded the universe at least once"
    versions = list(ParamSet.objects.filter(account=account).order_by("version"))
    assert [v.version for v in versions] == [v.number for v in adaptation.versions]
    assert account.active_param_set.version == adaptation.active
    assert AuditEvent.objects.filter(
        account="governed", action="params.change", reason="HEALTHY_WINDOW_EXPAND"
    ).exists()
    assert AuditEvent.objects.filter(
        account="governed", action="universe.symbol_added", reason="SYMBOL_ADDED"
    ).exists()
    assert len(Cycle.objects.get(pk=cycles[-1].pk).universe) == 2


def _fields(account: Account) -> dict:
    return {
        f.attname: getattr(account, f.attname)
        for f in Account._meta.concrete_fields
        if f.attname != "id"
    }
