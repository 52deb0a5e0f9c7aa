"""``manage.py doctor``: configuration, safety gate and exchange checks; exit 0 / 1 / 2."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from trading.exchange.btcturk.client import btcturk_client_from_settings
from trading.exchange.errors import ExchangeError
from trading.services.doctor import Check, Status, doctor_run

MARKS = {Status.PASS: "ok  ", Status.WARN: "WARN", Status.FAIL: "FAIL"}


class Command(BaseCommand):
    help = (
        "Check configuration, the safety gate, database, Redis, the exchange (reachability, "
        "clock offset, rules for TRADING_SYMBOLS) and, with credentials, a signed balances "
        "call. Exit 0 when all pass, 1 on warnings, 2 on failures. Never places orders."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options) -> None:
        try:
            client = btcturk_client_from_settings()
        except ExchangeError as exc:  # e.g. a secret that is not base64
            self.stderr.write(f"FAIL configuration: {exc}")
            sys.exit(2)
        with client:
            report = doctor_run(client=client)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            for check in report.checks:
                self.stdout.write(_line(check))
            failing = sum(1 for c in report.checks if c.status is not Status.PASS)
            self.stdout.write(f"doctor: {len(report.checks)} checks, {failing} not passing")
        sys.exit(report.exit_code)


def _line(check: Check) -> str:
    return f"{MARKS[check.status]} {check.name:<16} {check.detail}"
