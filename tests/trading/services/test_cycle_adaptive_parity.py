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
from django.conf import settings

from ledger.models import EquitySnapshot
from replay.domain.dataset import load_dataset
from replay.domain.engine import BacktestConfig, run_backtest
from tests.trading.services.test_cycle_sandbox import (  # noqa: F401 - fixtures
    ACTOR,
    CASH,
    PARAMS,
    exchange,
    sandbox,
)
from trading.domain.adaptation import adaptation_state_from_json, adaptation_step
from trading.domain.planner import plan_cycle
from trading.domain.strategies.registry import build_strategy
from trading.domain.universe_governance import UniverseState, universe_state_from_json
from trading.domain.universe_plan import adaptation_initial_params, cycle_outcome
from trading.domain.venue import FillModel
from trading.exchange.simulated import SimulatedExchange
from trading.models import Account, AuditEvent, Cycle, Order, ParamSet
from trading.services import cycle as cycle_service
from trading.services.accounts import account_create
from trading.services.adaptive import adaptive_load
from trading.services.adaptive_config import reject_window_ms
from trading.services.cycle import cycle_run
from trading.services.execution import plan_execute
from trading.services.export import dataset_export
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


def test_a_governed_adapting_paper_session_backtested_makes_the_same_decisions(
    exchange,  # noqa: F811
    tmp_path,
) -> None:
    account_create(
        name="governed-bt",
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
    for _ in range(30):
        exchange.advance(1)
        cycles.append(cycle_run(account_name="governed-bt", actor=ACTOR))
    assert all(c.status == "completed" for c in cycles)
    account = Account.objects.get(name="governed-bt")
    limits = risk_limits_from_settings(account.risk)
    context = adaptive_load(
        account=Account(**{**_fields(account), "adaptation_state": {}}),
        limits=limits,
        now_ms=cycles[0].now_ms,
    )

    export = dataset_export(account=account, out=tmp_path / "export")
    dataset = load_dataset(export.out)
    config = BacktestConfig(
        strategy=build_strategy(account.strategy, account.params),
        limits=limits,
        fee_maker_bps=account.fee_maker_bps,
        fee_taker_bps=account.fee_taker_bps,
        initial_cash=CASH,
        fill_model=FillModel(account.fill_model),
        max_volume_share=settings.BACKTEST_MAX_VOLUME_SHARE,
        start_ms=export.first_cycle_ms - dataset.interval_ms,
        account=account.name,
        universe_governance=context.governance,
        adaptation=context.policy,
        adaptation_params=adaptation_initial_params(context.governance, limits),
        adaptation_bounds=context.bounds,
        reject_window_ms=reject_window_ms(account.universe),
    )
    backtest = run_backtest(dataset, config, execute=plan_execute, port=SimulatedExchange)

    assert [c.now_ms for c in cycles] == [r.now_ms for r in backtest.cycles]
    assert [tuple(c.universe) for c in cycles] == [
        tuple(s.pair_normalized for s in r.universe) for r in backtest.cycles
    ]
    paper_orders = [
        (o.cycle.now_ms, o.symbol, o.side, o.client_order_id)
        for o in Order.objects.filter(account="governed-bt").order_by("cycle__now_ms", "id")
    ]
    assert paper_orders == [
        (r.now_ms, o.symbol.pair_normalized, o.side.value, o.client_order_id)
        for r in backtest.cycles
        for o in r.orders
    ]
    final = adaptation_state_from_json(account.adaptation_state)
    assert final.versions == backtest.param_versions
    assert len(final.versions) > 1
