"""Parameter sweeps, the pure part: a grid of strategy parameters becomes its combinations, and
finished runs are ranked by one metric.

A grid is a JSON object mapping a parameter name to a non-empty list of values, e.g.
``{"fast": [10, 20, 50], "slow": [100, 200]}``; its combinations are the cartesian product in
the grid's key order, then value order (``fast=10, slow=100``, ``fast=10, slow=200``, ...), each
merged over the base parameters (a grid value wins). Values are not checked here: the strategy
checks each combination, and one it refuses fails alone.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from trading.domain.jsonsafe import JsonRejected, json_object_loads

MAX_COMBINATIONS = 1000


class SweepGridError(ValueError):
    """A grid that cannot be swept; the message names the problem (and the key, if one)."""


class SweepMetric(enum.StrEnum):
    """What a sweep ranks by: return % (highest first), Sharpe (highest first) or max
    drawdown % (lowest first)."""

    RETURN = "return"
    SHARPE = "sharpe"
    MAX_DRAWDOWN = "max_drawdown"

    @property
    def lowest_first(self) -> bool:
        return self is SweepMetric.MAX_DRAWDOWN


def grid_parse(
    text: str, *, what: str = "grid", max_combinations: int = MAX_COMBINATIONS
) -> dict[str, list]:
    """``text`` (a JSON object of non-empty lists) as a grid; raises :class:`SweepGridError`
    starting with ``what`` for invalid JSON, a non-object, an empty grid, a non-list or empty
    list value, or more than ``max_combinations`` combinations."""
    try:
        grid = json_object_loads(text, what=what)
    except JsonRejected as exc:
        raise SweepGridError(str(exc)) from None
    return grid_check(grid, what=what, max_combinations=max_combinations)


def grid_check(
    grid: Mapping[str, object], *, what: str = "grid", max_combinations: int = MAX_COMBINATIONS
) -> dict[str, list]:
    """``grid`` checked as :func:`grid_parse` does (same errors); returns a plain dict copy."""
    if not grid:
        raise SweepGridError(f"{what}: is empty; give at least one parameter and its values")
    for key, values in grid.items():
        if not isinstance(values, list):
            raise SweepGridError(f"{what}: {key!r} must be a list of values, got {values!r}")
        if not values:
            raise SweepGridError(f"{what}: {key!r} has no values")
    total = grid_size(grid)
    if total > max_combinations:
        raise SweepGridError(
            f"{what}: {total} combinations, more than the limit of {max_combinations}"
        )
    return {key: list(values) for key, values in grid.items()}


def grid_size(grid: Mapping[str, Sequence[object]]) -> int:
    """How many combinations ``grid`` has (the product of its list lengths)."""
    total = 1
    for values in grid.values():
        total *= len(values)
    return total


def grid_combinations(
    grid: Mapping[str, Sequence[object]], base: Mapping[str, object] | None = None
) -> list[dict[str, object]]:
    """Every combination of ``grid`` merged over ``base``, in grid order (module docstring)."""
    keys = list(grid)
    return [
        {**(base or {}), **dict(zip(keys, values, strict=True))}
        for values in itertools.product(*(grid[k] for k in keys))
    ]


@dataclass(frozen=True, slots=True)
class RankedRow:
    """One run of a sweep as the ranking sees it: its id and metrics (``None``: unknown,
    e.g. a failed run or a Sharpe over too few returns). Percent values are percent."""

    run_id: int
    return_pct: Decimal | None
    sharpe: float | None
    max_drawdown_pct: Decimal | None

    def value(self, metric: SweepMetric) -> Decimal | float | None:
        if metric is SweepMetric.RETURN:
            return self.return_pct
        if metric is SweepMetric.SHARPE:
            return self.sharpe
        return self.max_drawdown_pct


def rank(rows: Sequence[RankedRow], metric: SweepMetric) -> list[RankedRow]:
    """``rows`` best first by ``metric`` (max drawdown lowest first, the others highest
    first); rows without a value come last; ties go to the lower run id."""

    def key(row: RankedRow) -> tuple[int, Decimal | float, int]:
        value = row.value(metric)
        if value is None:
            return (1, 0, row.run_id)
        return (0, value if metric.lowest_first else -value, row.run_id)

    return sorted(rows, key=key)
