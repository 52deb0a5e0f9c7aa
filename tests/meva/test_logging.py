from __future__ import annotations

import json
import logging

import pytest
from pytest_django.fixtures import Settings

from meva.logging import REDACTED, JsonFormatter

API_KEY = "5fa6c0f5-8d0c-4b4d-9a3e-1b2c3d4e5f60"
API_SECRET = "ZXhhbXBsZS1zZWNyZXQtYnl0ZXMtMDEyMzQ1Njc4OSEh"


@pytest.fixture
def credentials(settings: Settings) -> Settings:
    settings.BTCTURK_API_KEY = API_KEY
    settings.BTCTURK_API_SECRET = API_SECRET
    return settings


def formatted(message: str, *args: object, **extra: object) -> tuple[str, dict]:
    record = logging.LogRecord("meva.test", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    line = JsonFormatter().format(record)
    return line, json.loads(line)


def test_configured_credentials_are_redacted_from_the_message(credentials: Settings) -> None:
    line, payload = formatted("signing with %s and %s", API_KEY, API_SECRET)

    assert API_KEY not in line and API_SECRET not in line
    assert payload["message"] == f"signing with {REDACTED} and {REDACTED}"


def test_configured_credentials_are_redacted_from_extra_values_at_any_depth(
    credentials: Settings,
) -> None:
    line, payload = formatted(
        "request sent",
        url=f"https://api.btcturk.com/api/v1/order?k={API_KEY}",
        headers={"nested": [f"Bearer {API_SECRET}"]},
    )

    assert API_KEY not in line and API_SECRET not in line
    assert payload["url"] == f"https://api.btcturk.com/api/v1/order?k={REDACTED}"
    assert payload["headers"] == {"nested": [f"Bearer {REDACTED}"]}


@pytest.mark.parametrize(
    "key", ["api_secret", "X-Signature", "password", "api_key", "apikey", "token", "X-PCK"]
)
def test_values_under_secret_looking_keys_are_redacted(settings: Settings, key: str) -> None:
    settings.BTCTURK_API_KEY = settings.BTCTURK_API_SECRET = ""

    line, payload = formatted("headers", headers={key: "value-that-must-not-leak", "ok": "1"})

    assert "value-that-must-not-leak" not in line
    assert payload["headers"] == {key: REDACTED, "ok": "1"}


def test_ordinary_fields_pass_through_untouched(credentials: Settings) -> None:
    _, payload = formatted("cycle done", cycle_id=42, symbol="BTC_TRY")

    assert (payload["message"], payload["cycle_id"], payload["symbol"]) == (
        "cycle done",
        42,
        "BTC_TRY",
    )
    assert payload["level"] == "INFO" and payload["logger"] == "meva.test"
