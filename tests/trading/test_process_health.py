"""Healthchecks of the stack's processes (``manage.py healthcheck web|worker|beat``) and the
beat heartbeat they read."""

from __future__ import annotations

import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from trading.services.process_health import (
    beat_health,
    beat_heartbeat_age_s,
    beat_heartbeat_record,
    web_health,
    worker_health,
)
from trading.tasks import beat_heartbeat_task

BASE_REDIS = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(not BASE_REDIS, reason="REDIS_URL not set")


@pytest.fixture
def redis_db():
    """A Redis database of its own (9) on the configured server, emptied around the test."""
    import redis

    url = BASE_REDIS.rsplit("/", 1)[0] + "/9"
    client = redis.Redis.from_url(url)
    client.flushdb()
    with override_settings(REDIS_URL=url):
        yield url
    client.flushdb()
    client.close()


@needs_redis
def test_the_heartbeat_task_records_beat_liveness(redis_db: str) -> None:
    assert beat_heartbeat_age_s() is None
    assert beat_health(60)[0] is False

    recorded = beat_heartbeat_task()

    age = beat_heartbeat_age_s(now_s=recorded + 5)
    assert age == pytest.approx(5)
    assert beat_health(60)[0] is True


@needs_redis
def test_a_stale_heartbeat_is_unhealthy_and_the_command_exits_1(redis_db: str) -> None:
    import time

    beat_heartbeat_record(now_s=time.time() - 120)
    healthy, detail = beat_health(60)
    assert not healthy and detail.startswith("last beat heartbeat 120.") and "limit 60 s" in detail
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("healthcheck", "beat", "--max-age", "60", stdout=out)
    assert exited.value.code == 1
    assert out.getvalue().startswith("beat: UNHEALTHY")


@needs_redis
def test_no_worker_answering_ping_is_unhealthy(redis_db: str) -> None:
    with override_settings(CELERY_BROKER_URL=redis_db):
        healthy, detail = worker_health(timeout_s=0.5)
    assert not healthy and "no worker answered" in detail


def test_without_redis_beat_and_worker_are_not_configured() -> None:
    with override_settings(REDIS_URL=""):
        assert beat_health(60) == (False, "REDIS_URL not set: no broker, no beat")
        assert worker_health(0.5)[0] is False


@pytest.mark.django_db
def test_web_health_reads_the_health_endpoint(live_server) -> None:
    healthy, detail = web_health(f"{live_server.url}/api/v1/health/", timeout_s=10)
    # database reachable; Redis reachable, or "not configured" without REDIS_URL
    assert healthy and "answered 200 status='ok'" in detail
    out = StringIO()
    call_command("healthcheck", "web", "--url", f"{live_server.url}/api/v1/health/", stdout=out)
    assert out.getvalue().startswith("web: healthy")


def test_an_unreachable_web_process_is_unhealthy() -> None:
    healthy, detail = web_health("http://127.0.0.1:9/api/v1/health/", timeout_s=2)
    assert not healthy and "unreachable" in detail
