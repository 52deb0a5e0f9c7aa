"""The log context (account, cycle, symbol, client order id on every line) and the redaction
of configured secrets from log lines, tracebacks, Django's error pages and the admin."""

from __future__ import annotations

import json
import logging
import sys
from decimal import Decimal

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path, reverse

from meva.logging import REDACTED, JsonFormatter, log_context, log_context_bind
from trading.domain.orders import OrderRequest, OrderType, Side
from trading.domain.planner import CyclePlan
from trading.domain.reports import SubmitAck
from trading.domain.risk import Mode, RiskState
from trading.domain.symbols import Symbol
from trading.models import Alert, Cycle
from trading.services.execution import plan_execute

API_KEY = "5fa6c0f5-8d0c-4b4d-9a3e-1b2c3d4e5f60"
API_SECRET = "ZXhhbXBsZS1zZWNyZXQtYnl0ZXMtMDEyMzQ1Njc4OSEh"
METRICS_TOKEN = "metrics-token-4f1e9a77c2"
BOT_TOKEN = "987654321:AAH-webhook-token-q1w2e3"
WEBHOOK = f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage"
SECRETS = (API_KEY, API_SECRET, METRICS_TOKEN, BOT_TOKEN)
BTC = Symbol("BTC", "TRY")


@pytest.fixture
def secrets(settings):
    settings.BTCTURK_API_KEY = API_KEY
    settings.BTCTURK_API_SECRET = API_SECRET
    settings.METRICS_TOKEN = METRICS_TOKEN
    settings.ALERT_WEBHOOK_URL = WEBHOOK
    settings.ALERT_WEBHOOK_FORMAT = "telegram"
    settings.ALERT_TELEGRAM_CHAT_ID = "-1001"
    return settings


def line(message: str = "hello", *, exc_info=None, **extra: object) -> tuple[str, dict]:
    record = logging.LogRecord("meva.test", logging.ERROR, __file__, 1, message, (), exc_info)
    record.__dict__.update(extra)
    text = JsonFormatter().format(record)
    return text, json.loads(text)


def assert_clean(text: str) -> None:
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, f"secrets leaked: {leaked}"


# --- log context ---------------------------------------------------------------------------


def test_context_fields_reach_every_line_inside_the_block_and_leave_with_it() -> None:
    with log_context(account="main"):
        log_context_bind(cycle_id=7)
        with log_context(symbol="BTC_TRY", client_order_id="mv-1"):
            _, inner = line()
        _, outer = line()
    _, after = line()

    assert {k: inner[k] for k in ("account", "cycle_id", "symbol", "client_order_id")} == {
        "account": "main",
        "cycle_id": 7,
        "symbol": "BTC_TRY",
        "client_order_id": "mv-1",
    }
    assert (outer["account"], outer["cycle_id"]) == ("main", 7) and "symbol" not in outer
    assert not {"account", "cycle_id", "symbol", "client_order_id"} & set(after)


def test_a_line_s_own_field_wins_over_the_context_and_unknown_fields_are_refused() -> None:
    with log_context(account="main", symbol=None):
        _, payload = line(account="other")

    assert payload["account"] == "other" and "symbol" not in payload
    with pytest.raises(ValueError), log_context(colour="red"):
        pass


class LoggingPort:
    """An order port that logs while it sends, as the BTCTurk client does."""

    def submit_order(self, request: OrderRequest) -> SubmitAck:
        logging.getLogger("meva.test.port").warning("sending")
        return SubmitAck(
            "1", request.client_order_id, request.symbol, request.side, request.order_type,
            request.price, request.quantity, 0,
        )  # fmt: skip

    def cancel_order(self, order_id: str):  # pragma: no cover - no cancels planned
        raise AssertionError


