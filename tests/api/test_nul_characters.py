"""A NUL character (%00) in a path or query is a 400 on every engine, never a 500.

PostgreSQL text cannot hold NUL: before the guard, ``/api/v1/accounts/%00/`` raised
``DataError`` there (found by the API fuzz test in CI)."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("/api/v1/accounts/%00/", "path"),
        ("/api/v1/accounts/alpha/orders/?symbol=BTC%00TRY", "query parameter 'symbol'"),
        ("/api/v1/accounts/?x%00=1", "query parameter name"),
    ],
)
def test_a_nul_in_an_api_request_is_a_json_400_naming_where(seeded, staff_client, url, where):
    response = staff_client.get(url)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert where in response.json()["detail"]


@pytest.mark.django_db
def test_a_nul_in_an_admin_search_is_a_400(admin_client):
    response = admin_client.get("/admin/trading/order/?q=%00")

    assert response.status_code == 400
    assert b"query parameter 'q'" in response.content


@pytest.mark.django_db
def test_requests_without_nul_pass_the_guard(seeded, staff_client, admin_client):
    assert staff_client.get("/api/v1/accounts/").status_code == 200
    assert admin_client.get("/admin/trading/order/?q=BTC").status_code == 200
