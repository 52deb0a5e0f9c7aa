"""Acceptance of paper and live trading under a real Celery worker and beat (PostgreSQL, Redis,
the sandbox exchange on loopback, real sockets everywhere).

- a paper account runs 30 cycles in the worker, which is restarted half-way; it ends in exactly
  the state of a twin account run in this process without interruption;
- a live-mode account runs under beat with the gate fully armed; after every cycle its ledger
  balances equal the sandbox's balances exactly;
- the worker is SIGKILLed after an order reached the exchange and before the cycle recorded
  its answer; after a restart, startup reconciliation adopts that order and its fills, and no
  second order is sent.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from pytest_django.fixtures import Settings

from ledger.models import EquitySnapshot, LedgerFill
from meva.locks import LOCK_TTL_SECONDS
from replay.domain.dataset import load_dataset
from tests.e2e.harness import CeleryProcess, wait_until
from trading.domain.gate import LIVE_TRADING_ACK_PHRASE
from trading.exchange.sandbox import SandboxServer, start_sandbox
from trading.models import AuditEvent, Cycle, CycleDecision, Order
from trading.services.accounts import account_create
from trading.services.control import control_arm, kill_switch_release
from trading.services.cycle import cycle_run, reconciled_accounts_forget
from trading.services.reconcile import balances_check
from trading.tasks import cycle_run_task

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "try-1m"
PARAMS = {"window": 10, "entry_bps": 15, "exit_bps": 5}
CASH = Decimal(100_000)
ACTOR = "test:e2e"
DONE = ("completed", "failed", "skipped")
ARMED = {
    "TRADING_CLOCK": "exchange",  # the sandbox's market runs on replay time
    "DRY_RUN": "false",
    "KILL_SWITCH": "false",
    "LIVE_TRADING": "true",
    "LIVE_TRADING_ACK": LIVE_TRADING_ACK_PHRASE,
    "BTCTURK_API_PERMISSIONS": "trade",
}


@pytest.fixture
def e2e_exchange(e2e_services: str) -> Iterator[SandboxServer]:
    """The bundled TRY sample (BTC_TRY, ETH_TRY, 1-minute bars) after 40 warm-up bars, on a
    manual clock: a bar closes only when the test says so."""
    server = start_sandbox(
        load_dataset(SAMPLE), balances={"TRY": CASH}, warmup_steps=40, publish_interval_s=3600.0
    )
    yield server
    server.faults.clear()
    server.stop(wait=False)


@pytest.fixture
def celery_extra_env() -> dict[str, str]:
    return dict(ARMED)


@pytest.fixture
def here(
    celery_env: dict[str, str], e2e_exchange: SandboxServer, settings: Settings, operator
) -> SandboxServer:
    """This process talks to the same sandbox with the same (armed) settings as the worker."""
    settings.BTCTURK_BASE_URL = e2e_exchange.base_url
    settings.BTCTURK_GRAPH_URL = e2e_exchange.graph_url
    settings.BTCTURK_WS_URL = e2e_exchange.ws_url
    settings.BTCTURK_API_KEY = e2e_exchange.api_key
    settings.BTCTURK_API_SECRET = e2e_exchange.api_secret
    settings.BTCTURK_API_PERMISSIONS = ["trade"]
    settings.TRADING_CLOCK = "exchange"
    settings.DRY_RUN = settings.KILL_SWITCH = False
    settings.LIVE_TRADING = True
    settings.LIVE_TRADING_ACK = LIVE_TRADING_ACK_PHRASE
    kill_switch_release(user=operator, reason="e2e")
    control_arm(user=operator, reason="e2e", acknowledgement=LIVE_TRADING_ACK_PHRASE)
    reconciled_accounts_forget()
    yield e2e_exchange
    reconciled_accounts_forget()


def _account(name: str, mode: str, **extra: object) -> str:
    return account_create(
        name=name,
        mode=mode,
        strategy="mean_reversion",
        params=PARAMS,
        symbols=["BTC_TRY", "ETH_TRY"],
        balances={"TRY": CASH} if mode == "paper" else None,
        actor=ACTOR,
        **extra,
    ).name


def _worker_cycle(worker: CeleryProcess, account: str) -> Cycle:
    """Send one ``trading.cycle_run`` to the worker and return the row it finished."""
    before = Cycle.objects.filter(account=account).count()
    sent = cycle_run_task.delay(account)
    worker.wait_for_log(f"Task trading.cycle_run[{sent.id}] succeeded", timeout=30)
    rows = Cycle.objects.filter(account=account).order_by("id")
    assert rows.count() == before + 1
    return rows.last()


def _session(account: str) -> dict[str, list[tuple]]:
    """What an account did, free of ids, names and wall times: comparable across accounts."""
    cycles = Cycle.objects.filter(account=account).order_by("now_ms")
    orders = Order.objects.filter(account=account).order_by("id")
    fills = LedgerFill.objects.filter(account=account).order_by("ts", "id")
    equity = EquitySnapshot.objects.filter(account=account).order_by("ts")
    decisions = CycleDecision.objects.filter(cycle__account=account).order_by("cycle__now_ms", "id")
    return {
        "cycles": [(c.now_ms, c.status, c.risk_mode, c.equity) for c in cycles],
        "orders": [
            (o.symbol, o.side, o.order_type, o.price, o.quantity, o.status, o.filled_quantity)
            for o in orders
        ],
        "fills": [(f.ts, f.symbol, f.side, f.price, f.quantity, f.fee) for f in fills],
        "equity": [(e.ts, e.equity) for e in equity],
        "decisions": [(d.cycle.now_ms, d.kind, d.symbol, d.code) for d in decisions],
    }


def test_a_paper_session_continues_identically_across_a_worker_restart(
    here: SandboxServer, celery_worker_proc: CeleryProcess
) -> None:
    worker, twin = _account("paper-worker", "paper"), _account("paper-twin", "paper")

    for i in range(30):
        if i == 15:
            celery_worker_proc.restart()
        here.advance(1)
        assert _worker_cycle(celery_worker_proc, worker).status == "completed"
        assert cycle_run(account_name=twin, actor=ACTOR).status == "completed"

    assert celery_worker_proc.log().count(" ready.") == 2  # it really restarted
    ran, reference = _session(worker), _session(twin)
    assert len(ran["cycles"]) == 30 and len(ran["equity"]) == 30
    assert ran["orders"] and ran["fills"] and ran["decisions"]
    assert ran == reference


def test_a_live_account_under_beat_keeps_its_ledger_equal_to_the_exchange(
    here: SandboxServer, celery_worker_proc: CeleryProcess, celery_beat_proc: CeleryProcess
) -> None:
    name = _account("live-beat", "live", enable=True, cycle_interval_s=1)

    for _ in range(20):
        clock = here.exchange.now_ms
        here.advance(1)
        # beat sends a cycle every second; the bar just closed is traded by exactly one of them
        cycle = wait_until(
            lambda clock=clock: Cycle.objects.filter(
                account=name, status__in=DONE, now_ms__gt=clock
            ).first(),
            timeout=20,
            what=lambda: f"a cycle; worker log:\n{celery_worker_proc.log_tail()}",
        )
        assert cycle.status == "completed", cycle.error
        # no bar closes until the next advance, so the exchange is still now
        assert balances_check(account_name=name, actor=ACTOR).drift == []

    celery_beat_proc.wait_for_log(f"Sending due task account:{name}:cycle_run")
    assert Order.objects.filter(account=name, status="FILLED").exists()
    assert LedgerFill.objects.filter(account=name).exists()
    completed = Cycle.objects.filter(account=name, status="completed")
    assert completed.count() == 20
    assert len(set(completed.values_list("now_ms", flat=True))) == 20


def test_a_worker_killed_between_submit_and_record_is_recovered_without_a_duplicate(
    here: SandboxServer, celery_worker_proc: CeleryProcess
) -> None:
    name = _account("crash", "live")
    venue = here.exchange.account(here.api_key)
    # the next order is accepted by the exchange, then its answer is held for 60 s
    here.faults.force("order_timeout", count=1, arg=60, method="POST", path="/api/v1/order")

    for _ in range(40):
        here.advance(1)
        sent = cycle_run_task.delay(name)
        wait_until(
            lambda task_id=sent.id: venue.orders or _succeeded(celery_worker_proc, task_id),
            timeout=30,
            what=lambda: f"a cycle or an order; worker log:\n{celery_worker_proc.log_tail()}",
        )
        if venue.orders:
            break
    assert venue.orders, "no order in 40 cycles"
    (sent_order,) = venue.orders.values()
    assert celery_worker_proc.kill(signal.SIGKILL) == -signal.SIGKILL

    row = Order.objects.get(account=name)
    assert row.client_order_id == sent_order.client_order_id
    assert row.status == "SUBMITTED" and not row.exchange_order_id  # the answer never came
    assert Cycle.objects.get(account=name, now_ms=here.exchange.now_ms).status == "running"

    celery_worker_proc.start()
    here.advance(1)
    # the dead worker's lock still stands: no cycle of this account may run yet
    blocked = _worker_cycle(celery_worker_proc, name)
    assert blocked.status == "skipped" and blocked.no_trade_reason.startswith("LOCK_BUSY")
    # ... until its TTL runs out (at most LOCK_TTL_SECONDS, 300 s); fast-forward that expiry
    lock_key = "meva:lock:cycle_run:crash"
    broker = redis.Redis.from_url(settings.REDIS_URL)
    assert 0 < broker.ttl(lock_key) <= LOCK_TTL_SECONDS["cycle_run:{account}"]
    broker.pexpire(lock_key, 1)
    wait_until(lambda: not broker.exists(lock_key), what="the dead worker's lock to expire")

    after = _worker_cycle(celery_worker_proc, name)

    row.refresh_from_db()
    assert after.status == "completed", after.error
    crashed = Cycle.objects.get(pk=row.cycle_id)
    assert crashed.status == "failed" and crashed.error.startswith("INTERRUPTED")
    assert row.exchange_order_id == str(sent_order.exchange_id)
    assert row.status in {"OPEN", "PARTIALLY_FILLED", "FILLED"}
    assert AuditEvent.objects.filter(action="reconcile.adopt", object_id=row.client_order_id)
    coids = [o.client_order_id for o in venue.orders.values()]
    assert coids.count(row.client_order_id) == 1
    assert len(coids) == Order.objects.filter(account=name).count()
    exchange_fills = [t for t in venue.trades if t.order_id == sent_order.exchange_id]
    ledger_fills = LedgerFill.objects.filter(account=name, client_order_id=row.client_order_id)
    assert ledger_fills.count() == len(exchange_fills)
    assert balances_check(account_name=name, actor=ACTOR).drift == []


def _succeeded(worker: CeleryProcess, task_id: str) -> bool:
    return f"Task trading.cycle_run[{task_id}] succeeded" in worker.log()
