"""The equity curve's points as the database renders them (PostgreSQL) are the points the API
rendered from Decimals and datetimes: same times (with and without microseconds), same exact
unpadded decimals (zero, tiny, negative, large), same downsampled rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from api.apis.reports import EquityPointSerializer
from api.selectors import equity_points_text
from ledger.models import EquitySnapshot
from ledger.reports import equity_curve
from trading.services.accounts import account_create

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2024, 3, 1, 20, 59, 59, tzinfo=dt.UTC)
VALUES = [
    Decimal("100000"),
    Decimal("0"),
    Decimal("0.00000000000000000001"),
    Decimal("-12.5"),
    # 28 significant digits: the most the ledger's Decimal context writes (the Python
    # rendering rounds longer values to 28 digits, the database would not)
    Decimal("99999999.99999999999999999999"),
    Decimal("1234.50000000"),
    Decimal("7E+3"),
]


@pytest.fixture
def curve(db) -> None:
    EquitySnapshot.objects.bulk_create(
        EquitySnapshot(
            account="alpha",
            ts=T0 + dt.timedelta(minutes=n, microseconds=(n % 3) * 250_001),
            equity=VALUES[n % len(VALUES)],
            cash=VALUES[(n + 3) % len(VALUES)],
            drawdown_pct=VALUES[(n + 5) % len(VALUES)].copy_abs() % 100,
        )
        for n in range(40)
    )


@pytest.mark.parametrize(
    ("since", "until", "points"),
    [
        (None, None, None),
        (None, None, 7),
        (T0 + dt.timedelta(minutes=3), T0 + dt.timedelta(minutes=30), 2),
        (T0 + dt.timedelta(minutes=3), None, 1000),
        (T0 + dt.timedelta(days=3), None, None),
    ],
)
def test_rendered_points_equal_the_serialized_curve(curve, since, until, points) -> None:
    total, series = equity_curve(account="alpha", since=since, until=until, points=points)
    serialized = EquityPointSerializer([p._asdict() for p in series], many=True).data

    assert equity_points_text(account="alpha", since=since, until=until, points=points) == (
        total,
        [dict(point) for point in serialized],
    )


def test_rendered_points_need_two_points(curve) -> None:
    with pytest.raises(ValueError):
        equity_points_text(account="alpha", points=1)


def test_a_curve_longer_than_the_default_is_downsampled_to_1000_points(staff_client) -> None:
    account_create(
        name="long",
        mode="paper",
        strategy="mean_reversion",
        symbols=["BTC_TRY"],
        balances={"TRY": "1000"},
        actor="command:test",
    )
    EquitySnapshot.objects.bulk_create(
        EquitySnapshot(account="long", ts=T0 + dt.timedelta(minutes=n), equity=n, cash=n)
        for n in range(2500)
    )

    body = staff_client.get("/api/v1/accounts/long/equity/").json()
    every = staff_client.get("/api/v1/accounts/long/equity/?points=10000").json()

    assert (body["snapshots"], len(body["points"])) == (2500, 1000)
    assert (body["points"][0]["equity"], body["points"][-1]["equity"]) == ("0", "2499")
    assert (every["snapshots"], len(every["points"])) == (2500, 2500)
