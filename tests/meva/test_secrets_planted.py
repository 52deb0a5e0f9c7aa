"""Known secrets planted in the settings never reach an operator's eyes: log lines (values of
any type, tracebacks), admin pages, API responses and ``doctor --json``; URL passwords are
masked in any message, configured or not."""

from __future__ import annotations

import json
import logging
import sys
from io import StringIO

import httpx
import pytest
from django.core.management import call_command
from django.urls import reverse

from meva.logging import REDACTED, JsonFormatter, redact, redact_text

API_KEY = "planted-key-7d1c5e2b9a"
API_SECRET = "cGxhbnRlZC1zZWNyZXQtYnl0ZXMtOTg3NjU0MzIx"  # base64
METRICS_TOKEN = "planted-metrics-token-44aa"
WEBHOOK_TOKEN = "planted-webhook-token-0c0ffee"
REDIS_PASSWORD = "planted-redis-pw-5511"
PLANTED = (API_KEY, API_SECRET, METRICS_TOKEN, WEBHOOK_TOKEN, REDIS_PASSWORD)


@pytest.fixture
def planted(settings):
    settings.BTCTURK_API_KEY = API_KEY
    settings.BTCTURK_API_SECRET = API_SECRET
    settings.BTCTURK_BASE_URL = "http://127.0.0.1:9"  # nothing listens: calls fail fast
    settings.BTCTURK_GRAPH_URL = "http://127.0.0.1:9"
    settings.METRICS_TOKEN = METRICS_TOKEN
    settings.ALERT_WEBHOOK_URL = f"https://hooks.example.com/services/{WEBHOOK_TOKEN}"
    settings.REDIS_URL = f"redis://:{REDIS_PASSWORD}@127.0.0.1:9/0"  # unreachable on purpose
    return settings


def assert_clean(text: str, where: str) -> None:
    leaked = [secret for secret in PLANTED if secret in text]
    assert not leaked, f"{where} shows {leaked}"


def _line(message: str, *args: object, exc_info=None, **extra: object) -> str:
    record = logging.LogRecord("meva.test", logging.ERROR, __file__, 1, message, args, exc_info)
    record.__dict__.update(extra)
    return JsonFormatter().format(record)


def test_log_lines_of_any_value_type_hide_the_planted_secrets(planted) -> None:
    headers = httpx.Headers({"X-PCK": API_KEY, "X-Signature": "abc", "Accept": "json"})
    text = _line(
        "calling with %s and %s",
        API_KEY,
        f"redis://:{REDIS_PASSWORD}@cache:6379/0",
        headers=headers,
        body=f"secret={API_SECRET}".encode(),
        labels={METRICS_TOKEN, "plain"},
        nested={"list": [WEBHOOK_TOKEN, 1, None], "tuple": (API_SECRET,)},
    )
    assert_clean(text, "a log line")
    payload = json.loads(text)
    assert payload["headers"]["x-pck"] == REDACTED and payload["headers"]["accept"] == "json"
    assert sorted(payload["labels"]) == sorted([REDACTED, "plain"])
    assert payload["nested"]["list"] == [REDACTED, 1, None]


def test_a_traceback_carrying_the_secrets_is_redacted(planted) -> None:
    try:
        raise ConnectionError(f"redis://:{REDIS_PASSWORD}@cache failed with key {API_KEY}")
    except ConnectionError:
        text = _line("boom", exc_info=sys.exc_info())
    assert "Traceback" in text
    assert_clean(text, "a traceback")


def test_any_url_password_is_masked_even_if_not_configured() -> None:
    text = "db postgres://meva:hunter2hunter2@db:5432/meva and amqp://guest:guest@mq//"
    assert redact_text(text, []) == "db postgres://meva:***@db:5432/meva and amqp://guest:***@mq//"
    assert redact(b"http://u:pw-in-bytes@h/", []) == "http://u:***@h/"


@pytest.mark.django_db
def test_admin_pages_and_api_responses_hide_the_planted_secrets(planted, admin_client) -> None:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    for page in (
        reverse("admin:index"),
        reverse("admin:trading_tradingcontrol_changelist"),
        reverse("admin:trading_alert_changelist"),
        reverse("admin:trading_account_changelist"),
    ):
        response = admin_client.get(page, follow=True)
        assert response.status_code == 200, page
        assert_clean(response.content.decode(), page)

    api = APIClient()
    api.force_authenticate(get_user_model().objects.get(username="admin"))
    for url in ("/api/v1/health/", "/api/v1/status/", "/api/v1/accounts/", "/api/v1/alerts/"):
        response = api.get(url)
        assert response.status_code in (200, 503), (url, response.status_code)
        assert_clean(response.content.decode(), url)


@pytest.mark.django_db
def test_doctor_json_hides_the_planted_secrets(planted) -> None:
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit):  # Redis and the exchange are unreachable: failures
        call_command("doctor", "--json", stdout=out, stderr=err)
    report = out.getvalue()
    assert json.loads(report)  # a JSON report was printed
    assert_clean(report + err.getvalue(), "doctor --json")
