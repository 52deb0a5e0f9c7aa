"""``manage.py backtest_sweep``: every combination is a normal run grouped under a sweep and
ranked; a failing combination fails alone; grid errors create nothing; the same sweep on two
worker processes or as a Celery group gives the same runs as in one process.

The dataset is the first 600 bars (about two days) of BTC_USDT and ETH_USDT from the bundled
``data/sample/usdt-5m``, imported as ``usdt-slice``; sweeps are a handful of ``sma_cross`` runs.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from replay.models import BacktestRun, RunStatus, Sweep
from replay.tasks import sweep_run_task

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "usdt-5m"
BARS = 600
GRID = '{"fast": [3, 5], "slow": [10, 20]}'
SMA = ["--dataset", "usdt-slice", "--strategy", "sma_cross"]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "usdt-slice"
    (root / "candles").mkdir(parents=True)
    for pair in ("BTC_USDT", "ETH_USDT"):
        with (SAMPLE / "candles" / f"{pair}.csv").open() as source:
            head = [next(source) for _ in range(BARS + 1)]
        (root / "candles" / f"{pair}.csv").write_text("".join(head))
    call_command("import_dataset", str(root), "--name", "usdt-slice", stdout=io.StringIO())
    return root


def sweep(*args: str) -> dict:
    out = io.StringIO()
    call_command("backtest_sweep", *SMA, *args, "--json", stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def by_params(result: dict) -> dict[tuple, str]:
    """Each combination's fingerprint, keyed by its parameter values."""
    return {tuple(r["params"].values()): r["fingerprint"] for r in result["runs"]}


# --- runs, grouping and ranking ----------------------------------------------------------------


@pytest.mark.django_db
def test_every_combination_is_a_completed_run_grouped_under_the_sweep(dataset: Path) -> None:
    result = sweep("--grid", GRID, "--initial-cash", "50000", "--fee-taker-bps", "15")

    stored = Sweep.objects.get(pk=result["sweep_id"])
    assert (stored.status, stored.total, stored.completed, stored.failed) == ("completed", 4, 4, 0)
    assert stored.actor == "command:backtest_sweep"
    assert stored.grid == {"fast": [3, 5], "slow": [10, 20]}
    assert stored.started_at <= stored.finished_at
    runs = list(BacktestRun.objects.filter(sweep=stored).order_by("pk"))
    assert [r.params for r in runs] == [
        {"fast": 3, "slow": 10},
        {"fast": 3, "slow": 20},
        {"fast": 5, "slow": 10},
        {"fast": 5, "slow": 20},
    ]
    assert {r.status for r in runs} == {RunStatus.COMPLETED}
    assert {(r.initial_cash, r.fee_taker_bps, r.cycles) for r in runs} == {
        (Decimal(50000), Decimal(15), BARS)
    }
    assert len({r.fingerprint for r in runs}) == 4


@pytest.mark.django_db
def test_the_runs_are_ranked_by_the_chosen_metric_best_first(dataset: Path) -> None:
    by_return = sweep("--grid", GRID)
    by_drawdown = sweep("--grid", GRID, "--metric", "max_drawdown")

    returns = [Decimal(r["return_pct"]) for r in by_return["runs"]]
    assert returns == sorted(returns, reverse=True)
    assert [r["rank"] for r in by_return["runs"]] == [1, 2, 3, 4]
    drawdowns = [Decimal(r["max_drawdown_pct"]) for r in by_drawdown["runs"]]
    assert drawdowns == sorted(drawdowns)
    assert Sweep.objects.get(pk=by_drawdown["sweep_id"]).metric == "max_drawdown"


@pytest.mark.django_db
def test_grid_values_are_merged_over_the_base_params(dataset: Path) -> None:
    result = sweep("--params", '{"slow": 20, "fast": 7}', "--grid", '{"fast": [3, 5]}')

    assert [r["params"] for r in result["runs"]] in (
        [{"fast": 3}, {"fast": 5}],
        [{"fast": 5}, {"fast": 3}],
    )
    stored = BacktestRun.objects.filter(sweep_id=result["sweep_id"]).order_by("pk")
    assert [r.params for r in stored] == [{"fast": 3, "slow": 20}, {"fast": 5, "slow": 20}]


