"""PnL by Istanbul trading day, week and month and by symbol; equity curve downsampling."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def _rows(client, query: str) -> list[tuple]:
    response = client.get(f"/api/v1/accounts/alpha/pnl/?{query}")
    assert response.status_code == 200, response.content
    return [
        (r["period"], r["realized_pnl"], r["fees"], r["fills"]) for r in response.json()["rows"]
    ]


def test_a_fill_at_21_30_utc_counts_for_the_next_istanbul_trading_day(seeded, staff_client) -> None:
    assert _rows(staff_client, "period=day") == [
        ("2024-01-10", "0", "30", 1),
        # t2 at 2024-01-10T21:30Z is 00:30 on the 11th in Istanbul; t3 at 20:59Z is 23:59
        ("2024-01-11", "1438.5", "31.5", 2),
        ("2024-02-01", "0", "20", 1),
    ]


def test_a_day_starts_at_istanbul_midnight_in_utc(seeded, staff_client) -> None:
    body = staff_client.get("/api/v1/accounts/alpha/pnl/?period=day").json()

    assert body["time_zone"] == "Europe/Istanbul"
    assert [(r["start"], r["starts_at"]) for r in body["rows"]][:2] == [
        ("2024-01-10", "2024-01-09T21:00:00Z"),
        ("2024-01-11", "2024-01-10T21:00:00Z"),
    ]
    assert body["total"] == {
        "realized_pnl": "1438.5",
        "fees": "81.5",
        "fills": 4,
        "buy_notional": "50000",
        "sell_notional": "31500",
    }


def test_weeks_and_months_group_trading_days(seeded, staff_client) -> None:
    assert _rows(staff_client, "period=week") == [
        ("2024-W02", "1438.5", "61.5", 3),
        ("2024-W05", "0", "20", 1),
    ]
    assert _rows(staff_client, "period=month") == [
        ("2024-01", "1438.5", "61.5", 3),
        ("2024-02", "0", "20", 1),
    ]


def test_a_range_keeps_the_history_for_average_cost_but_counts_only_its_fills(
    seeded, staff_client
) -> None:
    # only t3: its realized PnL needs t1's cost, read from before the range
    query = "period=day&since=2024-01-10T21:31:00Z&until=2024-01-12T00:00:00Z"
    assert _rows(staff_client, query) == [("2024-01-11", "469.5", "15.5", 1)]
    bad = staff_client.get("/api/v1/accounts/alpha/pnl/?since=2024-02-01&until=2024-01-01")
    assert bad.status_code == 400


def test_pnl_per_symbol_with_the_position_held_now(seeded, staff_client) -> None:
    body = staff_client.get("/api/v1/accounts/alpha/pnl/symbols/").json()

    assert [
        (r["symbol"], r["realized_pnl"], r["fills"], r["position_quantity"], r["unrealized_pnl"])
        for r in body["rows"]
    ] == [("BTC_TRY", "1438.5", 3, "0", "0"), ("ETH_TRY", "0", 1, "1", None)]


def test_the_equity_curve_is_downsampled_on_request_keeping_first_and_last(
    seeded, staff_client
) -> None:
    full = staff_client.get("/api/v1/accounts/alpha/equity/").json()
    assert (full["snapshots"], len(full["points"]), full["initial_cash"]) == (1000, 1000, "100000")

    body = staff_client.get("/api/v1/accounts/alpha/equity/?points=500").json()
    points = body["points"]
    assert (body["snapshots"], len(points)) == (1000, 500)
    assert points[0] == full["points"][0]
    assert points[-1] == full["points"][-1]
    assert [p["ts"] for p in points] == sorted({p["ts"] for p in points})
    assert points[-1] == {
        "ts": "2024-01-01T16:39:00Z",
        "equity": "100999",
        "cash": "50000",
        "drawdown_pct": "0",
    }


def test_equity_points_and_range_are_validated(seeded, staff_client) -> None:
    assert staff_client.get("/api/v1/accounts/alpha/equity/?points=1").status_code == 400
    window = "since=2024-01-01T00:10:00Z&until=2024-01-01T00:20:00Z&points=2"
    body = staff_client.get(f"/api/v1/accounts/alpha/equity/?{window}").json()
    assert body["snapshots"] == 10
    assert [p["ts"] for p in body["points"]] == ["2024-01-01T00:10:00Z", "2024-01-01T00:19:00Z"]
