"""Shared fixtures. One is autouse (the decimal context, below); tests ask for the database
explicitly."""

from __future__ import annotations

import decimal
import os
import shutil
import tempfile

import pytest
from django.contrib.auth.models import User
from hypothesis import settings as hypothesis_settings

# Property tests draw the same examples on every run (CI must not pass or fail by luck).
# `HYPOTHESIS_PROFILE=explore make test` draws fresh random examples each run to hunt bugs;
# a failure it finds becomes a regression test.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    """The websocket market feed (``MARKET_WS_ENABLED``, on by default) is off in tests, here
    and in the processes they start: a cycle must not connect to BTCTurk, nor its quotes depend
    on a feed's timing. The feed's own tests turn it on against a sandbox exchange."""
    from django.conf import settings

    os.environ["MARKET_WS_ENABLED"] = "false"
    settings.MARKET_WS_ENABLED = False
    # parsed dataset tables go to a directory of this run, not the checkout's var/cache
    cache = tempfile.mkdtemp(prefix="meva-dataset-cache-")
    os.environ["DATASET_CACHE_DIR"] = settings.DATASET_CACHE_DIR = cache


def pytest_unconfigure(config: pytest.Config) -> None:
    from django.conf import settings

    shutil.rmtree(settings.DATASET_CACHE_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def fresh_decimal_context():
    """Each test starts with Python's default decimal context and leaves none behind.

    ccxt (the third-party client the sandbox is checked against) sets the thread's context to
    ROUND_HALF_UP with an Underflow trap the first time it formats a number, and never
    restores it; every later test in the process would then round differently from
    production, where ccxt is not installed."""
    decimal.setcontext(decimal.Context())
    yield
    decimal.setcontext(decimal.Context())


@pytest.fixture
def operator(django_user_model: type[User]) -> User:
    """A saved staff user acting as the operator (needs the ``db`` fixture via django_user_model)."""
    return django_user_model.objects.create_user(
        username="operator", password="not-used", is_staff=True
    )


@pytest.fixture
def no_broker(settings):
    """The platform as ``make run`` starts it, whatever ``REDIS_URL`` CI sets: no Celery broker,
    so tasks run in the caller (Celery's eager mode) and alert deliveries on a daemon thread."""
    from meva.celery import app

    saved = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = saved
