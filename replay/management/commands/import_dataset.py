"""``manage.py import_dataset PATH --name NAME [--replace]``: validate and register a dataset."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meva.errors import ApplicationError
from replay.services.datasets import dataset_import


class Command(BaseCommand):
    help = (
        "Validate a replay dataset directory (candles/<BASE>_<QUOTE>.csv, optional "
        "book/<BASE>_<QUOTE>.csv and exchangeinfo.json) and register it under NAME. Errors name "
        "file, line and column, and nothing is written unless the whole dataset is valid. "
        "Re-importing the same files is a no-op; different files under an existing name need "
        "--replace."
    )
    # A batch job over the database and a dataset: Django's system checks (URL patterns,
    # admin, templates) take most of a second at start-up and guard nothing it uses.
    # ``manage.py check`` and every server start still run them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="dataset directory")
        parser.add_argument("--name", required=True, help="dataset name (a slug)")
        parser.add_argument(
            "--replace", action="store_true", help="replace an existing dataset of this name"
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            result = dataset_import(
                path=options["path"], name=options["name"], replace=options["replace"]
            )
        except ApplicationError as exc:
            raise CommandError(f"import_dataset {options['path']}:\n{exc}") from None
        d = result.dataset
        self.stdout.write(
            f"{result.outcome.value} dataset {d.name!r}: {len(result.series)} symbols, "
            f"{d.bar_count} bars of {d.interval_ms // 1000}s, quote {d.quote_asset}, "
            f"rules {d.rules_source}, fingerprint {d.fingerprint[:12]} ({d.path})"
        )
        for s in result.series:
            self.stdout.write(
                f"  {s.symbol}: {s.first_ts:%Y-%m-%dT%H:%M}Z..{s.last_ts:%Y-%m-%dT%H:%M}Z, "
                f"{s.bars} bars, {s.gap_count} gaps ({s.missing_bars} missing), "
                f"rules {s.rules.get('source')}"
            )
