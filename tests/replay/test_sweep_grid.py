"""The pure part of parameter sweeps: a grid's checks and combinations, and the ranking."""

from __future__ import annotations

from decimal import Decimal

import pytest

from replay.domain.sweeps import (
    RankedRow,
    SweepGridError,
    SweepMetric,
    grid_combinations,
    grid_parse,
    rank,
)


def test_a_grid_is_a_json_object_of_value_lists() -> None:
    assert grid_parse('{"fast": [10, 20, 50], "slow": [100, 200]}') == {
        "fast": [10, 20, 50],
        "slow": [100, 200],
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"fast": [10, 20]', "not valid JSON"),
        ("[10, 20]", "must be a JSON object"),
        ("{}", "is empty"),
        ('{"fast": 10}', "'fast' must be a list of values, got 10"),
        ('{"fast": {"a": 1}}', "'fast' must be a list"),
        ('{"fast": []}', "'fast' has no values"),
        ('{"a": [1, 2, 3, 4], "b": [1, 2, 3]}', "12 combinations, more than the limit of 10"),
        ('{"fast": [NaN]}', "NaN is not a number"),
    ],
)
def test_an_invalid_grid_is_refused_naming_the_problem(text: str, problem: str) -> None:
    with pytest.raises(SweepGridError, match="^--grid: ") as caught:
        grid_parse(text, what="--grid", max_combinations=10)

    assert problem in str(caught.value)


def test_combinations_are_the_cartesian_product_in_grid_order_merged_over_the_base() -> None:
    grid = {"fast": [10, 20], "slow": [100, 200]}

    combos = grid_combinations(grid, {"fast": 5, "size": "0.5"})

    assert combos == [
        {"fast": 10, "size": "0.5", "slow": 100},
        {"fast": 10, "size": "0.5", "slow": 200},
        {"fast": 20, "size": "0.5", "slow": 100},
        {"fast": 20, "size": "0.5", "slow": 200},
    ]


def row(run_id: int, ret: str | None, sharpe: float | None, dd: str | None) -> RankedRow:
    return RankedRow(
        run_id=run_id,
        return_pct=None if ret is None else Decimal(ret),
        sharpe=sharpe,
        max_drawdown_pct=None if dd is None else Decimal(dd),
    )


ROWS = [
    row(1, "2.5", 0.4, "8"),
    row(2, "-1", None, "3"),
    row(3, None, None, None),  # failed
    row(4, "7", 1.2, "12"),
    row(5, "2.5", 0.9, "3"),
]


@pytest.mark.parametrize(
    ("metric", "order"),
    [
        (SweepMetric.RETURN, [4, 1, 5, 2, 3]),  # ties (2.5) by run id
        (SweepMetric.SHARPE, [4, 5, 1, 2, 3]),  # no Sharpe ranks last, then by id
        (SweepMetric.MAX_DRAWDOWN, [2, 5, 1, 4, 3]),  # lowest drawdown first
    ],
)
def test_runs_rank_best_first_with_missing_values_last_and_ties_by_run_id(
    metric: SweepMetric, order: list[int]
) -> None:
    assert [r.run_id for r in rank(ROWS, metric)] == order
