"""The sandbox exchange answers a time parameter out of range as BTCTurk does (400
``INVALID_PARAMETER``), never with an ``OverflowError``."""

from __future__ import annotations

import httpx
import pytest

from tests.trading.sandbox.conftest import signed_headers


@pytest.mark.parametrize("value", ["1e400", "99999999999999999999", "-99999999999999"])
def test_sandbox_time_parameters_answer_btcturk_errors(sandbox, value: str) -> None:
    response = httpx.get(
        f"{sandbox.base_url}/api/v1/users/transactions/trade",
        params={"startDate": value},
        headers=signed_headers(sandbox.api_key, sandbox.api_secret),
    )

    assert response.status_code == 400
    assert response.json()["message"] == "INVALID_PARAMETER: startDate"
