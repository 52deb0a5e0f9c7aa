"""The console's pages and actions through the test client: what the operator sees, who may
act, that each action needs a typed reason, calls its service (the effect) and leaves an
AuditEvent naming the user and the reason."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.test.utils import override_settings

from ledger.models import EquitySnapshot
from tests.console.seed import CASH, SNAPSHOTS, _equity
from trading.console import actions as console_actions
from trading.console.selectors import trading_day_start
from trading.models import Account, Alert, AuditEvent, Order, TradingControl
from trading.services import operator_actions
from trading.services.accounts import account_create
from trading.services.control import kill_switch_engage
from trading.templatetags.meva_numbers import format_money

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/"
ACCOUNT = "/admin/console/accounts/alpha/"


def control(key: str) -> str:
    return f"/admin/console/control/{key}/"


def account_action(key: str, name: str = "alpha") -> str:
    return f"/admin/console/accounts/{name}/actions/{key}/"


def text(response) -> str:
    """The page's text without tags, whitespace collapsed."""
    html = re.sub(r"<script.*?</script>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- navigation -----------------------------------------------------------------------------


def test_the_root_redirects_to_the_dashboard_and_view_site_points_there(staff_client) -> None:
    root = Client().get("/")
    assert (root.status_code, root["Location"]) == (302, DASHBOARD)

    page = staff_client.get(DASHBOARD)

    assert page.status_code == 200
    assert 'href="/admin/">View site' in page.content.decode().replace("\n", "")


def test_the_console_needs_a_staff_login(django_user_model) -> None:
    anonymous = Client().get(ACCOUNT)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    plain = Client()
    plain.force_login(django_user_model.objects.create_user(username="plain"))
    assert plain.get(DASHBOARD).status_code == 302
    assert plain.post(control("kill-switch-engage"), {"reason": "x"}).status_code == 302
    assert not AuditEvent.objects.filter(action__startswith="control.").exists()


def test_the_account_admin_links_to_the_account_page(seeded, controller, staff_client) -> None:
    admin = Client()
    admin.force_login(
        type(controller).objects.create_superuser(username="root", password="x", email="r@x.io")
    )
    change = admin.get(f"/admin/trading/account/{seeded.pk}/change/").content.decode()
    listing = admin.get("/admin/trading/account/").content.decode()

    assert f'href="{ACCOUNT}"' in change  # "View on site"
    assert f'href="{ACCOUNT}"' in listing
    assert 'href="/admin/console/accounts/alpha/"' in staff_client.get(DASHBOARD).content.decode()


# --- dashboard content ----------------------------------------------------------------------


def test_the_dashboard_shows_every_gate_reason_and_the_kill_switch_as_a_red_badge(
    seeded, staff_client, operator
) -> None:
    page = text(staff_client.get(DASHBOARD))
    for reason in ("DRY_RUN", "LIVE_TRADING_OFF", "ACK_MISSING", "NO_CREDENTIALS", "NOT_ARMED"):
        assert reason in page
    assert "UNKNOWN_ORDERS orders in UNKNOWN state are unresolved" in page
    assert "(blocks submits only)" in page
    off = staff_client.get(DASHBOARD).content.decode()
    assert '<span class="badge badge-neutral" id="kill-switch-state">off</span>' in off

    kill_switch_engage(user=operator, reason="incident")
    engaged = staff_client.get(DASHBOARD).content.decode()

    assert '<span class="badge badge-danger" id="kill-switch-state">ENGAGED</span>' in engaged
    assert "DB_KILL_SWITCH" in engaged


def test_the_dashboard_shows_pnl_at_two_places_and_highlights_unknown_orders(
    seeded, staff_client
) -> None:
    html = staff_client.get(DASHBOARD).content.decode()
    row = html[html.index('data-account="alpha"') :]
    row = row[: row.index("</tr>")]
    cumulative = _equity(SNAPSHOTS - 1) - CASH

    assert f">{format_money(cumulative)}" in row or f">+{format_money(cumulative)}" in row
    assert re.search(r'data-kpi="today">[+-]?[\d,]+\.\d\d<', row)
    visible = text(staff_client.get(DASHBOARD))
    assert "101953.9" not in visible and "0000000000" not in visible  # never raw or padded
    unknown = html[html.index('id="unknown-orders"') :]
    assert 'class="unknown-order"' in unknown and "alpha-u1" in unknown
    assert "3,950,000" in unknown  # the price at the instrument's tick size
    assert "UNKNOWN_ORDER_UNRESOLVED" in html and "CYCLE_FAILED" in html  # open alerts


def test_today_is_the_change_since_the_istanbul_trading_day_started(staff_client) -> None:
    account_create(
        name="gamma",
        mode="paper",
        strategy="sma_cross",
        symbols=["BTC_TRY"],
        balances={"TRY": "1000"},
        actor="command:test",
    )
    start = trading_day_start()
    assert start.utcoffset() == dt.timedelta(hours=3)  # Europe/Istanbul
    for ts, equity in (
        (start - dt.timedelta(days=1), "990"),
        (start - dt.timedelta(minutes=1), "1000.25"),
        (start + dt.timedelta(seconds=1), "1012.754"),
    ):
        EquitySnapshot.objects.create(
            account="gamma", ts=ts, equity=Decimal(equity), cash=Decimal(equity)
        )

    html = staff_client.get("/admin/console/accounts/gamma/").content.decode()

    assert 'data-kpi="today">+12.50 TRY<' in html
    assert 'data-kpi="cumulative">+12.75 TRY<' in html  # against the initial cash 1,000


def test_the_account_page_shows_positions_orders_cycles_and_health(seeded, staff_client) -> None:
    html = staff_client.get(ACCOUNT).content.decode()
    page = text(staff_client.get(ACCOUNT))

    # BTC: bought 0.01 at 3,850,000 (fee 77), sold 0.004; marked at the last cycle's 3,912,000
    btc = html[html.index('data-position="BTC_TRY"') :]
    btc = btc[: btc.index("</tr>")]
    assert "0.00600000" in btc and "3,912,000" in btc and "23,472.00" in btc
    assert "+325.80" in btc  # 0.006 * 3,912,000 - cost basis 23,146.20
    assert html.count('class="unknown-order"') == 1
    assert "PARTIALLY_FILLED" in html and "alpha-o1" in html and "alpha-f1" not in html
    for step in ("snapshot", "plan", "execute", "record", "reconcile"):
        assert f'<th class="num">{step}</th>' in html
    assert "118.7" in page  # the execute step's ms
    assert "ReadTimeout: GET /api/v2/ticker" in page  # the failed cycle's error
    assert "1.3 s" in page  # websocket age from the last cycle's market record
    assert "last cycle (no health record)" in page
    assert "initial cash 100,000.00" in page
    assert staff_client.get("/admin/console/accounts/nobody/").status_code == 404


def test_exchange_health_comes_from_the_cycles_health_record_when_there_is_one(
    seeded, staff_client
) -> None:
    from trading.console.selectors import exchange_health
    from trading.models import Cycle

    cycle = Cycle(account="alpha", status="completed", mode="paper")
    cycle.health = {
        "clock_offset_ms": -412,
        "last_ok_at": "2026-12-05T18:00:00Z",
        "ws_age_s": 2.5,
        "rate_limit_wait_ms": 1250,
        "requests": 14,
        "errors": 1,
    }

    health = exchange_health(cycle, last_ok_at=None)

    assert health["source"] == "health"
    assert health["last_ok_at"] == dt.datetime(2026, 12, 5, 18, tzinfo=dt.UTC)
    assert (health["clock_offset_ms"], health["ws_age_s"], health["rate_limit_wait_ms"]) == (
        -412,
        2.5,
        1250,
    )
    assert exchange_health(None, None)["source"] == "none"


def test_the_pages_read_a_bounded_number_of_queries(
    seeded, staff_client, django_assert_max_num_queries
) -> None:
    with django_assert_max_num_queries(30):
        assert staff_client.get(DASHBOARD).status_code == 200
    with django_assert_max_num_queries(30):
        assert staff_client.get(ACCOUNT).status_code == 200


# --- actions: permissions, reasons, audit ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        control("arm"),
        control("disarm"),
        control("kill-switch-engage"),
        control("kill-switch-release"),
        account_action("enable"),
        account_action("disable"),
        account_action("stop-entries-on"),
        account_action("stop-entries-off"),
        account_action("cancel-all"),
        "/admin/console/accounts/alpha/positions/BTC_TRY/force-exit/",
    ],
)
def test_every_action_is_refused_without_its_permission(seeded, staff_client, url) -> None:
    before = AuditEvent.objects.count()

    assert staff_client.get(url).status_code == 403
    assert (
        staff_client.post(url, {"reason": "x", "acknowledgement": "I_UNDERSTAND"}).status_code
        == 403
    )
    assert AuditEvent.objects.count() == before


