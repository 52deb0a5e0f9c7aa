"""Liveness of the background processes, for healthchecks (``manage.py healthcheck``).

- **beat**: beat sends ``trading.beat_heartbeat`` every 15 s (``CELERY_BEAT_SCHEDULE``); the
  worker that runs it records the time in Redis (key ``meva:beat:heartbeat``, epoch seconds,
  expiring after an hour). Its age says that beat is scheduling and a worker consumes.
- **worker**: answers Celery's ``ping`` broadcast (``celery inspect ping``).
- **web**: ``/api/v1/health/`` answers 200 (database and Redis reachable).

Without ``REDIS_URL`` there is no broker and no beat: the checks report "not configured".
"""

from __future__ import annotations

import time

import httpx
import redis
from django.conf import settings

BEAT_HEARTBEAT_KEY = "meva:beat:heartbeat"
BEAT_HEARTBEAT_TTL_S = 3600


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def beat_heartbeat_record(now_s: float | None = None) -> float:
    """Record a beat heartbeat now (epoch seconds); returns the time recorded."""
    moment = time.time() if now_s is None else now_s
    client = _redis()
    try:
        client.set(BEAT_HEARTBEAT_KEY, repr(moment), ex=BEAT_HEARTBEAT_TTL_S)
    finally:
        client.close()
    return moment


def beat_heartbeat_age_s(now_s: float | None = None) -> float | None:
    """Seconds since the last beat heartbeat; ``None`` when none is recorded."""
    client = _redis()
    try:
        raw = client.get(BEAT_HEARTBEAT_KEY)
    finally:
        client.close()
    if raw is None:
        return None
    return (time.time() if now_s is None else now_s) - float(raw)


def beat_health(max_age_s: float) -> tuple[bool, str]:
    """``(healthy, detail)``: a heartbeat younger than ``max_age_s`` seconds."""
    if not settings.REDIS_URL:
        return False, "REDIS_URL not set: no broker, no beat"
    age = beat_heartbeat_age_s()
    if age is None:
        return False, "no beat heartbeat recorded yet"
    return age <= max_age_s, f"last beat heartbeat {age:.1f} s ago (limit {max_age_s:g} s)"


def worker_health(timeout_s: float) -> tuple[bool, str]:
    """``(healthy, detail)``: at least one worker answers Celery's ping within ``timeout_s``."""
    if not settings.REDIS_URL:
        return False, "REDIS_URL not set: no broker, no worker"
    from meva.celery import app

    replies = app.control.ping(timeout=timeout_s) or []
    names = sorted(name for reply in replies for name in reply)
    if not names:
        return False, f"no worker answered ping within {timeout_s:g} s"
    return True, f"{len(names)} worker(s) answered: {', '.join(names)}"


def web_health(url: str, timeout_s: float) -> tuple[bool, str]:
    """``(healthy, detail)``: ``url`` (the health endpoint) answers 200 with status ``ok``."""
    try:
        response = httpx.get(url, timeout=timeout_s)
        code = response.status_code
        body = response.json() if code in (200, 503) else {}
    except httpx.HTTPError as exc:
        return False, f"{url} unreachable: {exc}"
    except ValueError:
        return False, f"{url} answered {response.status_code} without JSON"
    if code not in (200, 503):
        return False, f"{url} answered {code}"
    healthy = code == 200 and body.get("status") == "ok"
    return healthy, f"{url} answered {code} status={body.get('status')!r}"
