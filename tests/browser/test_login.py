"""Logging in to the console through the admin's login form."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_login_opens_the_console(logged_in, live_server, screenshot):
    page = logged_in
    assert page.title().endswith("Meva")
    assert page.locator("#user-tools").inner_text().upper().startswith("WELCOME")
    assert screenshot(page, "login").stat().st_size > 0


def test_wrong_password_stays_on_login(page, live_server, admin_user):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", "wrong")
    page.click("input[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/admin/login/" in page.url
    assert page.locator(".errornote").is_visible()