def test_buttons_are_disabled_without_the_permission(seeded, staff_client, controller_client):
    watcher = staff_client.get(ACCOUNT).content.decode()
    operator = controller_client.get(ACCOUNT).content.decode()

    assert (
        'class="console-button disabled" title="needs a permission you do not have" data-action="cancel-all"'
        in watcher
    )
    assert 'href="/admin/console/accounts/alpha/actions/cancel-all/' in operator
    assert 'href="/admin/console/accounts/alpha/actions/cancel-all/' not in watcher
    dashboard = controller_client.get(DASHBOARD).content.decode()
    assert 'href="/admin/console/control/kill-switch-engage/" data-action' in dashboard
    assert (
        "/admin/console/control/kill-switch-engage/"
        not in staff_client.get(DASHBOARD).content.decode()
    )


def test_the_confirmation_step_needs_a_reason(seeded, controller_client) -> None:
    page = controller_client.get(control("kill-switch-engage"))
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()

    for reason in ("", "   "):
        refused = controller_client.post(control("kill-switch-engage"), {"reason": reason})
        assert refused.status_code == 200
        assert "This field is required." in refused.content.decode()

    assert TradingControl.load().kill_switch is False
    assert not AuditEvent.objects.filter(action__startswith="control.").exists()


def test_posts_need_the_csrf_token(seeded, controller) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(controller)

    assert client.post(control("kill-switch-engage"), {"reason": "x"}).status_code == 403
    assert TradingControl.load().kill_switch is False


