"""Celery application (cookiecutter-django wiring). Tasks are discovered in installed apps.

Worker and beat log through Django's ``LOGGING`` (JSON lines with secret redaction, level
``LOG_LEVEL``) rather than Celery's own plain-text root logger, which would not redact.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import setup_logging, worker_process_shutdown, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meva.settings")

app = Celery("meva")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _django_logging(**kwargs: object) -> None:
    """Configure logging from ``settings.LOGGING`` (connecting this stops Celery's own setup)."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@worker_process_shutdown.connect
def _metrics_process_dead(pid: int | None = None, **kwargs: object) -> None:
    """A prefork child exits: tell prometheus_client's multiprocess files (``live*`` gauges
    drop it; counters and histograms keep what it counted). No-op without
    ``PROMETHEUS_MULTIPROC_DIR``."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


@worker_ready.connect
def _stale_work_sweep(**kwargs: object) -> None:
    """At worker start, mark cycles and backtests a dead worker left running failed
    (trading.services.stale_work); beat repeats it every 5 minutes."""
    from trading.services.stale_work import stale_work_sweep

    stale_work_sweep()
