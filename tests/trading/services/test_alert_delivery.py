"""Alert delivery to a real HTTP receiver on 127.0.0.1 (``http.server`` in a thread): success,
retries after 5xx, per-kind switches, the Telegram body, re-delivery on a severity rise, the
Celery task, delivery after commit, and the webhook's token never reaching logs or rows."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from meva.logging import JsonFormatter
from trading.models import Alert
from trading.services.alert_delivery import (
    alert_deliver_with_retries,
    alert_delivery_join,
    webhook_body,
)
from trading.services.alerts import alert_raise
from trading.tasks import alert_deliver_task

TOKEN = "123456789:AAE-secret-bot-token-xyz"


class Receiver:
    """A webhook receiver answering the queued statuses in turn (then 200), keeping every
    request's path and JSON body."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.requests: list[tuple[str, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                receiver.requests.append((self.path, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                payload = json.dumps({"ok": status == 200}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    server = Receiver()
    settings.ALERT_WEBHOOK_URL = server.url(f"/bot{TOKEN}/sendMessage")
    settings.ALERT_WEBHOOK_FORMAT = "json"
    settings.ALERT_WEBHOOK_MAX_ATTEMPTS = 5
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 5
    settings.ALERT_DELIVERY_KINDS = []
    settings.ALERT_DELIVERY_DISABLED_KINDS = []
    settings.ALERT_DELIVERY_MIN_SEVERITY = "info"
    yield server
    server.stop()


@pytest.fixture
def json_lines() -> Iterator[list[str]]:
    """Every log line (JSON, as written to stderr) emitted during the test."""
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(record))

    handler = Capture(level=logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)


def raise_alert(kind: str = "BALANCE_DRIFT", severity: str = "warning", **kwargs) -> Alert:
    return alert_raise(
        kind=kind, severity=severity, account="acct", key="TRY", message="drift", **kwargs
    )


def no_sleep(record: list[float] | None = None):
    return (record if record is not None else []).append


@pytest.mark.django_db
def test_a_raised_alert_is_queued_and_delivered_as_json(receiver: Receiver) -> None:
    alert = raise_alert()
    assert Alert.objects.get(pk=alert.pk).delivery_status == "queued"

    status = alert_deliver_with_retries(alert.pk, sleep=no_sleep())

    assert status == "sent"
    [(path, body)] = receiver.requests
    assert path == f"/bot{TOKEN}/sendMessage"
    assert body == {
        "source": "meva",
        "id": alert.pk,
        "kind": "BALANCE_DRIFT",
        "severity": "warning",
        "account": "acct",
        "key": "TRY",
        "message": "drift",
        "count": 1,
        "first_seen": body["first_seen"],
        "last_seen": body["last_seen"],
    }
    alert.refresh_from_db()
    assert (alert.delivery_status, alert.delivery_attempts) == ("sent", 1)
    assert alert.delivered_at is not None and alert.delivered_severity == "warning"


