"""Accounts, status (gate, risk mode, last cycle), balances, positions, health, records."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from trading.models import Account

pytestmark = pytest.mark.django_db


def test_accounts_list_and_detail(seeded, staff_client) -> None:
    rows = staff_client.get("/api/v1/accounts/").json()
    assert [a["name"] for a in rows] == ["alpha", "beta"]

    alpha = staff_client.get("/api/v1/accounts/alpha/").json()
    assert (alpha["mode"], alpha["symbols"], alpha["risk_mode"]) == (
        "paper",
        ["BTC_TRY", "ETH_TRY"],
        "NORMAL",
    )
    assert alpha["fee_taker_bps"] == "20"
    assert staff_client.get("/api/v1/accounts/nobody/").status_code == 404


def test_status_explains_the_gate_and_each_accounts_risk_mode_and_last_cycle(
    seeded, staff_client
) -> None:
    Account.objects.filter(name="alpha").update(
        risk_state={"mode": "REDUCE_RISK_ONLY", "mode_reasons": ["DRAWDOWN"]}
    )

    body = staff_client.get("/api/v1/status/").json()

    submit = body["gate"]["submit"]
    assert submit["allowed"] is False
    assert [r["code"] for r in submit["reasons"]][:2] == ["DRY_RUN", "KILL_SWITCH"]
    assert submit["reasons"][0]["text"] == "DRY_RUN is true (environment)"
    assert body["control"]["armed"] is False
    alpha, beta = body["accounts"]
    assert (alpha["risk_mode"], alpha["risk_reasons"], alpha["open_alerts"]) == (
        "REDUCE_RISK_ONLY",
        ["DRAWDOWN"],
        1,
    )
    assert alpha["last_cycle"]["status"] == "failed"
    assert beta["last_cycle"] is None


def test_balances_are_the_ledgers(seeded, staff_client) -> None:
    rows = staff_client.get("/api/v1/accounts/alpha/balances/").json()

    # 100000 - 30030 (buy) + 15984 + 15484.5 (sells) - 20020 (ETH buy)
    assert rows == [
        {"asset": "BTC", "amount": "0"},
        {"asset": "ETH", "amount": "1"},
        {"asset": "TRY", "amount": "81418.5"},
    ]


def test_positions_are_valued_at_the_newest_mark(seeded, staff_client) -> None:
    open_rows = staff_client.get("/api/v1/accounts/alpha/positions/").json()
    assert [(p["symbol"], p["quantity"], p["average_cost"]) for p in open_rows] == [
        ("ETH_TRY", "1", "20020")
    ]
    assert open_rows[0]["mark_price"] is None  # no cycle or candle priced ETH yet

    rows = staff_client.get("/api/v1/accounts/alpha/positions/?include_flat=true").json()
    btc = next(p for p in rows if p["symbol"] == "BTC_TRY")
    assert (btc["quantity"], btc["realized_pnl"], btc["fees_paid"]) == ("0", "1438.5", "61.5")
    assert (btc["mark_price"], btc["unrealized_pnl"]) == ("330000", "0")


def test_health_reports_database_redis_and_last_cycles_without_auth(seeded) -> None:
    with override_settings(REDIS_URL=""):
        body = APIClient().get("/api/v1/health/").json()

    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["redis"]["status"] == "not configured"
    assert [(a["name"], (a["last_cycle"] or {}).get("status")) for a in body["accounts"]] == [
        ("alpha", "failed"),
        ("beta", None),
    ]


def test_health_is_503_when_redis_is_configured_but_unreachable(db) -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = APIClient().get("/api/v1/health/")

    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["redis"]["status"] == "error"


def test_instruments_and_datasets(seeded, staff_client) -> None:
    instruments = staff_client.get("/api/v1/instruments/").json()
    assert [(i["symbol"], i["min_notional"], i["step_size"]) for i in instruments] == [
        ("BTC_TRY", "99.91", "0.00000001"),
        ("ETH_TRY", "99.91", "0.00000001"),
    ]
    datasets = staff_client.get("/api/v1/datasets/").json()
    assert [(d["name"], d["interval_ms"], d["series"]) for d in datasets] == [("sample", 60000, [])]
