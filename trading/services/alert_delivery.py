"""Alert delivery to a webhook (README "Observability and alerts").

**When.** :func:`alert_delivery_schedule` is called by ``alert_raise`` for every raise. An
alert is delivered when it is first raised, and again when its severity rises above the one
last delivered; a repeat at the same severity only bumps the row. Nothing is sent without
``ALERT_WEBHOOK_URL``. A kind outside ``ALERT_DELIVERY_KINDS`` (when set), in
``ALERT_DELIVERY_DISABLED_KINDS`` or below ``ALERT_DELIVERY_MIN_SEVERITY`` is marked
``disabled`` and not sent. The send is queued after the raising transaction commits
(``transaction.on_commit``), so a cycle never waits for it and a rolled-back alert is never
sent: with a Celery broker the task ``trading.alert_deliver`` runs it on a worker (retried
with exponential backoff by Celery); without one (``REDIS_URL`` empty, eager Celery) a daemon
thread of this process runs :func:`alert_deliver_with_retries`.

**What.** ``ALERT_WEBHOOK_FORMAT=json`` POSTs :func:`webhook_body`'s
``{"source": "meva", "id", "kind", "severity", "account", "key", "message", "count",
"first_seen", "last_seen"}``; ``telegram`` POSTs a Telegram Bot API ``sendMessage`` body
``{"chat_id": ALERT_TELEGRAM_CHAT_ID, "text": ...}`` (the URL is then
``https://api.telegram.org/bot<token>/sendMessage``).

**Outcome.** A 2xx is ``sent``; a 429, a 5xx, a timeout or a connection error is retried up
to ``ALERT_WEBHOOK_MAX_ATTEMPTS`` attempts in all (waits 1, 2, 4, ... s, at most 300 s; a
``Retry-After`` is honoured up to that), then ``failed``; any other answer is ``failed`` at
once. The Alert row records ``delivery_status``, ``delivery_attempts``, ``delivered_at``,
``delivered_severity`` and ``delivery_error``. The webhook URL holds a secret (a bot token):
it is never logged nor stored, errors are stored and logged with every configured secret
removed (:func:`meva.logging.redact_text`), and logs name the host only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from meva.logging import redact_text
from trading.models import Alert, AlertSeverity

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}
SENT, QUEUED, RETRYING, FAILED, DISABLED = "sent", "queued", "retrying", "failed", "disabled"
MAX_BACKOFF_S = 300.0
TELEGRAM_TEXT_LIMIT = 4096  # sendMessage's limit on ``text``

_threads: list[threading.Thread] = []
_threads_guard = threading.Lock()


class DeliveryRetry(Exception):
    """A delivery attempt failed in a way worth retrying; ``retry_after`` seconds when the
    receiver said (``Retry-After``), else ``None``."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _rank(severity: str) -> int:
    try:
        return _RANK[AlertSeverity(severity)]
    except ValueError:
        return -1


def delivery_enabled(kind: str, severity: str) -> bool:
    """Whether alerts of ``kind`` at ``severity`` are delivered (module docstring; the URL
    is checked separately)."""
    kinds = settings.ALERT_DELIVERY_KINDS
    if kinds and kind not in kinds:
        return False
    if kind in settings.ALERT_DELIVERY_DISABLED_KINDS:
        return False
    return _rank(severity) >= _rank(settings.ALERT_DELIVERY_MIN_SEVERITY)


def alert_delivery_schedule(alert: Alert) -> str:
    """Decide and queue the delivery of ``alert`` just raised or bumped (module docstring),
    inside the raising transaction. Returns ``"queued"``, ``"disabled"`` or ``""`` (nothing
    to do). Never raises for the delivery's sake."""
    if not settings.ALERT_WEBHOOK_URL:
        return ""
    status = alert.delivery_status
    if status == DISABLED or status in (QUEUED, RETRYING):
        return ""  # disabled, or a queued send will read the row (and its severity) then
    if status and _rank(alert.severity) <= _rank(alert.delivered_severity):
        return ""  # delivered (or given up) at this severity already
    if not delivery_enabled(alert.kind, alert.severity):
        Alert.objects.filter(pk=alert.pk).update(delivery_status=DISABLED)
        alert.delivery_status = DISABLED
        _count(alert.kind, DISABLED)
        return DISABLED
    Alert.objects.filter(pk=alert.pk).update(delivery_status=QUEUED)
    alert.delivery_status = QUEUED
    alert_id = alert.pk
    transaction.on_commit(lambda: alert_delivery_enqueue(alert_id))
    return QUEUED


def alert_delivery_enqueue(alert_id: int) -> None:
    """Start the delivery of alert ``alert_id`` without waiting for it: the Celery task when a
    broker is configured, else a daemon thread (module docstring)."""
    try:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            thread = threading.Thread(
                target=_deliver_in_thread, args=(alert_id,), name="alert-delivery", daemon=True
            )
            with _threads_guard:
                _threads[:] = [t for t in _threads if t.is_alive()]
                _threads.append(thread)
            thread.start()
        else:
            from trading.tasks import alert_deliver_task

            alert_deliver_task.delay(alert_id)
    except Exception:  # a broker down must not fail the caller; the alert row stays queued
        logger.exception("queueing the alert delivery failed", extra={"alert_id": alert_id})