@pytest.mark.django_db
def test_5xx_answers_are_retried_with_backoff_until_one_succeeds(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    alert = raise_alert()
    slept: list[float] = []

    status = alert_deliver_with_retries(alert.pk, sleep=slept.append)

    assert status == "sent"
    assert len(receiver.requests) == 3
    assert slept == [1.0, 2.0]
    alert.refresh_from_db()
    assert (alert.delivery_status, alert.delivery_attempts) == ("sent", 3)


@pytest.mark.django_db
def test_delivery_gives_up_after_the_last_attempt(receiver: Receiver, settings) -> None:
    settings.ALERT_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.statuses = [500, 500, 500, 500]
    alert = raise_alert()

    assert alert_deliver_with_retries(alert.pk, sleep=no_sleep()) == "failed"

    alert.refresh_from_db()
    assert (alert.delivery_status, alert.delivery_attempts) == ("failed", 3)
    assert "HTTP 500" in alert.delivery_error
    assert len(receiver.requests) == 3


@pytest.mark.django_db
def test_a_4xx_answer_is_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [400]
    alert = raise_alert()

    assert alert_deliver_with_retries(alert.pk, sleep=no_sleep()) == "failed"
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_a_kind_switched_off_is_marked_and_never_sent(receiver: Receiver, settings) -> None:
    settings.ALERT_DELIVERY_DISABLED_KINDS = ["RISK_MODE"]

    off = raise_alert(kind="RISK_MODE", severity="critical")
    on = raise_alert(kind="LOCK_LOST", severity="critical")

    assert Alert.objects.get(pk=off.pk).delivery_status == "disabled"
    assert Alert.objects.get(pk=on.pk).delivery_status == "queued"


@pytest.mark.django_db
def test_only_listed_kinds_and_severities_at_or_above_the_minimum(receiver, settings) -> None:
    settings.ALERT_DELIVERY_KINDS = ["BALANCE_DRIFT", "CLOCK_SKEW"]
    settings.ALERT_DELIVERY_MIN_SEVERITY = "warning"

    assert raise_alert(kind="LOCK_LOST").delivery_status == "disabled"
    assert raise_alert(kind="CLOCK_SKEW", severity="info").delivery_status == "disabled"
    assert raise_alert(kind="BALANCE_DRIFT").delivery_status == "queued"


@pytest.mark.django_db
def test_no_url_means_no_delivery(settings) -> None:
    settings.ALERT_WEBHOOK_URL = ""

    alert = raise_alert()

    assert alert.delivery_status == "" and Alert.objects.get(pk=alert.pk).delivery_status == ""


@pytest.mark.django_db
def test_the_telegram_format_posts_a_send_message_body(receiver: Receiver, settings) -> None:
    settings.ALERT_WEBHOOK_FORMAT = "telegram"
    settings.ALERT_TELEGRAM_CHAT_ID = "-100123"
    alert = raise_alert(kind="CYCLE_FAILURES", severity="critical")

    assert alert_deliver_with_retries(alert.pk, sleep=no_sleep()) == "sent"

    [(path, body)] = receiver.requests
    assert path.endswith("/sendMessage")
    assert body == {"chat_id": "-100123", "text": "[CRITICAL] CYCLE_FAILURES acct/TRY\ndrift"}


@pytest.mark.django_db
def test_a_repeat_is_not_resent_but_a_severity_rise_is(receiver: Receiver) -> None:
    alert = raise_alert(severity="warning")
    alert_deliver_with_retries(alert.pk, sleep=no_sleep())

    again = raise_alert(severity="warning")
    assert again.delivery_status == "sent"  # same severity: only the count grew
    higher = raise_alert(severity="critical")
    assert higher.delivery_status == "queued"
    alert_deliver_with_retries(alert.pk, sleep=no_sleep())

    assert [body["severity"] for _, body in receiver.requests] == ["warning", "critical"]
    assert receiver.requests[1][1]["count"] == 3


@pytest.mark.django_db
def test_the_celery_task_retries_and_delivers(receiver: Receiver, settings) -> None:
    receiver.statuses = [502]
    alert = raise_alert()

    result = alert_deliver_task.apply(args=[alert.pk])

    assert result.successful(), result.traceback
    alert.refresh_from_db()
    assert (alert.delivery_status, alert.delivery_attempts) == ("sent", 2)
    assert len(receiver.requests) == 2


@pytest.mark.django_db(transaction=True)
def test_delivery_starts_after_the_commit_without_blocking_the_raiser(
    receiver: Receiver, no_broker
) -> None:
    from django.db import transaction

    with transaction.atomic():
        alert = raise_alert()
        assert receiver.requests == []  # nothing before the commit

    alert_delivery_join()
    assert len(receiver.requests) == 1
    assert Alert.objects.get(pk=alert.pk).delivery_status == "sent"


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_alert_is_never_sent(receiver: Receiver, no_broker) -> None:
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        raise_alert()
        raise RuntimeError("the raiser's transaction fails")

    alert_delivery_join()
    assert receiver.requests == [] and not Alert.objects.exists()


@pytest.mark.django_db
def test_the_webhook_token_is_never_logged_nor_stored(receiver, settings, json_lines) -> None:
    settings.ALERT_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.statuses = [500, 500]
    alert = raise_alert()
    assert alert_deliver_with_retries(alert.pk, sleep=no_sleep()) == "failed"
    # a receiver that is down: the connection error path
    settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:9/bot{TOKEN}/sendMessage"
    second = raise_alert(kind="LOCK_LOST")
    assert alert_deliver_with_retries(second.pk, sleep=no_sleep()) == "failed"

    assert json_lines, "the failures were logged"
    assert any("delivery" in line for line in json_lines)
    assert not any(TOKEN in line for line in json_lines)
    for row in Alert.objects.all():
        assert TOKEN not in row.delivery_error and TOKEN not in json.dumps(webhook_body(row))