def said(response, message: str) -> bool:
    """``message`` among the page's messages (the admin capitalizes their first letter)."""
    return message.lower() in text(response).lower()


def _acted(client: Client, url: str, **data: str):
    response = client.post(url, {"reason": "typed by the operator", **data}, follow=True)
    assert response.redirect_chain, text(response)
    return response


def test_arm_needs_the_typed_phrase_then_arms_and_is_audited(seeded, controller, controller_client):
    wrong = controller_client.post(control("arm"), {"reason": "go", "acknowledgement": "yes"})
    assert wrong.status_code == 200 and "type exactly I_UNDERSTAND" in wrong.content.decode()
    missing = controller_client.post(control("arm"), {"reason": "go"})
    assert "This field is required." in missing.content.decode()
    assert TradingControl.load().armed is False

    done = _acted(controller_client, control("arm"), acknowledgement="I_UNDERSTAND")

    assert done.redirect_chain[-1][0] == DASHBOARD
    assert said(done, "trading armed")
    assert TradingControl.load().armed is True
    event = AuditEvent.objects.get(action="control.arm")
    assert (event.user, event.reason) == (controller, "typed by the operator")
    assert "NOT_ARMED" not in text(done).split("Audit trail")[0]

    _acted(controller_client, control("disarm"))
    assert TradingControl.load().armed is False
    assert AuditEvent.objects.filter(action="control.disarm", user=controller).count() == 1


