"""Filtered, cursor-paginated lists: orders, fills, cycles, alerts, audit events, backtests."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.django_db


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["client_order_id"] for row in response.json()["results"]]


def test_orders_are_newest_first_and_filter_by_account_symbol_status_and_time(
    seeded, staff_client
) -> None:
    get = staff_client.get

    assert _ids(get("/api/v1/orders/")) == ["o-4", "o-3", "o-2", "o-1"]
    assert _ids(get("/api/v1/orders/?account=alpha")) == ["o-3", "o-2", "o-1"]
    assert _ids(get("/api/v1/orders/?symbol=ETHTRY")) == ["o-3"]
    assert _ids(get("/api/v1/orders/?symbol=BTC_TRY&account=alpha")) == ["o-2", "o-1"]
    assert _ids(get("/api/v1/orders/?status=OPEN&status=FILLED")) == ["o-4", "o-2", "o-1"]
    assert _ids(get("/api/v1/orders/?side=sell")) == ["o-2"]
    window = "since=2024-01-11T00:00:00Z&until=2024-01-12T10:00:00Z"
    assert _ids(get(f"/api/v1/orders/?{window}")) == ["o-2"]
    assert _ids(get("/api/v1/orders/?symbol=not-a-pair")) == []


def test_a_malformed_filter_is_a_400_naming_the_field(seeded, staff_client) -> None:
    response = staff_client.get("/api/v1/orders/?status=LOST&since=yesterday")

    assert response.status_code == 400
    assert set(response.json()) == {"status", "since"}


def test_cursor_pagination_walks_every_row_once(seeded, staff_client) -> None:
    seen, url = [], "/api/v1/orders/?limit=3"
    while url:
        page = staff_client.get(url).json()
        assert len(page["results"]) <= 3
        seen += [row["client_order_id"] for row in page["results"]]
        url = page["next"]

    assert seen == ["o-4", "o-3", "o-2", "o-1"]
    assert staff_client.get("/api/v1/orders/?cursor=garbage").status_code == 404


def test_an_order_reads_money_as_exact_strings_and_times_as_iso_utc(seeded, staff_client) -> None:
    row = staff_client.get("/api/v1/orders/?client_order_id=o-1").json()["results"][0]

    assert row["price"] == "300000.5"
    assert row["quantity"] == "0.1"
    assert row["filled_quantity"] == "0"
    assert row["created_at"] == "2024-01-10T10:00:00Z"
    assert {"account", "symbol", "side", "order_type", "status", "exchange_order_id"} <= set(row)


def test_fills_filter_by_symbol_side_and_execution_time(seeded, staff_client) -> None:
    def trade_ids(query: str) -> list[str]:
        response = staff_client.get(f"/api/v1/fills/?account=alpha&{query}")
        return [row["trade_id"] for row in response.json()["results"]]

    assert trade_ids("") == ["t4", "t3", "t2", "t1"]
    assert trade_ids("symbol=BTC_TRY&side=sell") == ["t3", "t2"]
    assert trade_ids("since=2024-01-10T21:30:00Z&until=2024-02-01T00:00:00Z") == ["t3", "t2"]
    row = staff_client.get("/api/v1/fills/?client_order_id=c-t2").json()["results"][0]
    assert (row["price"], row["quantity"], row["notional"], row["fee"]) == (
        "320000",
        "0.05",
        "16000",
        "16",
    )
    assert (row["fee_quote"], row["ts"]) == ("16", "2024-01-10T21:30:00Z")


def test_cycles_list_without_decisions_and_one_cycle_with_them(seeded, staff_client) -> None:
    page = staff_client.get("/api/v1/cycles/?account=alpha&status=completed").json()
    assert [c["status"] for c in page["results"]] == ["completed", "completed"]
    first = page["results"][-1]
    assert "decisions" not in first
    assert (first["clock"], first["equity"]) == ("2024-01-10T10:00:00Z", "100123.45")

    detail = staff_client.get(f"/api/v1/cycles/{first['id']}/").json()
    assert [(d["seq"], d["kind"], d["code"]) for d in detail["decisions"]] == [
        (1, "intent", "LIMIT"),
        (2, "denial", "MIN_NOTIONAL"),
    ]
    assert detail["market"]["BTC_TRY"]["mark"] == "330000"
    assert staff_client.get("/api/v1/cycles/999999/").status_code == 404


def test_alerts_and_audit_events_filter(seeded, staff_client) -> None:
    alerts = staff_client.get("/api/v1/alerts/?open=true&account=alpha").json()["results"]
    assert [(a["kind"], a["key"], a["is_open"]) for a in alerts] == [("BALANCE_DRIFT", "TRY", True)]
    assert staff_client.get("/api/v1/alerts/?open=false").json()["results"] == []

    events = staff_client.get("/api/v1/audit-events/?account=beta").json()["results"]
    assert [e["action"] for e in events] == ["account.create"]
    assert events[0]["actor"] == "command:test"


def test_audit_events_page_newest_first_by_event_time_across_cursor_pages(staff_client) -> None:
    """Events are paged by ``created_at`` then ``id``, so a page inside a time range comes
    straight off the time index; an event written late with an older time sorts by its time."""
    from trading.models import AuditEvent

    base = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    for minute in (5, 1, 4, 2, 3):  # ids in another order than the times
        AuditEvent.objects.create(
            actor="system", action=f"test.m{minute}", account="gamma",
            created_at=base + dt.timedelta(minutes=minute),
        )  # fmt: skip

    seen, url = [], "/api/v1/audit-events/?account=gamma&limit=2"
    while url:
        page = staff_client.get(url).json()
        seen += [e["action"] for e in page["results"]]
        url = page["next"]
    window = "since=2024-03-01T00:02:00Z&until=2024-03-01T00:05:00Z"
    ranged = staff_client.get(f"/api/v1/audit-events/?account=gamma&{window}").json()

    assert seen == ["test.m5", "test.m4", "test.m3", "test.m2", "test.m1"]
    assert [e["action"] for e in ranged["results"]] == ["test.m4", "test.m3", "test.m2"]


def test_any_offset_the_iso_syntax_allows_is_converted_to_utc(seeded, staff_client) -> None:
    # 2024-01-12T06:01:00+20:01 is 2024-01-11T10:00:00Z (PostgreSQL refuses such an offset)
    query = "since=2024-01-12T06:01:00%2B20:01&until=2024-01-11T10:00:01Z"
    assert _ids(staff_client.get(f"/api/v1/orders/?{query}")) == ["o-2"]
    assert staff_client.get("/api/v1/orders/?since=0001-01-01T00:00:00%2B05:00").status_code == 400