def test_execution_sets_the_symbol_and_client_order_id_of_the_order_being_sent() -> None:
    order = OrderRequest("mv-ctx-1", BTC, Side.BUY, OrderType.LIMIT, Decimal(1), Decimal(2))
    plan = CyclePlan(
        now_ms=0, mode=Mode.NORMAL, mode_reasons=(), universe=(BTC,), excluded={}, intents=(),
        orders=(order,), cancels=(), denials=(), portfolio=None, risk_state=RiskState(),
        equity=Decimal(1),
    )  # fmt: skip
    lines: list[dict] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    handler = Capture()
    port_logger = logging.getLogger("meva.test.port")
    port_logger.addHandler(handler)
    try:
        with log_context(account="ctx"):
            plan_execute(plan, port=LoggingPort(), now_ms=0)
    finally:
        port_logger.removeHandler(handler)

    [sent] = lines
    assert (sent["account"], sent["symbol"], sent["client_order_id"]) == (
        "ctx",
        "BTC_TRY",
        "mv-ctx-1",
    )


# --- log lines and tracebacks ----------------------------------------------------------------


def test_configured_secrets_are_redacted_from_messages_and_fields(secrets) -> None:
    text, payload = line(
        f"posting to {WEBHOOK} with {METRICS_TOKEN}", url=WEBHOOK, nested={"a": [BOT_TOKEN]}
    )

    assert_clean(text)
    assert payload["url"] == REDACTED and payload["nested"] == {"a": [REDACTED]}


def test_a_traceback_whose_exception_carries_a_secret_is_redacted(secrets) -> None:
    def sign(secret: str) -> None:
        raise ValueError(f"could not sign with {secret}")

    try:
        try:
            sign(API_SECRET)
        except ValueError as inner:
            raise RuntimeError(f"webhook {WEBHOOK} failed") from inner
    except RuntimeError:
        text, payload = line("failed", exc_info=sys.exc_info())

    assert_clean(text)
    assert "could not sign with ***" in payload["exc"]
    assert "RuntimeError: webhook *** failed" in payload["exc"]


def test_a_password_in_the_redis_url_is_redacted(settings) -> None:
    settings.REDIS_URL = "redis://:redis-pass-xyzzy@127.0.0.1:6379/13"

    text, _ = line("AUTH failed for redis://:redis-pass-xyzzy@127.0.0.1:6379/13")

    assert "redis-pass-xyzzy" not in text


# --- Django's error pages and the admin --------------------------------------------------------


def boom(request: HttpRequest) -> HttpResponse:
    token = METRICS_TOKEN  # a local holding a secret, shown by the debug page's frame locals
    headers = {"X-PCK": API_KEY, "hook": WEBHOOK}
    raise RuntimeError(f"exchange refused key {API_KEY} ({len(token)}, {len(headers)})")


urlpatterns = [path("boom/", boom), path("", include("meva.urls"))]


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["text/html", "text/plain"])
def test_the_debug_error_page_shows_no_secret(secrets, accept: str) -> None:
    secrets.DEBUG = True
    secrets.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)

    response = client.get("/boom/", headers={"Accept": accept})

    assert response.status_code == 500
    body = response.content.decode()
    assert "RuntimeError" in body and "exchange refused key" in body  # it is the debug page
    assert_clean(body)


@pytest.mark.django_db
def test_admin_pages_show_no_secret(secrets, admin_client) -> None:
    cycle = Cycle.objects.create(account="acct", mode="live", status="completed", health={})
    alert = Alert.objects.create(
        kind="LOCK_LOST", severity="critical", account="acct", message="m", delivery_status="failed"
    )
    pages = [
        reverse("admin:index"),
        reverse("admin:trading_alert_changelist"),
        reverse("admin:trading_alert_change", args=[alert.pk]),
        reverse("admin:trading_cycle_change", args=[cycle.pk]),
        reverse("admin:trading_tradingcontrol_changelist"),
    ]

    for page in pages:
        response = admin_client.get(page, follow=True)
        assert response.status_code == 200, page
        assert_clean(response.content.decode())
