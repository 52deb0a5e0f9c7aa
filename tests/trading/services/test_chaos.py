"""The fault campaign (``trading.services.chaos``, ``manage.py chaos``): seeded scenarios
against the sandbox exchange, and invariant checks that catch what they claim to."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ledger.models import LedgerFill
from trading.services.accounts import account_create
from trading.services.chaos import INVARIANTS, chaos_run, scenario_plan

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample" / "try-1m"
pytestmark = pytest.mark.django_db


def _live_index(seed: int, *, wanted: str = "") -> int:
    """The first live scenario of ``seed`` whose faults include ``wanted``, without lost answers
    (they would make the planted fault's cycle ambiguous)."""
    for index in range(200):
        plan = scenario_plan(seed=seed, index=index, cycles=6)
        if plan.mode == "live" and wanted in plan.faults and "order_timeout" not in plan.faults:
            return index
    raise AssertionError("no such scenario")


def test_scenarios_are_seeded_and_fifty_of_them_cover_every_fault() -> None:
    plans = [scenario_plan(seed=7, index=i, cycles=5) for i in range(50)]
    assert plans == [scenario_plan(seed=7, index=i, cycles=5) for i in range(50)]
    assert plans != [scenario_plan(seed=8, index=i, cycles=5) for i in range(50)]
    kinds = Counter(item.split("=")[0] for plan in plans for item in plan.faults.split(",") if item)
    for kind in ("order_timeout", "http429", "http5xx", "ws_drop", "trade_dup"):
        assert kinds[kind] > 0, kind
    assert any(plan.clock_skew_ms for plan in plans)
    assert all(abs(plan.clock_skew_ms) < 5_000 for plan in plans)  # inside BTCTurk's window
    assert any(plan.cancel_rate for plan in plans)
    assert any(plan.max_volume_share for plan in plans)
    assert {plan.mode for plan in plans} == {"paper", "live"}
    assert len({plan.account for plan in plans}) == 50


def test_a_short_campaign_trades_under_faults_and_holds_every_invariant() -> None:
    results = chaos_run(scenarios=4, seed=3, cycles=6, dataset=SAMPLE)

    assert [r.violations for r in results] == [[], [], [], []]
    assert sum(r.orders for r in results) > 0 and sum(r.fills for r in results) > 0
    assert sum(sum(r.faults_fired.values()) for r in results) > 0
    assert all(sum(r.statuses.values()) == 6 for r in results)


def test_a_trade_missing_from_the_ledger_is_caught() -> None:
    index = _live_index(11)

    def lose_a_fill(sandbox, plan, step: int) -> None:
        fill = LedgerFill.objects.filter(account=plan.account).order_by("-id").first()
        if fill is not None and step >= 3:
            fill.entries.all().delete()
            fill.delete()

    [result] = chaos_run(
        scenarios=1, seed=11, first=index, cycles=6, dataset=SAMPLE, after_cycle=lose_a_fill
    )

    assert result.fills > 0
    kinds = {v.invariant for v in result.violations}
    assert "trades_once" in kinds and "balances" in kinds
    assert any("missing from the ledger" in v.detail for v in result.violations)


def test_a_client_order_id_sent_twice_is_caught() -> None:
    """The sandbox refuses a reused client id itself, so the duplicate is planted in its
    records, as an exchange without that check would hold it."""
    index = _live_index(12)

    def duplicate(sandbox, plan, step: int) -> None:
        venue_account = sandbox.exchange.account(sandbox.api_key)
        if step != 4 or not venue_account.orders:
            return
        record = next(iter(venue_account.orders.values()))
        venue_account.orders[10**9] = dataclasses.replace(record, exchange_id=10**9)

    [result] = chaos_run(
        scenarios=1, seed=12, first=index, cycles=6, dataset=SAMPLE, after_cycle=duplicate
    )

    duplicates = [v for v in result.violations if v.invariant == "unique_client_ids"]
    assert duplicates and "sent twice" in duplicates[0].detail
    assert all(v.cycle >= 4 or v.cycle == -1 for v in result.violations)  # none before planting


def test_the_command_prints_a_table_and_a_json_summary() -> None:
    out = StringIO()
    call_command("chaos", "--scenarios", "2", "--seed", "5", "--cycles", "3", "--json", stdout=out)
    lines = out.getvalue().splitlines()
    summary = json.loads(lines[-1])
    assert summary["scenarios"] == 2 and summary["cycles"] == 6
    assert summary["violations"] == 0
    assert set(summary["by_invariant"]) == set(INVARIANTS)
    assert any(line.startswith("#0 ") for line in lines)
    assert any(line.startswith("unique_client_ids") for line in lines)


def test_the_command_refuses_a_database_with_real_accounts() -> None:
    account_create(
        name="main",
        mode="paper",
        strategy="sma_cross",
        symbols=["BTC_TRY"],
        balances={"TRY": 1000},
        actor="test",
    )
    with pytest.raises(CommandError, match="throwaway.*main"):
        call_command("chaos", "--scenarios", "1", stdout=StringIO())
