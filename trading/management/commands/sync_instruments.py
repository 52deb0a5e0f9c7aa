"""``manage.py sync_instruments``: upsert Instrument rows from the exchange's exchangeinfo."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from trading.exchange.btcturk.client import btcturk_client_from_settings
from trading.exchange.errors import ExchangeError
from trading.services.instruments import (
    InstrumentChange,
    InstrumentSyncResult,
    instrument_values,
    instruments_sync,
)


class Command(BaseCommand):
    help = (
        "Fetch GET /api/v2/server/exchangeinfo from BTCTURK_BASE_URL and upsert one Instrument "
        "per symbol (status, tick size, step size, min notional, price band, order methods). "
        "Prints what changed; symbols no longer listed are marked DELISTED, never deleted."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--json", action="store_true", help="print each symbol's rules and the changes as JSON"
        )

    def handle(self, *args, **options) -> None:
        try:
            with btcturk_client_from_settings() as client:
                result = instruments_sync(client=client)
        except ExchangeError as exc:
            raise CommandError(f"sync_instruments: {exc}") from None
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(result), indent=2))
            return
        for change in result.changes:
            self.stdout.write(f"{change.action:<8} {change.symbol}: {_describe(change)}")
        for label, reason in sorted(result.skipped.items()):
            self.stdout.write(f"skipped  {label}: {reason}")
        self.stdout.write(
            f"sync_instruments: {result.count('created')} created, {result.count('updated')} "
            f"updated, {result.count('delisted')} delisted, {result.unchanged} unchanged, "
            f"{len(result.skipped)} skipped"
        )


def _describe(change: InstrumentChange) -> str:
    if change.action == "created":
        return ", ".join(f"{name}={new or '-'}" for name, (_, new) in change.fields.items())
    return ", ".join(
        f"{name} {old or '-'} -> {new or '-'}" for name, (old, new) in change.fields.items()
    )


def _as_json(result: InstrumentSyncResult) -> dict[str, object]:
    symbols = {}
    for rules in result.rules:
        values = instrument_values(rules)
        symbols[rules.symbol.pair_normalized] = {
            name: (str(value) if value is not None and not isinstance(value, list) else value)
            for name, value in values.items()
        }
    return {
        "symbols": symbols,
        "changes": [
            {"symbol": c.symbol, "action": c.action, "fields": c.fields} for c in result.changes
        ],
        "unchanged": result.unchanged,
        "skipped": result.skipped,
    }
