"""``manage.py backtest_sweep``: one backtest per combination of a parameter grid, ranked."""

from __future__ import annotations

import json
import sys
import time

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import connection

from meva.errors import ApplicationError
from meva.interrupts import terminate_interrupts
from replay.domain.sweeps import MAX_COMBINATIONS, SweepGridError, SweepMetric, grid_parse
from replay.management.commands.backtest import Command as BacktestCommand
from replay.management.progress import progress_wanted, runs_bar
from replay.models import RunStatus, Sweep
from replay.services.sweeps import (
    SweepRequest,
    sweep_abort,
    sweep_create,
    sweep_execute,
    sweep_queue,
    sweep_refresh,
    sweep_workers_check,
)
from replay.sweep_selectors import RankedRun, sweep_ranking
from trading.services.audit import actor_for_command

POLL_S = 0.5
TERMINAL = (RunStatus.COMPLETED, RunStatus.FAILED)


class Command(BacktestCommand):
    help = (
        "Run one backtest per combination of --grid (a JSON object of value lists, merged over "
        "--params), grouped under a sweep, in this process, on --workers local processes or "
        "as a Celery group (--celery, needs REDIS_URL); then print the runs ranked by --metric. "
        "A combination that fails fails alone; the exit status is 1 only when every one failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--grid",
            required=True,
            help='parameter values to combine, e.g. \'{"fast": [10, 20], "slow": [100, 200]}\' '
            f"(at most {MAX_COMBINATIONS} combinations)",
        )
        parser.add_argument(
            "--metric",
            default=SweepMetric.RETURN.value,
            choices=[m.value for m in SweepMetric],
            help="rank by return %% or Sharpe (highest first) or max drawdown %% (lowest first)",
        )
        where = parser.add_mutually_exclusive_group()
        where.add_argument(
            "--workers", type=int, help="local worker processes (default 1: in this process)"
        )
        where.add_argument(
            "--celery", action="store_true", help="send the runs to Celery workers as a group"
        )

    def handle(self, *args, **options) -> None:
        workers = 1 if options["workers"] is None else options["workers"]
        try:
            sweep_workers_check(workers=workers)
        except ApplicationError as exc:
            raise CommandError(f"--workers {workers}: {exc}") from None
        if options["celery"] and not settings.REDIS_URL:
            raise CommandError(
                "--celery: REDIS_URL is not set; Celery workers need a broker (or use --workers)"
            )
        try:
            grid = grid_parse(options["grid"], what="--grid")
        except SweepGridError as exc:
            raise CommandError(str(exc)) from None
        request = SweepRequest(
            base=self._request(options),
            grid=grid,
            metric=SweepMetric(options["metric"]),
            actor=actor_for_command("backtest_sweep"),
        )
        executor = (
            "celery"
            if options["celery"]
            else f"local, {workers} worker{'s' if workers > 1 else ''}"
        )
        try:
            sweep = sweep_create(request=request, executor=executor)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        if workers > 1 and not options["celery"] and connection.vendor == "sqlite":
            self.stderr.write(
                "note: SQLite has one writer, so worker processes wait for each other's result "
                "writes and progress updates; a PostgreSQL DATABASE_URL scales with --workers",
                self.style.WARNING,
            )
        sweep = self._run(sweep, workers, celery=options["celery"], quiet=options["json"])
        ranking = sweep_ranking(sweep=sweep)
        if options["json"]:
            self.stdout.write(json.dumps(_sweep_json(sweep, ranking)))
        else:
            self._print(sweep, ranking)
        if sweep.completed == 0:
            raise CommandError(f"sweep {sweep.pk}: every combination failed")

    def _run(self, sweep: Sweep, workers: int, *, celery: bool, quiet: bool) -> Sweep:
        show = progress_wanted(sys.stderr, quiet=quiet)
        bar = runs_bar(sys.stderr, sweep.total, description=f"sweep {sweep.pk}", disable=not show)
        try:
            with terminate_interrupts():
                if celery:
                    return self._wait_for_celery(sweep, bar)
                return sweep_execute(sweep=sweep, workers=workers, on_done=_advance(bar))
        except KeyboardInterrupt as exc:
            sweep_abort(sweep_id=sweep.pk, reason=f"interrupted: {exc}".strip())
            raise CommandError(
                f"interrupted: sweep {sweep.pk} is recorded as failed; combinations not "
                "started are failed, finished ones are kept"
            ) from None
        finally:
            bar.close()

    def _wait_for_celery(self, sweep: Sweep, bar) -> Sweep:
        ids = sweep_queue(sweep=sweep)
        if ids and not bar.disable:
            bar.write(f"sent {len(ids)} runs to the Celery workers; Ctrl-C stops the sweep")
        while True:
            sweep = sweep_refresh(sweep_id=sweep.pk)
            bar.update(sweep.completed + sweep.failed - bar.n)
            bar.set_postfix(failed=sweep.failed, refresh=False)
            if sweep.status in TERMINAL:
                return sweep
            time.sleep(POLL_S)

    def _print(self, sweep: Sweep, ranking: list[RankedRun]) -> None:
        self.stdout.write(
            f"sweep {sweep.pk}: {sweep.strategy} on {sweep.dataset.name}, {sweep.total} "
            f"combinations ({sweep.executor}): {sweep.completed} completed, {sweep.failed} "
            f"failed; ranked by {sweep.metric}"
        )
        rows = [("rank", "params", "return %", "sharpe", "max DD %", "trades", "run")]
        rows += [_row(item) for item in ranking]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = [
                cell.ljust(width) if i == 1 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            ]
            self.stdout.write("  " + "  ".join(cells).rstrip())
        failures = [item for item in ranking if item.run.status == RunStatus.FAILED]
        for item in failures:
            self.stdout.write(f"  failed: run {item.run.pk} {_params(item)}: {item.run.error}")


def _advance(bar):
    def on_done(run_id: int, status: str) -> None:
        if status == RunStatus.FAILED:
            bar.set_postfix_str(f"run {run_id} failed", refresh=False)
        bar.update(1)

    return on_done


def _params(item: RankedRun) -> str:
    return ", ".join(f"{key}={value}" for key, value in item.params.items())


def _row(item: RankedRun) -> tuple[str, ...]:
    run = item.run
    done = run.status == RunStatus.COMPLETED

    def number(value, places: int) -> str:
        return "-" if value is None or not done else f"{value:.{places}f}"

    return (
        str(item.rank),
        _params(item),
        number(run.return_pct, 2),
        number(run.sharpe, 2),
        number(run.max_drawdown_pct, 2),
        str(run.trades) if done else run.status,
        str(run.pk),
    )


def _sweep_json(sweep: Sweep, ranking: list[RankedRun]) -> dict[str, object]:
    def text(value) -> str | None:
        return None if value is None else str(value)

    return {
        "sweep_id": sweep.pk,
        "status": sweep.status,
        "metric": sweep.metric,
        "total": sweep.total,
        "completed": sweep.completed,
        "failed": sweep.failed,
        "runs": [
            {
                "rank": item.rank,
                "run_id": item.run.pk,
                "params": item.params,
                "status": item.run.status,
                "return_pct": text(item.run.return_pct),
                "sharpe": item.run.sharpe,
                "max_drawdown_pct": text(item.run.max_drawdown_pct),
                "trades": item.run.trades,
                "fingerprint": item.run.fingerprint,
                "error": item.run.error,
            }
            for item in ranking
        ],
    }
