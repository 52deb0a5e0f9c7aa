"""Universe governance and parameter adaptation in backtests (issue 11).

The bundled 5-minute USDT sample has 4 pairs; a universe of 2 must change its selection under
the churn cap, and adaptation on a window built to trigger it must apply a change and roll one
back. Both reach the stored run (settings, decision rows with their events, ``ParamSet`` rows)
and its page; a run without them keeps its fingerprint.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import replace
from decimal import Decimal as D
from functools import partial
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from replay.domain.dataset import load_dataset
from replay.domain.engine import BacktestConfig
from replay.domain.engine import run_backtest as engine_run
from replay.models import BacktestCycle, BacktestRun
from trading.domain.adaptation import AdaptationPolicy, VersionStatus
from trading.domain.adaptation_bounds import adaptable_bounds, params_read
from trading.domain.risk import RiskLimits
from trading.domain.strategies.registry import build_strategy
from trading.domain.universe_governance import GovernancePolicy
from trading.domain.universe_plan import UniverseGovernance
from trading.domain.universe_scoring import CandidatePolicy, ScoringPolicy
from trading.exchange.simulated import SimulatedExchange
from trading.models import ParamSet
from trading.services.execution import plan_execute

run_backtest = partial(engine_run, execute=plan_execute, port=SimulatedExchange)
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "usdt-5m"
CAP = 2
END_MS = 1_704_067_200_000 + 2880 * 300_000  # ten days
GOVERNANCE = UniverseGovernance(
    ScoringPolicy(candidates=CandidatePolicy(quote="USDT")),
    GovernancePolicy(
        size=2, max_changes_per_day=CAP, probation_cycles=0, removal_cooldown_ms=3_600_000
    ),
)
LIMITS = RiskLimits()
# A window built to trigger: three healthy cycles propose a change, and a drawdown of 0.1 %
# while it is pending rolls it back.
ADAPT = AdaptationPolicy(
    enabled=True, window_cycles=3, max_drawdown_pct=D("0.001"), throttle_cycles=3, loss_cycles=3
)


@pytest.fixture(scope="module")
def usdt():
    return load_dataset(SAMPLE)


def config(**changes) -> BacktestConfig:
    base = BacktestConfig(
        strategy=build_strategy("sma_cross", {}),
        limits=LIMITS,
        fee_maker_bps=D(10),
        fee_taker_bps=D(10),
        initial_cash=D(100_000),
        end_ms=END_MS,
    )
    return replace(base, **changes)


def adapting(**changes) -> BacktestConfig:
    params = params_read(
        scoring=GOVERNANCE.scoring, governance=GOVERNANCE.governance, limits=LIMITS
    )
    return config(
        universe_governance=GOVERNANCE,
        adaptation=ADAPT,
        adaptation_params=params,
        adaptation_bounds=adaptable_bounds(turnover_cap_max=LIMITS.max_cycle_notional),
        **changes,
    )


def events_of(result) -> list[tuple[int, str]]:
    return [(c.now_ms, e) for c in result.cycles for e in c.events]


def test_a_universe_of_two_out_of_four_changes_under_the_churn_cap(usdt) -> None:
    result = run_backtest(usdt, config(universe_governance=GOVERNANCE))
    events = events_of(result)
    codes = Counter(e.split()[1] for _, e in events)

    assert codes["SYMBOL_REMOVED"] >= 3 and codes["SYMBOL_ADDED"] >= 5  # it keeps choosing
    assert codes["KEPT_CHURN_CAP"] >= 1  # and the cap holds it back
    changes = [
        (now_ms, e)
        for now_ms, e in events
        if e.startswith(("universe SYMBOL_ADDED", "universe SYMBOL_REMOVED"))
    ]
    seed_cycle = changes[0][0]  # filling the empty set is not churn
    per_day = Counter(
        (now_ms + 3 * 3_600_000) // 86_400_000  # the Istanbul trading day
        for now_ms, _ in changes
        if now_ms != seed_cycle
    )
    assert per_day and max(per_day.values()) <= CAP
    planned = [c.universe for c in result.cycles if c.universe is not None]
    held_free = [u for u in planned if len(u) <= 2]
    assert len(held_free) > len(planned) // 2  # the top 2 (plus held symbols, kept for exits)


def test_a_run_is_deterministic_and_governance_off_leaves_it_unchanged(usdt) -> None:
    plain, again = run_backtest(usdt, config()), run_backtest(usdt, config())
    governed = run_backtest(usdt, config(universe_governance=GOVERNANCE))

    assert plain.fingerprint == again.fingerprint
    assert governed.fingerprint != plain.fingerprint
    assert not any(c.events for c in plain.cycles)
    assert run_backtest(usdt, adapting()).fingerprint == run_backtest(usdt, adapting()).fingerprint


def test_adaptation_applies_a_change_and_rolls_one_back_to_the_last_good_version(usdt) -> None:
    result = run_backtest(usdt, adapting())
    texts = [e for _, e in events_of(result)]
    versions = {v.number: v for v in result.param_versions}

    assert any(t.startswith("params.change ") for t in texts)
    rollbacks = [t for t in texts if t.startswith("params.rollback ")]
    assert rollbacks, "the window is built to trigger a rollback"
    bad_to_good = re.match(r"params.rollback (\w+) v(\d+)->v(\d+)", rollbacks[0]).groups()
    reason, bad, good = bad_to_good[0], int(bad_to_good[1]), int(bad_to_good[2])
    assert reason == "DRAWDOWN_BREACH"
    assert versions[bad].status is VersionStatus.BAD
    assert versions[good].status is VersionStatus.GOOD and good < bad
    # the restored version is the newest good one older than the bad one
    older_good = [n for n, v in versions.items() if n < bad and v.status is VersionStatus.GOOD]
    assert good == max(older_good)


# --- the command, the stored run and its page -------------------------------------------------


@pytest.fixture
def imported(db) -> None:
    call_command("import_dataset", str(SAMPLE), "--name", "usdt", stdout=io.StringIO())


def backtest(*args: str) -> BacktestRun:
    out = io.StringIO()
    call_command(
        "backtest", "--dataset", "usdt", "--strategy", "sma_cross", "--end",
        "2024-01-11T00:00:00Z", *args, "--json", stdout=out,
    )  # fmt: skip
    return BacktestRun.objects.get(pk=json.loads(out.getvalue().strip().splitlines()[-1])["run_id"])


def test_universe_and_adapt_flags_reach_the_run_its_rows_and_its_page(imported, admin_client):
    run = backtest(
        "--universe", '{"size": 2, "max_changes_per_day": 2, "probation_cycles": 0}',
        "--adapt", '{"window_cycles": 3, "max_drawdown_pct": "0.001"}',
    )  # fmt: skip

    assert run.universe["size"] == 2 and run.universe["enabled"] is True
    assert run.adaptation["window_cycles"] == 3
    stored = [e for c in BacktestCycle.objects.filter(run=run) for e in c.events]
    assert any(e.startswith("universe SYMBOL_REMOVED") for e in stored)
    assert any(e.startswith("params.rollback") for e in stored)
    sets = ParamSet.objects.filter(backtest_run=run)
    assert sets.filter(status="bad").exists() and sets.get(version=1).reason == "INITIAL"
    sizes = {int(p.params["universe_size"]) for p in sets}
    assert max(sizes) == 4  # expansions stop at the dataset's pairs
    page = admin_client.get(reverse("admin:replay_backtestrun_change", args=[run.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="param-versions"' in html and 'id="governance-events"' in html
    assert "DRAWDOWN_BREACH" in html and "SYMBOL_REMOVED" in html


def test_bad_settings_name_the_flag_and_the_key(imported) -> None:
    with pytest.raises(CommandError, match=r"--universe: size: -1 must be between 1 and 50"):
        backtest("--universe", '{"size": -1}')
    with pytest.raises(CommandError, match=r"--adapt: windw: unknown key"):
        backtest("--adapt", '{"windw": 3}')
    assert not BacktestRun.objects.exists()