def alert_delivery_join(timeout_s: float = 30.0) -> None:
    """Wait for this process's delivery threads (tests; a command about to exit)."""
    deadline = time.monotonic() + timeout_s
    with _threads_guard:
        threads = list(_threads)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def _deliver_in_thread(alert_id: int) -> None:
    try:
        alert_deliver_with_retries(alert_id)
    except Exception:
        logger.exception("alert delivery failed", extra={"alert_id": alert_id})
    finally:
        connection.close()  # this thread's own database connection


def backoff_s(failed_attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait after ``failed_attempts`` (>= 1) failures: 1, 2, 4, ... capped at
    :data:`MAX_BACKOFF_S`, raised to ``retry_after`` (also capped)."""
    wait = min(MAX_BACKOFF_S, 2.0 ** (failed_attempts - 1))
    if retry_after is not None:
        wait = max(wait, min(MAX_BACKOFF_S, retry_after))
    return wait


def alert_deliver_with_retries(
    alert_id: int, *, sleep: Callable[[float], None] = time.sleep, max_attempts: int | None = None
) -> str:
    """Deliver alert ``alert_id`` now, retrying in this thread (module docstring); returns
    the final ``delivery_status`` (``sent`` or ``failed``; ``""`` for a missing alert or no
    URL). ``max_attempts`` defaults to ``ALERT_WEBHOOK_MAX_ATTEMPTS``."""
    attempts = settings.ALERT_WEBHOOK_MAX_ATTEMPTS if max_attempts is None else max_attempts
    for attempt in range(1, attempts + 1):
        try:
            return alert_deliver_once(alert_id, final=attempt == attempts)
        except DeliveryRetry as exc:
            sleep(backoff_s(attempt, exc.retry_after))
    return FAILED  # not reached: the final attempt records failed instead of raising


def alert_deliver_once(alert_id: int, *, final: bool = False) -> str:
    """One POST of alert ``alert_id`` to the webhook; records the outcome on the row and
    returns ``sent``/``failed`` (``""`` when the alert is gone or no URL is set). A retryable
    failure raises :class:`DeliveryRetry` (after recording ``retrying``), unless ``final``,
    when it is recorded as ``failed``."""
    import httpx  # here, not at start-up: every process imports this module (the admin)

    alert = Alert.objects.filter(pk=alert_id).first()
    url = settings.ALERT_WEBHOOK_URL
    if alert is None or not url:
        return ""
    host = urlsplit(url).hostname or "?"
    retry_after: float | None = None
    try:
        response = httpx.post(
            url,
            json=webhook_body(alert),
            timeout=float(settings.ALERT_WEBHOOK_TIMEOUT_SECONDS),
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        error, retryable = f"{type(exc).__name__}: {exc}", True
    else:
        status = response.status_code
        if 200 <= status < 300:
            _record(alert, SENT, error="", delivered=True)
            logger.info("alert %s delivered to %s", alert.pk, host, extra={"alert_id": alert.pk})
            _count(alert.kind, SENT)
            return SENT
        retryable = status == 429 or status >= 500
        error = f"HTTP {status} from {host}: {response.text[:200]}"
        retry_after = _retry_after(response)
    error = redact_text(error)[:300]
    if retryable and not final:
        _record(alert, RETRYING, error=error)
        logger.warning(
            "alert %s delivery to %s failed, will retry: %s",
            alert.pk,
            host,
            error,
            extra={"alert_id": alert.pk},
        )
        _count(alert.kind, "retry")
        raise DeliveryRetry(error, retry_after)
    _record(alert, FAILED, error=error)
    logger.error(
        "alert %s delivery to %s failed: %s", alert.pk, host, error, extra={"alert_id": alert.pk}
    )
    _count(alert.kind, FAILED)
    return FAILED


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _record(alert: Alert, status: str, *, error: str, delivered: bool = False) -> None:
    changes: dict[str, object] = {"delivery_status": status, "delivery_error": error}
    if delivered:
        changes |= {"delivered_at": timezone.now(), "delivered_severity": alert.severity}
    elif status == FAILED:
        # given up at this severity: a higher one is delivered again
        changes["delivered_severity"] = alert.severity
    Alert.objects.filter(pk=alert.pk).update(
        delivery_attempts=F("delivery_attempts") + 1, **changes
    )


def _count(kind: str, outcome: str) -> None:
    from meva.metrics import ALERT_DELIVERIES

    try:
        ALERT_DELIVERIES.labels(kind, outcome).inc()
    except Exception:
        logger.debug("delivery metric failed", exc_info=True)


def webhook_body(alert: Alert) -> dict[str, object]:
    """The POST body for ``alert`` in ``ALERT_WEBHOOK_FORMAT`` (module docstring)."""
    if settings.ALERT_WEBHOOK_FORMAT == "telegram":
        return {"chat_id": settings.ALERT_TELEGRAM_CHAT_ID, "text": telegram_text(alert)}
    return {
        "source": "meva",
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "account": alert.account,
        "key": alert.key,
        "message": alert.message,
        "count": alert.count,
        "first_seen": alert.first_seen.isoformat(),
        "last_seen": alert.last_seen.isoformat(),
    }


def telegram_text(alert: Alert) -> str:
    """``[CRITICAL] KIND account/key`` then the message (at most 4096 characters)."""
    where = "/".join(part for part in (alert.account, alert.key) if part)
    head = f"[{alert.severity.upper()}] {alert.kind}" + (f" {where}" if where else "")
    text = f"{head}\n{alert.message}"
    if alert.count > 1:
        text += f"\n(seen {alert.count} times)"
    return text[:TELEGRAM_TEXT_LIMIT]
