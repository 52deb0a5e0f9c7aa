"""End-to-end fixtures: a real Celery worker and beat, as subprocesses, on the pytest database.

They need PostgreSQL (``DATABASE_URL``) and Redis (``REDIS_URL``), as in CI; without them every
test asking for them is skipped. The subprocesses get this process's environment plus:

* ``DATABASE_URL`` of the pytest test database (``test_<name>``, made by pytest-django); the
  tests use ``transactional_db``, so what they commit the subprocesses see, and the reverse;
* ``REDIS_URL`` on Redis database :data:`E2E_REDIS_DB`, flushed before each test so no task or
  lock of an earlier run survives; this process's ``settings.REDIS_URL`` and Celery broker point
  there too (``.delay()`` here reaches the worker; locks taken here are the worker's locks);
* ``BTCTURK_*`` of a sandbox exchange started for the test, so nothing reaches the internet;
* whatever the ``celery_extra_env`` fixture returns (override it in a test module).

``CELERY_TASK_ALWAYS_EAGER`` is ``not REDIS_URL`` in the settings, so it is off in both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import kombu.pools
import pytest
import redis
from django.db import connection
from pytest_django.fixtures import Settings

from replay.domain.dataset import ReplayDataset, load_dataset
from tests.e2e.harness import ROOT, CeleryProcess, postgres_url, redis_url_with_db
from tests.trading.sandbox.conftest import write_mini_dataset
from trading.exchange.sandbox import SandboxServer, start_sandbox

E2E_REDIS_DB = 15
POSTGRES_SCHEMES = ("postgres://", "postgresql://", "pgsql://")


@pytest.fixture(scope="session")
def e2e_services() -> str:
    """``REDIS_URL`` of this run; skips unless DATABASE_URL is PostgreSQL and REDIS_URL is set."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(POSTGRES_SCHEMES) or not redis_url:
        pytest.skip(
            "end-to-end Celery tests need DATABASE_URL=postgres://... and REDIS_URL "
            "(a worker in another process cannot share SQLite's test database or a memory broker)"
        )
    return redis_url


@pytest.fixture(scope="session")
def e2e_dataset(e2e_services: str, tmp_path_factory: pytest.TempPathFactory) -> ReplayDataset:
    """The sandbox tests' ``mini`` dataset: BTC_TRY and ETH_TRY, 1-minute bars."""
    return load_dataset(write_mini_dataset(tmp_path_factory.mktemp("e2e-mini")))


@pytest.fixture
def e2e_exchange(e2e_dataset: ReplayDataset) -> Iterator[SandboxServer]:
    """A manual-clock sandbox exchange on loopback: 100,000 TRY and 1 BTC."""
    server = start_sandbox(
        e2e_dataset,
        balances={"TRY": Decimal(100_000), "BTC": Decimal(1)},
        publish_interval_s=3600.0,
    )
    yield server
    server.stop(wait=False)


@pytest.fixture
def celery_extra_env() -> dict[str, str]:
    """More environment for the Celery subprocesses; override it in a test module."""
    return {}


@pytest.fixture
def celery_env(
    e2e_services: str,
    transactional_db: None,
    e2e_exchange: SandboxServer,
    celery_extra_env: dict[str, str],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """The environment of the Celery subprocesses; points this process at the same broker."""
    broker_url = redis_url_with_db(e2e_services, E2E_REDIS_DB)
    redis.Redis.from_url(broker_url).flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    env |= e2e_exchange.env() | {
        "BTCTURK_API_SECRET": e2e_exchange.api_secret,
        "DATABASE_URL": postgres_url(connection.settings_dict),
        "REDIS_URL": broker_url,
        "DJANGO_SETTINGS_MODULE": "meva.settings",
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }
    env |= celery_extra_env
    for name in ("CELERY_BROKER_URL", "CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL"):
        monkeypatch.delenv(name, raising=False)  # Celery lets these override its configuration
    settings.REDIS_URL = broker_url
    with _celery_app_sending_to(broker_url):
        yield env


class _celery_app_sending_to:
    """Point the project's Celery app at ``broker_url``, not eager, and restore it on exit."""

    def __init__(self, broker_url: str) -> None:
        from meva.celery import app

        self.app = app
        self.broker_url = broker_url

    def __enter__(self) -> None:
        conf = self.app.conf
        self.saved = (conf.broker_url, conf.task_always_eager)
        conf.broker_url, conf.task_always_eager = self.broker_url, False
        self._forget_connections()

    def __exit__(self, *exc: object) -> None:
        self.app.conf.broker_url, self.app.conf.task_always_eager = self.saved
        self._forget_connections()

    def _forget_connections(self) -> None:
        kombu.pools.reset()  # close pooled broker connections (kombu keeps them process-wide)
        self.app._after_fork()  # and make the app build new pools from its configuration


@pytest.fixture
def celery_worker_proc(celery_env: dict[str, str], tmp_path: Path) -> Iterator[CeleryProcess]:
    """A running ``celery worker`` (solo pool, queue ``celery``), stopped after the test.

    ``restart()`` it, ``kill(signal.SIGKILL)`` it to crash it, read ``log()`` or
    ``wait_for_log(text)``; each start logs to ``tmp_path/worker-<n>.log``.
    """
    node = f"e2e-{uuid.uuid4().hex[:8]}@localhost"
    argv = ["worker", "--pool=solo", "--concurrency=1", "-Q", "celery", "-n", node]
    argv += ["--without-gossip", "--without-mingle", "--loglevel=INFO"]
    worker = CeleryProcess(
        "worker", argv, env=celery_env, log_dir=tmp_path, ready_line=f"{node} ready."
    )
    try:
        yield worker.start()
    finally:
        worker.stop()


@pytest.fixture
def celery_beat_proc(celery_env: dict[str, str], tmp_path: Path) -> Iterator[CeleryProcess]:
    """A running ``celery beat`` on the database schedule, checking it every second."""
    argv = ["beat", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"]
    argv += ["--max-interval", "1", "--loglevel=INFO", "-s", str(tmp_path / "beat-schedule")]
    beat = CeleryProcess(
        "beat", argv, env=celery_env, log_dir=tmp_path, ready_line="beat: Starting..."
    )
    try:
        yield beat.start()
    finally:
        beat.stop()
