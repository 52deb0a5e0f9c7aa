"""The operator console in a browser: the dashboard, the kill switch through its confirmation
step, and an account page with its charts (seeded by ``tests.console.seed``)."""

from __future__ import annotations

import pytest

from tests.console.seed import seed_console
from trading.models import AuditEvent, TradingControl

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seeded(db):
    return seed_console()


def test_the_dashboard_shows_the_gate_accounts_and_charts(
    seeded, logged_in, live_server, screenshot
):
    page = logged_in
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_load_state("networkidle")
    screenshot(page, "console-dashboard")

    reasons = page.locator("#gate-reasons li")
    assert "NOT_ARMED" in [
        reasons.nth(i).get_attribute("data-reason") for i in range(reasons.count())
    ]
    assert page.locator("#kill-switch-state").inner_text() == "off"
    assert page.locator("#unknown-orders").inner_text().count("alpha-u1") == 1
    row = page.locator("tr[data-account=alpha]")
    assert row.locator("[data-kpi=cumulative]").inner_text().strip().startswith(("+", "-"))
    size = page.eval_on_selector(
        "#chart-alpha-equity",
        "c => [c.getBoundingClientRect().width, c.getBoundingClientRect().height]",
    )
    assert size[0] > 100 and size[1] > 50


def test_engaging_the_kill_switch_with_a_reason(seeded, logged_in, live_server, screenshot):
    page = logged_in
    page.goto(f"{live_server.url}/admin/")
    page.click("a[data-action=kill-switch-engage]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#console-action").get_attribute("data-action") == "kill-switch-engage"
    page.click("#confirm-action")  # no reason: the form refuses
    assert page.locator("#console-action").is_visible()
    page.fill("#id_reason", "exchange incident: halting all trading")
    screenshot(page, "console-kill-switch-confirm")
    page.click("#confirm-action")
    page.wait_for_load_state("networkidle")
    screenshot(page, "console-kill-switch-engaged")

    assert page.url.endswith("/admin/")
    assert "kill switch engaged" in page.locator(".messagelist").inner_text().lower()
    state = page.locator("#kill-switch-state")
    assert state.inner_text() == "ENGAGED"
    assert "badge-danger" in state.get_attribute("class")
    assert page.locator("#gate-reasons li[data-reason=DB_KILL_SWITCH]").count() == 1
    first = page.locator("#audit tbody tr").first
    assert first.get_attribute("data-audit-action") == "control.kill_switch_engage"
    assert "exchange incident" in first.inner_text()
    assert TradingControl.load().kill_switch is True
    assert AuditEvent.objects.filter(action="control.kill_switch_engage").count() == 1


def test_an_account_page_draws_its_equity_chart_with_axes(
    seeded, logged_in, live_server, screenshot
):
    page = logged_in
    page.goto(f"{live_server.url}/admin/")
    page.click("tr[data-account=alpha] a")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/admin/console/accounts/alpha/")
    screenshot(page, "console-account")

    chart = page.evaluate(
        """() => {
            const canvas = document.getElementById("chart-account-equity");
            const chart = Chart.getChart(canvas);
            const box = canvas.getBoundingClientRect();
            return {
                width: box.width, height: box.height,
                axes: Object.keys(chart.scales).sort(),
                xTitle: chart.options.scales.x.title.text,
                yTitle: chart.options.scales.y.title.text,
                xTicks: chart.scales.x.ticks.map(t => t.label),
                points: chart.data.datasets[0].data.length,
                baseline: chart.data.datasets[1].label,
            };
        }"""
    )
    assert chart["width"] > 300 and chart["height"] > 100
    assert chart["axes"] == ["x", "y"]
    assert (chart["xTitle"], chart["yTitle"]) == ("time (UTC)", "equity (TRY)")
    assert len(chart["xTicks"]) >= 3 and all(label for label in chart["xTicks"])
    assert chart["points"] > 100
    assert chart["baseline"] == "initial cash 100,000.00 TRY"
    drawdown = page.evaluate(
        "() => Object.keys(Chart.getChart(document.getElementById('chart-account-drawdown')).scales).sort()"
    )
    assert drawdown == ["x", "y"]
    assert page.locator("tr.unknown-order").count() == 1
    assert page.locator("tr[data-position=BTC_TRY] a[data-action=force-exit]").count() == 1


def test_arming_asks_for_the_typed_phrase(seeded, logged_in, live_server, screenshot):
    page = logged_in
    page.goto(f"{live_server.url}/admin/")
    page.click("a[data-action=arm]")
    page.fill("#id_reason", "market open, checks done")
    page.fill("#id_acknowledgement", "yes")
    page.click("#confirm-action")
    page.wait_for_load_state("networkidle")
    screenshot(page, "console-arm-refused")
    assert "type exactly I_UNDERSTAND" in page.locator(".errorlist").inner_text()
    assert TradingControl.load().armed is False

    page.fill("#id_acknowledgement", "I_UNDERSTAND")
    page.click("#confirm-action")
    page.wait_for_load_state("networkidle")

    assert page.locator("#switch-armed .badge").inner_text() == "ARMED"
    assert page.locator("#gate-reasons li[data-reason=NOT_ARMED]").count() == 0
    assert TradingControl.load().armed is True


def test_without_permissions_the_buttons_are_disabled(seeded, page, live_server, screenshot):
    from django.contrib.auth.models import User

    from tests.browser.conftest import PASSWORD

    User.objects.create_user(username="watcher", password=PASSWORD, is_staff=True)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/console/accounts/alpha/")
    page.fill("#id_username", "watcher")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state("networkidle")
    screenshot(page, "console-account-watcher")

    assert page.locator("#account-actions a.console-button").count() == 0
    assert page.locator("#account-actions span.console-button.disabled").count() == 3
    assert page.locator("a[data-action=force-exit]").count() == 0


def test_admin_lists_are_readable(seeded, logged_in, live_server, screenshot):
    page = logged_in
    page.goto(f"{live_server.url}/admin/trading/order/")
    screenshot(page, "admin-orders")
    assert "3,950,000" in page.locator("#result_list").inner_text()
    page.goto(f"{live_server.url}/admin/ledger/position/")
    screenshot(page, "admin-positions")
    assert "0000000000" not in page.locator("#result_list").inner_text()
    page.goto(f"{live_server.url}/admin/trading/tradingcontrol/")
    screenshot(page, "admin-trading-control")
    assert page.locator("#result_list .badge").nth(1).inner_text() == "off"
