"""The crash campaign (``chaos --kill``): the worker process is SIGKILLed before the exchange
call, after it and inside the record transaction, restarted, and the invariants hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from meva.errors import ApplicationError
from trading.models import Cycle
from trading.services.chaos_kill import (
    KILL_POINTS,
    _interrupted_problems,
    _kill_plan,
    kill_run,
    worker_spec,
)

ROOT = Path(__file__).resolve().parents[3]


def _manage(db: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(
        os.environ, DATABASE_URL=f"sqlite:///{db}", REDIS_URL="", LOG_LEVEL="ERROR",
        MARKET_WS_ENABLED="false",
    )  # fmt: skip
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_three_kills_one_at_each_point_and_every_invariant_holds_after_recovery(tmp_path):
    db = tmp_path / "kill.sqlite3"
    assert _manage(db, "migrate", "-v0").returncode == 0

    done = _manage(db, "chaos", "--kill", "3", "--kills-per-account", "3", "--json")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    # campaign 1 draws in_record, before_exchange, after_exchange for its first account
    assert summary["kills"] == {point: 1 for point in KILL_POINTS}
    assert summary["not_reached"] == {}
    assert summary["violations"] == 0
    assert summary["by_invariant"]["interrupted"] == 0
    assert summary["orders"] >= 1 and summary["fills"] >= 1
    assert "kill #3 at" in done.stdout


@pytest.mark.django_db
def test_a_cycle_left_running_or_not_marked_interrupted_is_a_violation():
    plan = _kill_plan(seed=1, index=0)
    now = timezone.now()
    Cycle.objects.create(account=plan.account, mode="live", status="running", started_at=now)

    problems = [str(v) for v in _interrupted_problems(plan, step=4, killed=1)]

    assert any("cycles left running" in p for p in problems)
    assert any("0 cycles marked INTERRUPTED, 1 kills" in p for p in problems)

    Cycle.objects.filter(account=plan.account).update(
        status="failed", error="INTERRUPTED: the worker stopped before this cycle was recorded"
    )
    assert _interrupted_problems(plan, step=4, killed=1) == []


def test_kill_plans_alternate_live_and_paper_without_wire_faults():
    plans = [_kill_plan(seed=7, index=i) for i in range(4)]

    assert [p.mode for p in plans] == ["live", "paper", "live", "paper"]
    assert all(p.faults == "" and p.clock_skew_ms == 0 and not p.websocket for p in plans)
    assert plans[0].account == "chaos-kill-7-0000"


@pytest.mark.django_db
def test_the_campaign_refuses_a_database_its_workers_cannot_share():
    # the test database (in memory, or renamed test_*) is not what DATABASE_URL names
    with pytest.raises(ApplicationError, match="worker processes|other processes"):
        kill_run(kills=1, seed=1, dataset_path=ROOT / "data/sample/try-1m")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("nope", "not JSON"),
        ("[]", "a JSON object"),
        ('{"account": "a", "time_scale": 1, "sandbox": {}}', "'sandbox' needs exactly"),
        ('{"account": 5, "time_scale": 1, "sandbox": {}}', "'account' must be a str"),
        ('{"account": "a", "time_scale": true, "sandbox": {}}', "'time_scale' must be a float"),
    ],
)
def test_a_bad_worker_spec_is_refused_naming_the_problem(text, problem):
    with pytest.raises(ApplicationError, match=problem):
        worker_spec(text)


@pytest.mark.django_db
def test_the_command_checks_its_kill_arguments():
    with pytest.raises(CommandError, match="--kill and --kills-per-account must be >= 1"):
        call_command("chaos", "--kill", "0", stdout=StringIO())
    with pytest.raises(CommandError, match="--kill-worker: not JSON"):
        call_command("chaos", "--kill-worker", "{", stdout=StringIO())