@pytest.mark.django_db
def test_the_table_shows_rank_params_metrics_trades_and_run_ids(dataset: Path) -> None:
    out = io.StringIO()

    call_command("backtest_sweep", *SMA, "--grid", GRID, stdout=out)

    text = out.getvalue()
    stored = Sweep.objects.get()
    assert f"sweep {stored.pk}: sma_cross on usdt-slice, 4 combinations" in text
    assert "rank  params" in text and "return %" in text and "max DD %" in text
    best = BacktestRun.objects.filter(sweep=stored).order_by("-return_pct", "pk").first()
    first_row = text.splitlines()[2].split()
    assert first_row[0] == "1"
    assert first_row[-1] == str(best.pk)
    assert first_row[-2] == str(best.trades)


# --- failures ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_combination_the_strategy_refuses_fails_alone(dataset: Path) -> None:
    result = sweep("--grid", '{"fast": [5, 30], "slow": [20]}')

    assert (result["status"], result["completed"], result["failed"]) == ("completed", 1, 1)
    refused = BacktestRun.objects.get(sweep_id=result["sweep_id"], params__fast=30)
    assert refused.status == RunStatus.FAILED
    assert "'fast' (30) must be below 'slow' (20)" in refused.error
    assert refused.finished_at is not None
    assert result["runs"][-1]["run_id"] == refused.pk  # no metric: ranked last
    assert result["runs"][-1]["return_pct"] is None


@pytest.mark.django_db
def test_an_engine_error_fails_that_combination_alone_and_the_table_names_it(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from replay.services import backtests

    real = backtests.run_backtest

    def explode_on_fast_5(dataset, config, **kwargs):
        if config.strategy.params_json()["fast"] == 5:
            raise RuntimeError("engine exploded")
        return real(dataset, config, **kwargs)

    monkeypatch.setattr(backtests, "run_backtest", explode_on_fast_5)
    out = io.StringIO()

    call_command("backtest_sweep", *SMA, "--grid", GRID, stdout=out)

    stored = Sweep.objects.get()
    assert (stored.status, stored.completed, stored.failed) == ("completed", 2, 2)
    failed = BacktestRun.objects.filter(sweep=stored, status=RunStatus.FAILED)
    assert {r.params["fast"] for r in failed} == {5}
    assert {r.error for r in failed} == {"RuntimeError: engine exploded"}
    for run in failed:
        assert f"failed: run {run.pk} fast=5, slow={run.params['slow']}" in out.getvalue()


@pytest.mark.django_db
def test_a_sweep_whose_every_combination_fails_exits_non_zero(dataset: Path) -> None:
    out = io.StringIO()

    with pytest.raises(CommandError, match="every combination failed"):
        call_command("backtest_sweep", *SMA, "--grid", '{"fast": [30, 40]}', stdout=out)

    stored = Sweep.objects.get()
    assert (stored.status, stored.failed, stored.error) == ("failed", 2, "every combination failed")
    assert "must be below 'slow'" in out.getvalue()  # the failures are printed first


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--grid", '{"fast": [3, 5'], "--grid: not valid JSON"),
        (["--grid", "[3, 5]"], "--grid: must be a JSON object"),
        (["--grid", "{}"], "--grid: is empty"),
        (["--grid", '{"fast": 3}'], "--grid: 'fast' must be a list"),
        (["--grid", '{"fast": []}'], "--grid: 'fast' has no values"),
        (
            ["--grid", json.dumps({"fast": list(range(1, 41)), "slow": list(range(1, 31))})],
            "--grid: 1200 combinations, more than the limit of 1000",
        ),
        (["--grid", GRID, "--risk", '{"max_positon_pct": 0.3}'], "max_positon_pct"),
        (["--grid", GRID, "--params", "[1]"], "--params"),
        (["--grid", GRID, "--workers", "0"], "--workers 0: must be 1 to 64"),
    ],
)
def test_invalid_arguments_raise_a_command_error_and_create_nothing(
    dataset: Path, args: list[str], named: str
) -> None:
    with pytest.raises(CommandError, match=named.replace("[", r"\[")):
        call_command("backtest_sweep", *SMA, *args, stdout=io.StringIO())

    assert not Sweep.objects.exists()
    assert not BacktestRun.objects.exists()


# --- where the runs run --------------------------------------------------------------------


@pytest.mark.django_db
def test_celery_is_refused_without_redis_url(dataset: Path, settings) -> None:
    settings.REDIS_URL = ""

    with pytest.raises(CommandError, match="--celery: REDIS_URL is not set"):
        call_command("backtest_sweep", *SMA, "--grid", GRID, "--celery", stdout=io.StringIO())

    assert not Sweep.objects.exists()


