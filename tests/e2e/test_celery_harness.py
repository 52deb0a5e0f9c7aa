"""The end-to-end harness: a worker and beat in other processes, on the test database and Redis."""

from __future__ import annotations

import signal

from django_celery_beat.models import IntervalSchedule, PeriodicTask

from meva.locks import single_flight
from tests.e2e.harness import CeleryProcess, wait_until
from trading.models import Instrument
from trading.tasks import instruments_sync_task

SYNCED = "Task trading.instruments_sync[{id}] succeeded"


def instrument_symbols() -> set[str]:
    return set(Instrument.objects.values_list("symbol", flat=True))


def test_a_task_sent_from_the_test_runs_in_the_worker_and_writes_the_test_database(
    celery_worker_proc: CeleryProcess,
) -> None:
    sent = instruments_sync_task.delay()

    wait_until(instrument_symbols, what="Instrument rows written by the worker")
    assert instrument_symbols() == {"BTC_TRY", "ETH_TRY"}
    log = celery_worker_proc.wait_for_log(SYNCED.format(id=sent.id))
    assert "'created': 2" in log


def test_beat_sends_a_periodic_task_from_the_database_and_the_worker_runs_it(
    celery_worker_proc: CeleryProcess, celery_beat_proc: CeleryProcess
) -> None:
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="e2e instruments sync", task="trading.instruments_sync", interval=every_second
    )

    celery_beat_proc.wait_for_log("Sending due task e2e instruments sync", count=2)
    log = celery_worker_proc.wait_for_log("succeeded in", count=2)
    assert "'created': 2" in log and "'unchanged': 2" in log  # the first run, then the next
    assert instrument_symbols() == {"BTC_TRY", "ETH_TRY"}


def test_a_killed_worker_restarts_and_runs_the_next_task(
    celery_worker_proc: CeleryProcess,
) -> None:
    first = instruments_sync_task.delay()
    celery_worker_proc.wait_for_log(SYNCED.format(id=first.id))
    Instrument.objects.all().delete()

    assert celery_worker_proc.kill(signal.SIGKILL) == -signal.SIGKILL
    celery_worker_proc.restart()
    second = instruments_sync_task.delay()

    celery_worker_proc.wait_for_log(SYNCED.format(id=second.id))
    assert instrument_symbols() == {"BTC_TRY", "ETH_TRY"}
    assert len(celery_worker_proc.logs) == 2


def test_a_lock_held_by_the_test_makes_the_worker_skip_as_busy(
    celery_worker_proc: CeleryProcess,
) -> None:
    with single_flight("instruments_sync") as lease:
        assert lease
        sent = instruments_sync_task.delay()
        log = celery_worker_proc.wait_for_log(SYNCED.format(id=sent.id))

    assert "{'skipped': 'busy'}" in log
    assert '"message": "lock busy, skipping"' in log
    assert not Instrument.objects.exists()
