"""The equity curve downsampled in SQL keeps exactly the rows the pure downsampling keeps."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ledger.domain.reports import series_downsample
from ledger.models import EquitySnapshot
from ledger.reports import equity_curve

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("total", [2, 3, 7, 10, 31, 100, 257])
def test_sql_downsampling_keeps_the_rows_series_downsample_keeps(total) -> None:
    EquitySnapshot.objects.bulk_create(
        EquitySnapshot(account="alpha", ts=T0 + dt.timedelta(minutes=n), equity=n, cash=n)
        for n in range(total)
    )
    # another account's rows interleaved in time must not shift the numbering
    EquitySnapshot.objects.bulk_create(
        EquitySnapshot(
            account="beta", ts=T0 + dt.timedelta(minutes=n, seconds=30), equity=0, cash=0
        )
        for n in range(total)
    )
    every = [Decimal(n) for n in range(total)]

    for points in range(2, total + 3):
        count, series = equity_curve(account="alpha", points=points)
        assert count == total
        assert [p.equity for p in series] == series_downsample(every, points), points


def test_a_range_is_downsampled_within_itself() -> None:
    EquitySnapshot.objects.bulk_create(
        EquitySnapshot(account="alpha", ts=T0 + dt.timedelta(minutes=n), equity=n, cash=n)
        for n in range(100)
    )

    count, series = equity_curve(
        account="alpha",
        since=T0 + dt.timedelta(minutes=10),
        until=T0 + dt.timedelta(minutes=50),
        points=9,
    )

    assert count == 40
    assert [p.equity for p in series] == series_downsample([Decimal(n) for n in range(10, 50)], 9)
