"""``manage.py reconcile --account NAME [--json]``: fills, orders and balances vs the venue."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from meva.errors import ApplicationError
from trading.services.audit import actor_for_command
from trading.services.reconcile import balances_check, orders_reconcile


class Command(BaseCommand):
    help = (
        "Reconcile one account with its venue under its reconcile lock: record missing fills, "
        "bring order statuses in line (UNKNOWN orders looked up by client order id; foreign "
        "orders reported, never touched), then compare ledger and venue balances per asset. "
        "Never places or cancels an order."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account", required=True, help="account name")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, **options) -> None:
        actor = actor_for_command("reconcile")
        try:
            orders = orders_reconcile(account_name=options["account"], actor=actor)
            balances = balances_check(account_name=options["account"], actor=actor)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            report = {
                "account": options["account"],
                "orders": orders.as_dict(),
                "balances": balances.as_dict(),
            }
            self.stdout.write(json.dumps(report))
            return
        for coid, change in orders.changed.items():
            self.stdout.write(f"order {coid}: {change}")
        for coid in orders.adopted:
            self.stdout.write(f"order {coid}: adopted (found on the exchange)")
        for coid in orders.unresolved:
            self.stdout.write(f"order {coid}: unresolved")
        for order_id in orders.foreign:
            self.stdout.write(f"foreign order {order_id}: reported, not touched")
        for asset, (ours, theirs, diff) in balances.rows.items():
            mark = "DRIFT" if asset in balances.drift else "ok   "
            self.stdout.write(f"{mark} {asset:<6} ledger {ours}  venue {theirs}  diff {diff}")
        self.stdout.write(
            f"reconcile {options['account']}: {len(orders.changed)} changed, "
            f"{orders.fills} fills recorded, {len(orders.unresolved)} unresolved, "
            f"{len(balances.drift)} drifting assets"
        )
