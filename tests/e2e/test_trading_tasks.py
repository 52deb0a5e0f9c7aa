"""The account tasks: each calls its one service with the account's name and says who ran it.

The first tests run the tasks in this process with the services replaced; the end-to-end ones
run them in a real worker (and beat) against the sandbox exchange, once the cycle and
reconciliation services exist (skipped before that).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType, SimpleNamespace

import pytest

from meva.locks import single_flight
from tests.e2e.harness import CeleryProcess, wait_until
from trading.tasks import balances_check_task, cycle_run_task, orders_reconcile_task

SERVICES = ("trading.services.cycle", "trading.services.reconcile", "trading.services.accounts")
services_exist = all(importlib.util.find_spec(name) for name in SERVICES)
needs_services = pytest.mark.skipif(
    not services_exist, reason="trading.services.cycle / reconcile / accounts not written yet"
)
ACCOUNT = "e2e-paper"
DONE = ("completed", "failed", "skipped")


class Result:
    def __init__(self, **fields: object) -> None:
        self.fields = fields

    def as_dict(self) -> dict[str, object]:
        return self.fields


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """Replace the cycle and reconciliation services by fakes recording their calls."""
    seen: list[tuple[str, dict]] = []

    def fake(name: str, returns: object):
        def service(**kwargs: object) -> object:
            seen.append((name, kwargs))
            if isinstance(returns, Exception):
                raise returns
            return returns

        return service

    cycle = ModuleType("trading.services.cycle")
    cycle.cycle_run = fake("cycle_run", SimpleNamespace(id=7, status="completed"))
    reconcile = ModuleType("trading.services.reconcile")
    reconcile.orders_reconcile = fake("orders_reconcile", Result(changed=["c1"], fills=2))
    reconcile.balances_check = fake("balances_check", RuntimeError("exchange down"))
    monkeypatch.setitem(sys.modules, "trading.services.cycle", cycle)
    monkeypatch.setitem(sys.modules, "trading.services.reconcile", reconcile)
    return seen


def test_cycle_run_calls_the_service_and_returns_the_cycle_id_and_status(calls: list) -> None:
    summary = cycle_run_task.apply(kwargs={"account": "demo"}).get()

    assert summary == {"cycle_id": 7, "status": "completed"}
    assert calls == [("cycle_run", {"account_name": "demo", "actor": "task:trading.cycle_run"})]


def test_orders_reconcile_returns_the_services_result_as_a_dict(calls: list) -> None:
    summary = orders_reconcile_task.apply(args=["demo"]).get()

    assert summary == {"changed": ["c1"], "fills": 2}
    assert calls == [
        ("orders_reconcile", {"account_name": "demo", "actor": "task:trading.orders_reconcile"})
    ]


def test_a_failing_service_fails_the_task_once_without_retrying(calls: list) -> None:
    outcome = balances_check_task.apply(kwargs={"account": "demo"})

    assert outcome.failed()
    with pytest.raises(RuntimeError, match="exchange down"):
        outcome.get()
    assert calls == [
        ("balances_check", {"account_name": "demo", "actor": "task:trading.balances_check"})
    ]


@pytest.mark.parametrize("task", [cycle_run_task, orders_reconcile_task, balances_check_task])
def test_account_tasks_are_named_and_never_retry_by_themselves(task) -> None:
    assert task.name.startswith("trading.")
    assert not getattr(task, "autoretry_for", ())


# --- end to end: a real worker and beat, a paper account on the sandbox exchange ------------


@pytest.fixture
def celery_extra_env() -> dict[str, str]:
    return {"TRADING_CLOCK": "exchange"}  # the sandbox's market runs on replay time


def paper_account_create(**overrides: object) -> str:
    """A paper account trading BTC_TRY with 100,000 TRY; returns its name."""
    from trading.services.accounts import account_create

    fields = {
        "name": ACCOUNT,
        "mode": "paper",
        "strategy": "mean_reversion",
        "params": {"window": 10, "entry_bps": 15, "exit_bps": 5},
        "symbols": ["BTC_TRY"],
        "balances": {"TRY": "100000"},
        "actor": "test:e2e",
    }
    return account_create(**(fields | overrides)).name


@pytest.fixture
def paper_account(celery_env: dict[str, str]) -> str:
    return paper_account_create()


def cycles(*statuses: str) -> list:
    from trading.models import Cycle

    rows = Cycle.objects.filter(account=ACCOUNT).order_by("id")
    return list(rows.filter(status__in=statuses) if statuses else rows)


@needs_services
def test_the_worker_runs_a_cycle_and_reports_its_row(
    paper_account: str, celery_worker_proc: CeleryProcess
) -> None:
    sent = cycle_run_task.delay(paper_account)

    log = celery_worker_proc.wait_for_log(f"Task trading.cycle_run[{sent.id}] succeeded")
    (cycle,) = wait_until(lambda: cycles(*DONE), what="a finished Cycle row")
    assert f"{{'cycle_id': {cycle.id}, 'status': '{cycle.status}'}}" in log
    assert cycle.status == "completed", cycle.error or cycle.no_trade_reason


@needs_services
def test_the_worker_reconciles_orders_and_checks_balances(
    paper_account: str, celery_worker_proc: CeleryProcess
) -> None:
    from trading.models import Account

    reconcile = orders_reconcile_task.delay(paper_account)
    check = balances_check_task.delay(account=paper_account)

    log = celery_worker_proc.wait_for_log(f"Task trading.orders_reconcile[{reconcile.id}] succ")
    log = celery_worker_proc.wait_for_log(f"Task trading.balances_check[{check.id}] succeeded")
    assert "'drift': []" in log
    assert Account.objects.get(name=paper_account).reconciled_at is not None


@needs_services
def test_a_cycle_sent_while_another_holds_the_lock_is_recorded_as_skipped(
    paper_account: str, celery_worker_proc: CeleryProcess
) -> None:
    with single_flight("cycle_run:{account}", account=paper_account) as lease:
        assert lease
        sent = cycle_run_task.delay(paper_account)
        celery_worker_proc.wait_for_log(f"Task trading.cycle_run[{sent.id}] succeeded")

    (cycle,) = cycles()
    assert cycle.status == "skipped"
    assert "LOCK_BUSY" in cycle.no_trade_reason


@needs_services
def test_beat_runs_the_cycles_of_an_enabled_account(
    celery_worker_proc: CeleryProcess, celery_beat_proc: CeleryProcess
) -> None:
    name = paper_account_create(enable=True, cycle_interval_s=1)

    wait_until(lambda: len(cycles(*DONE)) >= 2, timeout=15, what="two cycles run by beat")
    celery_beat_proc.wait_for_log(f"Sending due task account:{name}:cycle_run")
