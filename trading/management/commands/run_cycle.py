"""``manage.py run_cycle --account NAME (--once | --cycles N | --loop --interval S) [--json]``."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from meva.errors import ApplicationError
from meva.interrupts import terminate_interrupts
from trading.selectors import account_get
from trading.services.audit import actor_for_command
from trading.services.cycle import cycle_run
from trading.services.gate import gate_state
from trading.services.run_summary import account_balances, cycle_summary


class Command(BaseCommand):
    help = (
        "Run trading cycles of one account without Celery: the same cycle_run service and the "
        "same lock as the beat task. Prints the effective safety gate first, then one line per "
        "cycle. Live orders are placed only if the gate allows them; paper accounts trade on "
        "their simulated venue. With --json the last line is a JSON object with account, "
        "cycles, equity and balances."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account", required=True, help="account name")
        how = parser.add_mutually_exclusive_group(required=True)
        how.add_argument("--once", action="store_true", help="run one cycle")
        how.add_argument("--cycles", type=int, metavar="N", help="run N cycles, --interval apart")
        how.add_argument("--loop", action="store_true", help="run until interrupted (Ctrl-C)")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            metavar="S",
            help="seconds between cycles (default: the account's cycle interval)",
        )
        parser.add_argument("--json", action="store_true", help="end with a JSON summary line")

    def handle(self, *args, **options) -> None:
        try:
            account = account_get(name=options["account"])
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        count = 1 if options["once"] else options["cycles"]
        if count is not None and count < 1:
            raise CommandError("--cycles must be at least 1")
        interval = options["interval"]
        if interval is None:
            interval = float(account.cycle_interval_s)
        if interval < 0:
            raise CommandError("--interval must be >= 0 seconds")
        self._banner(account)
        summaries = []
        try:
            # SIGTERM, like Ctrl-C, stops the loop; a cycle it interrupts is recorded failed
            with terminate_interrupts():
                while count is None or len(summaries) < count:
                    if summaries:
                        time.sleep(interval)
                    cycle = cycle_run(
                        account_name=account.name, actor=actor_for_command("run_cycle")
                    )
                    summaries.append(cycle_summary(cycle))
                    self.stdout.write(_line(summaries[-1]))
        except KeyboardInterrupt as exc:
            self.stdout.write(f"interrupted{': ' + str(exc) if str(exc) else ''}")
        account.refresh_from_db()
        equity = next((s["equity"] for s in reversed(summaries) if s["equity"]), None)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "account": account.name,
                        "cycles": summaries,
                        "equity": equity,
                        "balances": account_balances(account),
                    }
                )
            )
        else:
            self.stdout.write(f"run_cycle: {len(summaries)} cycles of {account.name}")

    def _banner(self, account) -> None:
        if account.is_live:
            decision = gate_state()
            self.stdout.write(f"safety gate: {decision.summary}")
            for line in decision.explain():
                self.stdout.write(f"  {line}")
        else:
            self.stdout.write(
                "safety gate: not used (paper account: orders go to its simulated venue)"
            )
        self.stdout.write(
            f"account {account.name}: {account.mode}, {account.strategy}, "
            f"{', '.join(account.symbols)}, {'enabled' if account.enabled else 'disabled'}"
            f"{', stop entries' if account.stop_entries else ''}"
        )


def _line(summary: dict) -> str:
    return (
        f"cycle {summary['cycle_id']}: {summary['status']} mode={summary['mode'] or '-'} "
        f"orders={summary['orders']} fills={summary['fills']} equity={summary['equity'] or '-'}"
        + (f" ({summary['reason']})" if summary["reason"] else "")
    )
