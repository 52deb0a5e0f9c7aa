"""Read-side queries for replay results."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q
from django.db.models.functions import Mod

from replay.models import BacktestCycle, BacktestRun


@dataclass(frozen=True, slots=True)
class EquityChart:
    """An equity curve scaled into an SVG box: ``points`` is an SVG polyline string."""

    points: str
    width: int
    height: int
    low: Decimal
    high: Decimal
    first_ts: str
    last_ts: str
    samples: int


def backtest_equity_chart(
    *, run: BacktestRun, max_points: int = 800, width: int = 900, height: int = 260
) -> EquityChart | None:
    """Equity of ``run`` per cycle, evenly downsampled to at most ``max_points`` points.

    Returns ``None`` when the run has no cycles. Only ``seq``, ``ts`` and ``equity`` are read,
    one row in every ``step``.
    """
    total = run.cycle_rows.count()
    if total == 0:
        return None
    # Every ``step``-th cycle plus the last one: ceil((total - 1) / (max_points - 1)) keeps
    # that at most ``max_points`` (``total // max_points`` could return almost twice as many).
    step = 1 if total <= max_points else -(-(total - 1) // max(1, max_points - 1))
    rows = list(
        BacktestCycle.objects.filter(run=run)
        .annotate(bucket=Mod("seq", step))
        .filter(Q(bucket=0) | Q(seq=total - 1))
        .order_by("seq")
        .values_list("ts", "equity")
    )
    values = [equity for _, equity in rows]
    low, high = min(values), max(values)
    span = (high - low) or Decimal(1)
    count = max(1, len(values) - 1)
    coords = [
        f"{i * width / count:.1f},{float((high - v) / span) * (height - 10) + 5:.1f}"
        for i, v in enumerate(values)
    ]
    return EquityChart(
        points=" ".join(coords),
        width=width,
        height=height,
        low=low,
        high=high,
        first_ts=rows[0][0].isoformat(),
        last_ts=rows[-1][0].isoformat(),
        samples=len(values),
    )
