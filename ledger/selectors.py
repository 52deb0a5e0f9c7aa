"""Ledger reads."""

from __future__ import annotations

from django.db.models import QuerySet

from ledger.models import Position


def position_list(*, account: str) -> QuerySet[Position]:
    """Positions of ``account`` ordered by symbol, flat ones included (they carry realized PnL).

    Quantities in base units, average cost quote per base unit, PnL and fees in quote.
    """
    return Position.objects.filter(account=account).order_by("symbol")
