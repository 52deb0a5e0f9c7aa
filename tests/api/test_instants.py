"""The API refuses a time out of range with a 400 naming the parameter, never a 500 (the shared
validator ``trading.domain.bounds.instant``)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.trading.test_instants import OUT_OF_RANGE


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/api/v1/fills/?since={t}", "/api/v1/cycles/?until={t}"],
)
@pytest.mark.parametrize("text", OUT_OF_RANGE[:4])
def test_api_time_filters_answer_400_naming_the_parameter(staff_client, path, text) -> None:
    response = staff_client.get(path.format(t=quote(text)))

    assert response.status_code == 400, response.content
    field = "since" if "since" in path else "until"
    assert field in response.json()


@pytest.mark.django_db
def test_the_pnl_range_refuses_a_time_past_datetime_max(seeded, staff_client) -> None:
    response = staff_client.get(f"/api/v1/accounts/alpha/pnl/?until={quote(OUT_OF_RANGE[0])}")

    assert response.status_code == 400
    assert "must be a time from 1970-01-01" in str(response.json()["until"])
