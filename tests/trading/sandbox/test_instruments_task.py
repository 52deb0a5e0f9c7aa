"""The instruments_sync Celery task against the sandbox: syncs once under its lock."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from meva.locks import single_flight
from trading.exchange.sandbox import SandboxServer
from trading.models import Instrument
from trading.tasks import instruments_sync_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def exchange_settings(settings: Settings, sandbox: SandboxServer) -> Settings:
    settings.BTCTURK_BASE_URL = sandbox.base_url
    settings.BTCTURK_GRAPH_URL = sandbox.graph_url
    settings.REDIS_URL = ""  # in-process lock: the test holds it itself below
    return settings


def test_the_task_syncs_instruments_from_the_exchange(exchange_settings: Settings) -> None:
    summary = instruments_sync_task.apply().get()

    assert summary == {"created": 2, "updated": 0, "delisted": 0, "unchanged": 0, "skipped": 0}
    assert set(Instrument.objects.values_list("symbol", flat=True)) == {"BTC_TRY", "ETH_TRY"}


def test_the_task_skips_while_another_sync_holds_the_lock(exchange_settings: Settings) -> None:
    with single_flight("instruments_sync") as acquired:
        assert acquired
        summary = instruments_sync_task.apply().get()

    assert summary == {"skipped": "busy"}
    assert not Instrument.objects.exists()


def test_the_beat_schedule_runs_the_registered_task(settings: Settings) -> None:
    from meva.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["instruments-sync-hourly"]
    assert entry["task"] == instruments_sync_task.name
    assert entry["task"] in app.tasks
