"""Who may call the API: a token or a session, staff for reads, console permissions for
control, nothing for health."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.api.conftest import grant, token_client

pytestmark = pytest.mark.django_db

READS = [
    "/api/v1/status/",
    "/api/v1/accounts/",
    "/api/v1/orders/",
    "/api/v1/fills/",
    "/api/v1/cycles/",
    "/api/v1/alerts/",
    "/api/v1/audit-events/",
    "/api/v1/instruments/",
    "/api/v1/datasets/",
    "/api/v1/backtests/",
    "/api/v1/schema/",
]
CONTROLS = {
    "/api/v1/control/arm/": "trading.arm_trading",
    "/api/v1/control/disarm/": "trading.arm_trading",
    "/api/v1/control/kill-switch/": "trading.kill_switch",
    "/api/v1/control/stop-entries/": "trading.change_account",
    "/api/v1/control/cancel-all/": "trading.operate_orders",
    "/api/v1/control/force-exit/": "trading.operate_orders",
    "/api/v1/backtests/": "replay.add_backtestrun",
}


@pytest.mark.parametrize("url", READS + list(CONTROLS))
def test_every_endpoint_but_health_answers_401_without_credentials(url: str) -> None:
    method = "post" if "control" in url else "get"
    response = getattr(APIClient(), method)(url, {}, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_an_unknown_token_is_refused() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.get("/api/v1/accounts/").status_code == 401


@pytest.mark.parametrize("url", READS)
def test_a_user_who_is_not_staff_gets_403(plain_client, url: str) -> None:
    assert plain_client.get(url).status_code == 403


@pytest.mark.parametrize("url", READS)
def test_staff_reads_with_the_token_header(staff_client, url: str) -> None:
    assert staff_client.get(url).status_code == 200


def test_a_session_login_works_too(staff) -> None:
    client = APIClient()
    client.force_login(staff)

    assert client.get("/api/v1/accounts/").status_code == 200


@pytest.mark.parametrize(("url", "perm"), CONTROLS.items())
def test_control_needs_its_console_permission_not_just_staff(
    staff, staff_client, url: str, perm: str
) -> None:
    assert staff_client.post(url, {}, format="json").status_code == 403

    granted = token_client(grant(staff, perm))
    # with the permission the request reaches validation (an empty body is a 400)
    assert granted.post(url, {}, format="json").status_code == 400


def test_arming_needs_its_own_permission_the_kill_switch_is_not_enough(staff) -> None:
    client = token_client(grant(staff, "trading.kill_switch"))
    body = {"reason": "go", "acknowledgement": "I_UNDERSTAND"}

    assert client.post("/api/v1/control/arm/", body, format="json").status_code == 403


def test_a_permission_without_staff_is_not_enough(django_user_model) -> None:
    user = grant(django_user_model.objects.create_user(username="x"), "trading.kill_switch")
    body = {"engaged": True, "reason": "incident"}

    response = token_client(user).post("/api/v1/control/kill-switch/", body, format="json")

    assert response.status_code == 403


def test_health_needs_no_credentials_and_ignores_a_bad_token() -> None:
    client = APIClient()
    assert client.get("/api/v1/health/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/health/").status_code == 200


def test_drf_create_token_makes_a_token_the_api_accepts(staff) -> None:
    out = StringIO()
    call_command("drf_create_token", staff.username, stdout=out)
    key = Token.objects.get(user=staff).key
    assert key in out.getvalue()

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/accounts/").status_code == 200


def test_the_first_schema_address_redirects_to_v1(staff_client) -> None:
    response = staff_client.get("/api/schema/")

    assert response.status_code == 302
    assert response["Location"] == "/api/v1/schema/"
