"""``manage.py export_dataset --account NAME --out DIR``: a session as a replay dataset."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from meva.errors import ApplicationError
from trading.selectors import account_get
from trading.services.export import dataset_export


class Command(BaseCommand):
    help = (
        "Write what an account's paper or live session saw (candles, the top of book at each "
        "cycle, exchange rules, the session's parameters) as a replay dataset directory that "
        "import_dataset and backtest accept. DIR must not exist or be empty."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account", required=True, help="account name")
        parser.add_argument("--out", required=True, type=Path, help="directory to create")

    def handle(self, *args, **options) -> None:
        try:
            result = dataset_export(
                account=account_get(name=options["account"]), out=options["out"]
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        bars = ", ".join(f"{s} {n} bars" for s, n in result.bars.items())
        self.stdout.write(
            f"exported {options['account']} to {result.out}: {bars}; "
            f"{sum(result.book_rows.values())} book rows; cycles {result.first_cycle_ms}.."
            f"{result.last_cycle_ms} (session.json has the parameters)"
        )