@pytest.mark.django_db
def test_workers_and_celery_exclude_each_other(dataset: Path) -> None:
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("backtest_sweep", *SMA, "--grid", GRID, "--workers", "2", "--celery")


@pytest.mark.django_db(transaction=True)  # the group is sent when the sweep's rows commit
def test_celery_runs_one_task_per_combination_with_the_in_process_results(
    dataset: Path, settings, no_broker
) -> None:
    local = sweep("--grid", GRID)
    settings.REDIS_URL = "redis://127.0.0.1:6379/13"  # required; eager Celery never connects
    sent: list[int] = []
    real_run = sweep_run_task.run

    def counted(run_id: int) -> dict:
        sent.append(run_id)
        return real_run(run_id)

    sweep_run_task.run = counted
    try:
        queued = sweep("--grid", GRID, "--celery")
    finally:
        sweep_run_task.run = real_run

    stored = Sweep.objects.get(pk=queued["sweep_id"])
    assert (stored.executor, stored.status, stored.completed) == ("celery", "completed", 4)
    assert sorted(sent) == sorted(r["run_id"] for r in queued["runs"])
    assert by_params(queued) == by_params(local)


@pytest.mark.django_db
def test_a_task_delivered_twice_runs_its_combination_once(dataset: Path) -> None:
    sweep("--grid", '{"fast": [3]}', "--params", '{"slow": 10}')
    run = BacktestRun.objects.get()
    finished = run.finished_at

    again = sweep_run_task(run.pk)

    run.refresh_from_db()
    assert again == {"run_id": run.pk, "sweep_id": run.sweep_id, "status": "completed"}
    assert run.finished_at == finished
    assert Sweep.objects.get().completed == 1


def _in_memory_database() -> bool:
    return connection.vendor == "sqlite" and connection.is_in_memory_db()


@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_give_the_same_runs_as_one(dataset: Path) -> None:
    if _in_memory_database():
        pytest.skip("worker processes cannot open SQLite's in-memory test database")

    one = sweep("--grid", GRID, "--workers", "1")
    two = sweep("--grid", GRID, "--workers", "2")

    assert by_params(two) == by_params(one)
    assert [r["params"] for r in two["runs"]] == [r["params"] for r in one["runs"]]
    stored = Sweep.objects.get(pk=two["sweep_id"])
    assert (stored.executor, stored.status, stored.completed) == (
        "local, 2 workers",
        "completed",
        4,
    )


@pytest.mark.django_db  # the test's transaction, and on SQLite an in-memory database
def test_worker_processes_are_refused_where_they_could_not_see_the_rows(dataset: Path) -> None:
    why = "the database is in memory" if _in_memory_database() else "inside a transaction"

    with pytest.raises(CommandError, match=f"--workers 2: {why}"):
        call_command("backtest_sweep", *SMA, "--grid", GRID, "--workers", "2")

    assert not Sweep.objects.exists()


@pytest.mark.django_db
def test_an_interruption_stops_the_sweep_and_fails_what_had_not_run(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from replay.services import backtests

    real = backtests.run_backtest

    def interrupted_at_fast_5(dataset, config, **kwargs):
        if config.strategy.params_json()["fast"] == 5:
            raise KeyboardInterrupt("Ctrl-C")
        return real(dataset, config, **kwargs)

    monkeypatch.setattr(backtests, "run_backtest", interrupted_at_fast_5)

    with pytest.raises(CommandError, match="interrupted: sweep .* is recorded as failed"):
        call_command("backtest_sweep", *SMA, "--grid", '{"fast": [3, 5, 8]}', stdout=io.StringIO())

    stored = Sweep.objects.get()
    assert (stored.status, stored.completed, stored.failed) == ("failed", 1, 2)
    assert stored.error == "stopped: KeyboardInterrupt: Ctrl-C"
    runs = {r.params["fast"]: r for r in BacktestRun.objects.filter(sweep=stored)}
    assert runs[3].status == RunStatus.COMPLETED
    assert (runs[5].status, runs[5].error) == (RunStatus.FAILED, "KeyboardInterrupt: Ctrl-C")
    assert runs[8].status == RunStatus.FAILED and "stopped before" in runs[8].error
