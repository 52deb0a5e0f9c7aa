"""``/metrics``: who may scrape it, what it reports from the database and from the process, and
the sum over processes with ``PROMETHEUS_MULTIPROC_DIR`` (a fresh interpreter, since
prometheus_client reads the variable when it is first imported)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from meva.metrics import CYCLE_STEP_SECONDS
from trading.models import Account, Alert, Cycle, Order

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scrape-token-0123456789"

pytestmark = pytest.mark.django_db


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """``(sample name, sorted labels) -> value`` of a text exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def scrape(remote: str = "127.0.0.1", **headers: str):
    return Client(REMOTE_ADDR=remote).get("/metrics", headers=headers)


def test_loopback_may_scrape_without_a_token() -> None:
    response = scrape()

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert ("meva_database_up", ()) in samples(response.content.decode())


def test_a_remote_caller_is_refused_without_a_configured_token(settings) -> None:
    settings.METRICS_TOKEN = ""

    assert scrape("10.1.2.3").status_code == 403
    assert scrape("::1").status_code == 200


def test_a_remote_caller_needs_the_bearer_token(settings) -> None:
    settings.METRICS_TOKEN = TOKEN

    assert scrape("10.1.2.3").status_code == 401
    assert scrape("10.1.2.3", Authorization="Bearer wrong").status_code == 401
    assert scrape("10.1.2.3", Authorization=f"Bearer {TOKEN}").status_code == 200


def test_loopback_can_be_switched_off_behind_a_local_proxy(settings) -> None:
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOW_LOOPBACK = False

    assert scrape("127.0.0.1").status_code == 401
    assert scrape("127.0.0.1", Authorization=f"Bearer {TOKEN}").status_code == 200


def _order(coid: str, status: str, reject_code: str = "", probes: int = 0) -> None:
    Order.objects.create(
        account="acct",
        client_order_id=coid,
        symbol="BTC_TRY",
        side="buy",
        order_type="limit",
        price=Decimal(1),
        quantity=Decimal(1),
        status=status,
        reject_code=reject_code,
        probe_count=probes,
    )


def test_database_state_is_read_at_scrape_time(settings) -> None:
    settings.RECONCILE_MAX_PROBES = 5
    Account.objects.create(
        name="acct",
        mode="paper",
        strategy="sma_cross",
        symbols=["BTC_TRY"],
        enabled=True,
        risk_state={"mode": "REDUCE_RISK_ONLY"},
    )
    _order("o1", "OPEN")
    _order("o2", "REJECTED", "1123")
    _order("o3", "REJECTED", "1123")
    _order("o4", "REJECTED", "1126")
    _order("o5", "UNKNOWN", probes=1)
    _order("o6", "UNKNOWN", probes=5)
    finished = timezone.now() - timedelta(minutes=3)
    Cycle.objects.create(account="acct", mode="paper", status="completed", finished_at=finished)
    Cycle.objects.create(account="acct", mode="paper", status="failed", finished_at=timezone.now())
    Alert.objects.create(kind="BALANCE_DRIFT", severity="critical", account="acct", message="x")

    got = samples(scrape().content.decode())

    def value(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted(labels.items())))]

    assert value("meva_database_up") == 1
    assert value("meva_orders", account="acct", status="OPEN") == 1
    assert value("meva_orders", account="acct", status="REJECTED") == 3
    assert value("meva_order_rejects_total", account="acct", code="1123") == 2
    assert value("meva_order_rejects_total", account="acct", code="1126") == 1
    assert value("meva_orders_unknown", account="acct") == 2
    assert value("meva_orders_unknown_escalated", account="acct") == 1
    assert value("meva_risk_mode", account="acct", mode="REDUCE_RISK_ONLY") == 1
    assert value("meva_risk_mode", account="acct", mode="NORMAL") == 0
    assert value("meva_account_enabled", account="acct") == 1
    assert value("meva_last_successful_cycle_timestamp_seconds", account="acct") == pytest.approx(
        finished.timestamp()
    )
    assert value("meva_alerts_open", kind="BALANCE_DRIFT", severity="critical") == 1


def test_process_metrics_are_served_alongside(settings) -> None:
    CYCLE_STEP_SECONDS.labels("metrics-test", "plan").observe(0.02)

    got = samples(scrape().content.decode())

    key = ("meva_cycle_step_seconds_count", (("account", "metrics-test"), ("step", "plan")))
    assert got[key] >= 1


MULTIPROCESS_SCRIPT = textwrap.dedent(
    """
    import json, multiprocessing, os, sys
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meva.settings")
    import django
    django.setup()
    from meva.metrics import CYCLES, LOCK_SKIPS, metrics_text

    def work(n):
        for _ in range(n):
            CYCLES.labels("mp", "completed").inc()
        LOCK_SKIPS.labels("cycle_run:mp").inc()

    if __name__ == "__main__":
        ctx = multiprocessing.get_context("fork")
        children = [ctx.Process(target=work, args=(n,)) for n in (2, 3)]
        for child in children:
            child.start()
        for child in children:
            child.join()
        work(1)  # the serving process counts too
        sys.stdout.write(metrics_text().decode())
    """
)


def test_with_a_multiprocess_directory_the_scrape_sums_every_process(tmp_path: Path) -> None:
    script = tmp_path / "mp.py"
    script.write_text(MULTIPROCESS_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prom")
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'empty.sqlite3'}"  # no tables: database down
    env["PYTHONPATH"] = str(ROOT)

    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    got = samples(result.stdout)
    assert got[("meva_cycles_total", (("account", "mp"), ("status", "completed")))] == 6
    assert got[("meva_lock_skips_total", (("lock", "cycle_run:mp"),))] == 3
    assert got[("meva_database_up", ())] == 0  # the scrape still answers
    assert list((tmp_path / "prom").glob("*.db"))
