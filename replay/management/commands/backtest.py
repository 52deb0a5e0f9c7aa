"""``manage.py backtest``: run a strategy over a registered dataset and store the run."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from meva.errors import ApplicationError
from meva.interrupts import terminate_interrupts
from replay.management.progress import CycleBar, progress_wanted
from replay.models import Dataset
from replay.services.backtests import BacktestRequest, backtest_run
from trading.domain.bounds import BoundError, bounded, instant
from trading.domain.jsonsafe import JsonRejected, json_object_loads
from trading.domain.strategies.registry import STRATEGY_REGISTRY
from trading.domain.venue import FillModel
from trading.services.adaptive_config import (
    AdaptiveConfigError,
    adaptation_config_clean,
    universe_config_clean,
)

SUMMARY_ROWS = (
    ("bars", "bars"),
    ("cycles", "cycles"),
    ("trades (round trips)", "trades"),
    ("fills", "fills"),
    ("fees", "fees"),
    ("initial equity", "initial_equity"),
    ("final equity", "final_equity"),
    ("return %", "return_pct"),
    ("max drawdown %", "max_drawdown_pct"),
    ("Sharpe", "sharpe"),
    ("win rate", "win_rate"),
    ("elapsed s", "elapsed_s"),
    ("cycles/s", "cycles_per_s"),
    ("fingerprint", "fingerprint"),
)
JSON_KEYS = (
    "run_id",
    "fingerprint",
    "cycles",
    "symbols",
    "trades",
    "fills",
    "fees",
    "initial_equity",
    "final_equity",
    "return_pct",
    "max_drawdown_pct",
    "sharpe",
    "elapsed_s",
    "cycles_per_s",
)


class Command(BaseCommand):
    help = (
        "Run the trading cycle pipeline over a registered replay dataset through the simulated "
        "venue, entirely in memory, then store the run (fills, round trips, the cycles that decided "
        "something, every cycle's equity) and print its summary. Same dataset and parameters give "
        "the same fingerprint."
    )
    # A batch job over the database and a dataset: Django's system checks (URL patterns,
    # admin, templates) take most of a second at start-up and guard nothing it uses.
    # ``manage.py check`` and every server start still run them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, help="name given to import_dataset")
        parser.add_argument(
            "--strategy", default="mean_reversion", choices=sorted(STRATEGY_REGISTRY)
        )
        parser.add_argument("--params", default="{}", help="strategy parameters as a JSON object")
        parser.add_argument("--risk", default="{}", help="risk limit overrides as a JSON object")
        parser.add_argument("--start", help="first bar open time, ISO-8601 (UTC if no offset)")
        parser.add_argument("--end", help="stop before this bar open time, ISO-8601")
        parser.add_argument("--initial-cash", default="100000", help="quote currency")
        parser.add_argument("--fee-maker-bps", default=str(settings.BACKTEST_FEE_MAKER_BPS))
        parser.add_argument("--fee-taker-bps", default=str(settings.BACKTEST_FEE_TAKER_BPS))
        parser.add_argument("--fill-model", default="bar", choices=[m.value for m in FillModel])
        parser.add_argument(
            "--max-volume-share",
            default=str(settings.BACKTEST_MAX_VOLUME_SHARE),
            help="max share of a bar's volume one order may fill (0 = no limit)",
        )
        parser.add_argument(
            "--no-fast-path",
            action="store_true",
            help="plan every cycle in full, quiet ones too (same results, slower; for debugging "
            "and benchmarks)",
        )
        parser.add_argument(
            "--universe",
            metavar="JSON",
            help="govern the universe as an account would (scoring, top N, churn cap...), e.g. "
            '\'{"size": 2, "max_changes_per_day": 2}\' (README "Universe governance")',
        )
        parser.add_argument(
            "--adapt",
            nargs="?",
            const="{}",
            metavar="JSON",
            help="adapt parameters within bounds as an account would, optionally with the "
            "adaptation settings, e.g. '{\"window_cycles\": 3}'",
        )
        parser.add_argument("--json", action="store_true", help="print the summary as JSON last")

    def handle(self, *args, **options) -> None:
        request = self._request(options)
        bar = CycleBar(sys.stderr) if progress_wanted(sys.stderr, quiet=options["json"]) else None
        try:
            # SIGTERM, like Ctrl-C, ends the run as failed (INTERRUPTED) before the exit
            with terminate_interrupts():
                run = backtest_run(request=request, progress=bar)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt as exc:
            raise CommandError(f"interrupted: the run is recorded as failed ({exc})") from None
        finally:
            if bar is not None:
                bar.close()
        summary = run.summary
        if options["json"]:
            self.stdout.write(json.dumps({k: summary[k] for k in JSON_KEYS}))
            return
        self._print_table(run, summary)

    def _request(self, options: dict) -> BacktestRequest:
        try:
            dataset = Dataset.objects.get(name=options["dataset"])
        except Dataset.DoesNotExist:
            raise CommandError(
                f"--dataset: no dataset named {options['dataset']!r}; import it with import_dataset"
            ) from None
        share = _bounded("max_volume_share", "--max-volume-share", options["max_volume_share"])
        return BacktestRequest(
            dataset=dataset,
            strategy=options["strategy"],
            params=_json_object("--params", options["params"]),
            risk=_json_object("--risk", options["risk"]),
            fill_model=FillModel(options["fill_model"]),
            fee_maker_bps=_bounded("fee_maker_bps", "--fee-maker-bps", options["fee_maker_bps"]),
            fee_taker_bps=_bounded("fee_taker_bps", "--fee-taker-bps", options["fee_taker_bps"]),
            initial_cash=_bounded("initial_cash", "--initial-cash", options["initial_cash"]),
            max_volume_share=share if share > 0 else None,
            start=_datetime("--start", options["start"]),
            end=_datetime("--end", options["end"]),
            fast_path=not options["no_fast_path"],
            universe=_settings("--universe", "universe", options["universe"]),
            adaptation=_settings("--adapt", "adaptation", options["adapt"]),
        )

    def _print_table(self, run, summary: dict) -> None:
        self.stdout.write(
            f"backtest run {run.pk}: {run.strategy} on {run.dataset.name} "
            f"({', '.join(summary['symbols'])}; quote {summary['quote_asset']})"
        )
        width = max(len(label) for label, _ in SUMMARY_ROWS)
        for label, key in SUMMARY_ROWS:
            value = summary[key]
            self.stdout.write(f"  {label:<{width}}  {'-' if value is None else value}")


def _settings(flag: str, field: str, text: str | None) -> dict:
    """The ``universe`` or ``adaptation`` settings of ``flag`` (enabled), cleaned as an
    account's; ``{}`` without the flag. A bad key or value names the flag and the key."""
    if text is None:
        return {}
    clean = universe_config_clean if field == "universe" else adaptation_config_clean
    try:
        return clean({**_json_object(flag, text), "enabled": True})
    except AdaptiveConfigError as exc:
        raise CommandError(f"{flag}: {exc.problem}") from None


def _json_object(flag: str, text: str) -> dict:
    try:
        return json_object_loads(text, what=flag)
    except JsonRejected as exc:
        raise CommandError(str(exc)) from None


def _bounded(parameter: str, flag: str, text: str) -> Decimal:
    """``text`` checked by the shared validator (the one the settings use)."""
    try:
        return bounded(parameter, text, source=flag)
    except BoundError as exc:
        raise CommandError(str(exc)) from None


def _datetime(flag: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return instant(flag, text)
    except BoundError as exc:
        raise CommandError(str(exc)) from None
