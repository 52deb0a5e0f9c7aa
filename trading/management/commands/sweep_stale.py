"""``manage.py sweep_stale [--json]``: mark cycles and backtest runs left ``running`` by a dead
process ``failed`` (``trading.services.stale_work``)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from trading.services.stale_work import stale_work_sweep


class Command(BaseCommand):
    help = (
        "Mark cycles whose heartbeat is older than their lock's TTL, and backtest runs whose "
        "heartbeat is older than BACKTEST_STALE_AFTER_S, failed (INTERRUPTED)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args, **options) -> None:
        swept = stale_work_sweep()
        if options["json"]:
            self.stdout.write(json.dumps(swept, sort_keys=True))
        else:
            self.stdout.write(
                f"swept {swept['cycles']} cycles and {swept['backtests']} backtest runs"
            )