def test_the_kill_switch_engages_and_releases_with_audit_rows(
    seeded, controller, controller_client
):
    done = _acted(controller_client, control("kill-switch-engage"))
    assert TradingControl.load().kill_switch is True
    assert said(done, "kill switch ENGAGED")
    assert "DB_KILL_SWITCH" in text(done)

    _acted(controller_client, control("kill-switch-release"))

    assert TradingControl.load().kill_switch is False
    assert list(
        AuditEvent.objects.filter(action__startswith="control.", user=controller)
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["control.kill_switch_engage", "control.kill_switch_release"]


def test_stop_entries_and_enable_disable_change_the_account(seeded, controller, controller_client):
    _acted(controller_client, account_action("stop-entries-on"))
    assert Account.objects.get(name="alpha").stop_entries is True
    _acted(controller_client, account_action("stop-entries-off"))
    assert Account.objects.get(name="alpha").stop_entries is False

    done = _acted(controller_client, account_action("disable"), next=ACCOUNT)
    assert done.redirect_chain[-1][0] == ACCOUNT
    assert said(done, "alpha: disabled")
    assert Account.objects.get(name="alpha").enabled is False
    _acted(controller_client, account_action("enable"))
    assert Account.objects.get(name="alpha").enabled is True

    assert list(
        AuditEvent.objects.filter(account="alpha", user=controller)
        .order_by("id")
        .values_list("action", "reason")
    ) == [
        ("account.stop_entries", "typed by the operator"),
        ("account.stop_entries", "typed by the operator"),
        ("account.disable", "typed by the operator"),
        ("account.enable", "typed by the operator"),
    ]


def test_cancel_all_calls_the_operator_service_and_reports_it(
    seeded, controller, controller_client, monkeypatch
) -> None:
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return operator_actions.OperatorActionResult(
            action="operator.cancel_all",
            account="alpha",
            canceled=["alpha-o1", "alpha-o2"],
            audit_event_id=41,
        )

    monkeypatch.setattr(console_actions, "orders_cancel_all", fake)

    done = _acted(controller_client, account_action("cancel-all"))

    assert calls == [
        {"account_name": "alpha", "user": controller, "reason": "typed by the operator"}
    ]
    assert said(done, "cancel all alpha: 2 cancel(s) accepted (audit #41)")
    assert done.redirect_chain[-1][0] == ACCOUNT


def test_a_gate_refusal_of_a_force_exit_is_shown_as_a_warning(
    seeded, controller, controller_client, monkeypatch
) -> None:
    def fake(**kwargs):
        result = operator_actions.OperatorActionResult(
            action="operator.force_exit", account="alpha", symbol="BTC_TRY", audit_event_id=9
        )
        result.denials.append(
            operator_actions.Denial("GATE_BLOCKED", "DB_KILL_SWITCH", None, None, "operator")
        )
        return result

    monkeypatch.setattr(console_actions, "position_force_exit", fake)

    done = _acted(controller_client, "/admin/console/accounts/alpha/positions/BTC_TRY/force-exit/")

    assert 'class="warning"' in done.content.decode()
    assert said(done, "not sent: GATE_BLOCKED: DB_KILL_SWITCH")


def test_a_force_exit_goes_through_the_service_which_audits_a_refusal(
    seeded, controller, controller_client, monkeypatch
) -> None:
    class Ports:  # no exchange rules: the service refuses before anything is sent
        paper = None
        rules = {}

        def close(self) -> None:
            pass

    monkeypatch.setattr(operator_actions, "account_ports", lambda account: Ports())
    monkeypatch.setattr(operator_actions, "cycle_clock", lambda account, ports: 0)
    monkeypatch.setattr(operator_actions, "_ledger_catch_up", lambda session: None)
    monkeypatch.setattr(operator_actions, "_after", lambda account, ports, actor: None)
    url = "/admin/console/accounts/alpha/positions/BTC_TRY/force-exit/"

    refused = controller_client.post(url, {"reason": "risk off"})

    assert refused.status_code == 200  # the confirmation step again, with the error
    assert "no exchange rules" in refused.content.decode()
    event = AuditEvent.objects.get(action="operator.force_exit")
    assert (event.account, event.user, event.reason) == ("alpha", controller, "risk off")
    assert (
        controller_client.get(
            "/admin/console/accounts/alpha/positions/XRP_TRY/force-exit/"
        ).status_code
        == 404
    )
    assert Order.objects.filter(strategy="operator").count() == 0


def test_acknowledging_an_alert_closes_it_with_the_reason(seeded, controller, controller_client):
    alert = Alert.objects.get(kind="CYCLE_FAILED")

    done = _acted(controller_client, f"/admin/console/alerts/{alert.pk}/acknowledge/")

    alert.refresh_from_db()
    assert alert.acknowledged_by == controller and alert.acknowledged_at is not None
    event = AuditEvent.objects.get(action="alert.acknowledge")
    assert (event.reason, event.object_id) == ("typed by the operator", str(alert.pk))
    assert done.redirect_chain[-1][0] == ACCOUNT
    again = controller_client.post(
        f"/admin/console/alerts/{alert.pk}/acknowledge/", {"reason": "x"}
    )
    assert "already acknowledged" in again.content.decode()


def test_an_action_url_of_another_scope_or_an_unsafe_next_is_refused(seeded, controller_client):
    assert controller_client.get("/admin/console/control/enable/").status_code == 404
    assert controller_client.get(account_action("arm")).status_code == 404
    assert controller_client.get(account_action("enable", name="nobody")).status_code == 404

    done = controller_client.post(
        account_action("stop-entries-on"), {"reason": "x", "next": "https://evil.example/"}
    )

    assert done["Location"] == ACCOUNT


@override_settings(DEBUG=False)
def test_the_dashboard_refuses_posts(staff_client) -> None:
    assert staff_client.post(DASHBOARD).status_code == 405


# --- admin lists ----------------------------------------------------------------------------


def test_admin_lists_show_numbers_at_meaningful_precision_and_instruments_are_read_only(
    seeded, controller
) -> None:
    admin = Client()
    admin.force_login(
        type(controller).objects.create_superuser(username="root", password="x", email="r@x.io")
    )
    for url in (
        "/admin/trading/order/",
        "/admin/ledger/ledgerfill/",
        "/admin/ledger/position/",
        "/admin/ledger/equitysnapshot/",
        "/admin/trading/cycle/",
        "/admin/trading/instrument/",
    ):
        page = admin.get(url).content.decode()
        assert page.count("0000000000") == 0, url

    order = Order.objects.get(client_order_id="alpha-u1")
    detail = admin.get(f"/admin/trading/order/{order.pk}/change/").content.decode()
    assert "0000000000" not in detail and "3,950,000" in detail  # the detail page too
    orders = admin.get("/admin/trading/order/").content.decode()
    assert "3,950,000" in orders and "0.00200000" in orders
    assert admin.get("/admin/trading/instrument/add/").status_code == 403
    assert admin.get("/admin/ledger/ledgerfill/add/").status_code == 403
    control_page = admin.get("/admin/trading/tradingcontrol/").content.decode()
    assert 'name="action"' not in control_page  # no bulk actions: the buttons are the path
    assert '<span class="badge badge-neutral">off</span>' in control_page
