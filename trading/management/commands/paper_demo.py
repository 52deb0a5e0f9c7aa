"""``manage.py paper_demo``: a paper and a live-mode account trading against the sandbox.

Offline and self-contained (``make paper`` runs it on a throwaway SQLite database): starts the
sandbox exchange on loopback over a replay dataset, points the ``BTCTURK_*`` settings at it for
this process only, arms the safety gate for it (the sandbox is loopback, so no real order can
be placed), creates a paper account and a live-mode account with the same strategy, then
closes one bar at a time and runs one cycle of each account per bar through the real
``cycle_run`` service. Prints each cycle, then the orders, fills and equity of both accounts.
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import override_settings

from ledger.models import LedgerFill
from meva.errors import ApplicationError
from replay.domain.dataset import DatasetInvalid, load_dataset
from trading.domain.bounds import BoundError, bounded
from trading.domain.decimals import decimal_trim
from trading.domain.gate import LIVE_TRADING_ACK_PHRASE
from trading.domain.jsonsafe import JsonRejected, json_object_loads
from trading.exchange.sandbox import start_sandbox
from trading.models import Account, Order
from trading.services.accounts import account_create
from trading.services.audit import actor_for_command
from trading.services.control import control_arm, kill_switch_release
from trading.services.cycle import cycle_run
from trading.services.gate import gate_state
from trading.services.reconcile import balances_check
from trading.services.run_summary import account_balances, cycle_summary

ACTOR = actor_for_command("paper_demo")
DEFAULT_PARAMS = {"window": 10, "entry_bps": 15, "exit_bps": 5}


class Command(BaseCommand):
    help = (
        "Offline demo of paper and live trading: the sandbox exchange replays a dataset on "
        "loopback, a paper account and a live-mode account (gate armed for the sandbox only) "
        "run one cycle per bar, then their orders, fills and equity are printed. Refuses to "
        "run on a database that already has accounts (use a throwaway one: make paper)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dataset",
            default=settings.BASE_DIR / "data" / "sample" / "try-1m",
            type=Path,
            help="dataset directory (default: the bundled data/sample/try-1m)",
        )
        parser.add_argument(
            "--cycles", type=_count(1, 10_000), default=30, help="bars to close (default 30)"
        )
        parser.add_argument(
            "--warmup",
            type=_count(0, 100_000),
            default=40,
            help="bars closed before the first cycle",
        )
        parser.add_argument("--strategy", default="mean_reversion")
        parser.add_argument(
            "--params", default=json.dumps(DEFAULT_PARAMS), help="strategy params JSON"
        )
        parser.add_argument("--symbols", default="BTC_TRY,ETH_TRY")
        parser.add_argument("--cash", default="100000", help="TRY of each account")

    def handle(self, *args, **options) -> None:
        if Account.objects.exists():
            raise CommandError(
                f"database {connection.settings_dict['NAME']} already has accounts: "
                "paper_demo needs a throwaway database (make paper uses var/paper-demo.sqlite3)"
            )
        try:
            params = json_object_loads(options["params"], what="--params")
            cash = bounded("initial_cash", options["cash"], source="--cash")
            dataset = load_dataset(options["dataset"])
        except (JsonRejected, BoundError) as exc:
            raise CommandError(str(exc)) from None
        except DatasetInvalid as exc:
            raise CommandError(f"--dataset {options['dataset']}:\n{exc}") from None
        sandbox = start_sandbox(
            dataset,
            balances={"TRY": cash},
            warmup_steps=options["warmup"],
            publish_interval_s=3600.0,
        )
        try:
            with override_settings(**_sandbox_settings(sandbox)):
                self._run(sandbox, options, params, cash)
        except ApplicationError as exc:  # a strategy, parameter or symbol the accounts refuse
            raise CommandError(str(exc)) from None
        finally:
            sandbox.stop()

    def _run(self, sandbox, options, params, cash: Decimal) -> None:
        self.stdout.write(f"sandbox exchange on {sandbox.base_url} replaying {options['dataset']}")
        operator, _ = get_user_model().objects.get_or_create(username="paper-demo")
        kill_switch_release(user=operator, reason="paper_demo: sandbox only")
        control_arm(
            user=operator,
            reason="paper_demo: sandbox only",
            acknowledgement=LIVE_TRADING_ACK_PHRASE,
        )
        self.stdout.write(f"safety gate (live-mode account): {gate_state().summary}")
        symbols = options["symbols"].split(",")
        common = {
            "strategy": options["strategy"],
            "params": params,
            "symbols": symbols,
            "actor": ACTOR,
        }
        account_create(name="paper-demo", mode="paper", balances={"TRY": cash}, **common)
        account_create(name="live-demo", mode="live", **common)
        for step in range(options["cycles"]):
            if step:
                sandbox.advance(1)
            for name in ("paper-demo", "live-demo"):
                summary = cycle_summary(cycle_run(account_name=name, actor=ACTOR))
                self.stdout.write(
                    f"bar {step + 1:>3} {name:<10} {summary['status']:<9} "
                    f"orders={summary['orders']} fills={summary['fills']} "
                    f"equity={summary['equity']} {summary['reason'] or ''}"
                )
        for name in ("paper-demo", "live-demo"):
            self._report(Account.objects.get(name=name))

    def _report(self, account: Account) -> None:
        self.stdout.write(f"\n== {account.name} ({account.mode})")
        for order in Order.objects.filter(account=account.name).order_by("id"):
            price = "market" if order.price is None else f"@ {decimal_trim(order.price)}"
            self.stdout.write(
                f"order {order.client_order_id} {order.side} {order.symbol} "
                f"{decimal_trim(order.quantity)} {price} -> {order.status}"
            )
        for fill in LedgerFill.objects.filter(account=account.name).order_by("ts", "id"):
            self.stdout.write(
                f"fill {fill.trade_id} {fill.side} {decimal_trim(fill.quantity)} {fill.symbol} "
                f"@ {decimal_trim(fill.price)} fee {decimal_trim(fill.fee)} {fill.fee_asset}"
            )
        check = balances_check(account_name=account.name, actor=ACTOR)
        drift = ", ".join(check.drift) or "none"
        self.stdout.write(f"ledger vs venue balances: {len(check.rows)} assets, drift: {drift}")
        last = account.risk_state.get("mode", "NORMAL")
        self.stdout.write(f"balances {account_balances(account)}; risk mode {last}")


def _count(minimum: int, maximum: int):
    """An argparse type: an integer in ``[minimum, maximum]`` (a usage error otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value} is not in [{minimum}, {maximum}]")
        return value

    return parse


def _sandbox_settings(sandbox) -> dict[str, object]:
    """Settings for this process only: every BTCTurk URL is the loopback sandbox."""
    return {
        "BTCTURK_BASE_URL": sandbox.base_url,
        "BTCTURK_GRAPH_URL": sandbox.graph_url,
        "BTCTURK_WS_URL": sandbox.ws_url,
        "BTCTURK_API_KEY": sandbox.api_key,
        "BTCTURK_API_SECRET": sandbox.api_secret,
        "BTCTURK_API_PERMISSIONS": ["trade", "account"],
        "TRADING_CLOCK": "exchange",
        "DRY_RUN": False,
        "KILL_SWITCH": False,
        "LIVE_TRADING": True,
        "LIVE_TRADING_ACK": LIVE_TRADING_ACK_PHRASE,
        "TRADING_SYMBOLS": list(settings.TRADING_SYMBOLS),
    }
