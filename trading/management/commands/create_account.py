"""``manage.py create_account``: create (or ``--update``) a paper or live trading account."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from meva.errors import ApplicationError
from trading.domain.jsonsafe import JsonRejected, json_object_loads
from trading.models import Account
from trading.services.account_config import AccountConfigError
from trading.services.accounts import account_create, account_enable, account_update
from trading.services.audit import actor_for_command

ACTOR = actor_for_command("create_account")
FLAGS = {
    "name": "NAME",
    "mode": "--mode",
    "strategy": "--strategy",
    "params": "--params",
    "risk": "--risk",
    "symbols": "--symbols",
    "initial_balances": "--balance",
    "bar_interval_s": "--bar-interval-s",
    "cycle_interval_s": "--interval-s",
    "reconcile_interval_s": "--reconcile-interval-s",
    "balances_check_interval_s": "--balances-check-interval-s",
    "fee_maker_bps": "--fee-maker-bps",
    "fee_taker_bps": "--fee-taker-bps",
    "fill_model": "--fill-model",
    "universe": "--universe",
    "adaptation": "--adaptation",
    "enabled": "--enable",
    "reason": "--reason",
}
"""Account field -> the flag that sets it (errors name the flag)."""


class Command(BaseCommand):
    help = (
        "Create a trading account (paper: simulated venue with --balance starting funds; live: "
        "BTCTurk with the BTCTURK_* settings, balances from the exchange), or change one with "
        "--update (only the flags given). Validated like the admin form; audited as "
        "command:create_account. --enable also creates its Celery beat entries (cycle_run, "
        "orders_reconcile, balances_check). Name and mode never change."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="account name: a slug, at most 64 characters")
        parser.add_argument("--mode", choices=["paper", "live"], help="required unless --update")
        parser.add_argument(
            "--strategy", help="registered strategy name (required unless --update)"
        )
        parser.add_argument("--params", help="strategy parameters as a JSON object")
        parser.add_argument("--risk", help="risk limit overrides as a JSON object")
        parser.add_argument(
            "--universe",
            help='universe governance as a JSON object, e.g. {"enabled": true, "size": 3}',
        )
        parser.add_argument(
            "--adaptation",
            help='bounded parameter adaptation as a JSON object, e.g. {"enabled": true}',
        )
        parser.add_argument(
            "--symbols", help="comma-separated pairs with one quote: BTC_TRY,ETH_TRY"
        )
        parser.add_argument(
            "--balance",
            action="append",
            metavar="ASSET=AMOUNT",
            help="paper starting balance, repeatable: --balance TRY=100000 --balance BTC=0.1",
        )
        parser.add_argument("--interval-s", type=int, help="seconds between cycles (default 60)")
        parser.add_argument("--bar-interval-s", type=int, help="candle length in s (default 60)")
        parser.add_argument("--reconcile-interval-s", type=int, help="default 300")
        parser.add_argument("--balances-check-interval-s", type=int, help="default 300")
        parser.add_argument("--fee-maker-bps", help="default BACKTEST_FEE_MAKER_BPS")
        parser.add_argument("--fee-taker-bps", help="default BACKTEST_FEE_TAKER_BPS")
        parser.add_argument("--fill-model", help="paper venue fill model: bar or next_open")
        parser.add_argument("--enable", action="store_true", help="enable it (beat runs its tasks)")
        parser.add_argument("--update", action="store_true", help="change an existing account")
        parser.add_argument("--reason", default="", help="why (recorded in the audit trail)")
        parser.add_argument("--json", action="store_true", help="print the account as JSON")

    def handle(self, *args, **options) -> None:
        values = _values(options)
        try:
            with transaction.atomic():
                account, verb = _apply(options, values)
        except AccountConfigError as exc:
            raise CommandError(f"{FLAGS.get(exc.field, exc.field)}: {exc.problem}") from None
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(_as_dict(account, verb)))
        else:
            self.stdout.write(_summary(account, verb))


def _values(options: dict) -> dict[str, object]:
    """The account fields the flags set (flags not given are left out)."""
    values: dict[str, object] = {
        "mode": options["mode"],
        "strategy": options["strategy"],
        "symbols": options["symbols"],
        "cycle_interval_s": options["interval_s"],
        "bar_interval_s": options["bar_interval_s"],
        "reconcile_interval_s": options["reconcile_interval_s"],
        "balances_check_interval_s": options["balances_check_interval_s"],
        "fill_model": options["fill_model"],
    }
    if options["params"] is not None:
        values["params"] = _json_object("--params", options["params"])
    if options["risk"] is not None:
        values["risk"] = _json_object("--risk", options["risk"])
    for field in ("universe", "adaptation"):
        if options[field] is not None:
            values[field] = _json_object(FLAGS[field], options[field])
    if options["balance"]:
        values["initial_balances"] = _balances(options["balance"])
    for field in ("fee_maker_bps", "fee_taker_bps"):
        if options[field] is not None:
            values[field] = _decimal(FLAGS[field], options[field])
    return {key: value for key, value in values.items() if value is not None}


def _apply(options: dict, values: dict[str, object]) -> tuple[Account, str]:
    name, reason = options["name"], options["reason"]
    if options["update"]:
        account = Account.objects.filter(name=name).first()
        if account is None:
            raise CommandError(f"NAME: no account named {name!r} (drop --update to create it)")
        account = account_update(account=account, changes=values, actor=ACTOR, reason=reason)
        if options["enable"]:
            account = account_enable(account=account, actor=ACTOR, reason=reason or "--enable")
        return account, "updated"
    for field in ("mode", "strategy", "symbols"):
        if field not in values:
            raise CommandError(f"{FLAGS[field]} is required (unless --update)")
    values["balances"] = values.pop("initial_balances", None)
    values.setdefault("fill_model", "bar")
    account = account_create(name=name, enable=options["enable"], actor=ACTOR, **values)
    return account, "created"


def _json_object(flag: str, text: str) -> dict:
    try:
        return json_object_loads(text, what=flag)
    except JsonRejected as exc:
        raise CommandError(str(exc)) from None


def _balances(items: list[str]) -> dict[str, Decimal]:
    balances: dict[str, Decimal] = {}
    for item in items:
        asset, sep, amount = item.partition("=")
        asset = asset.strip().upper()
        if not sep or not asset:
            raise CommandError(f"--balance: {item!r} is not ASSET=AMOUNT (e.g. TRY=100000)")
        if asset in balances:
            raise CommandError(f"--balance: {asset} given twice")
        balances[asset] = _decimal("--balance", amount.strip(), label=item)
    return balances


def _decimal(flag: str, text: str, *, label: str | None = None) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CommandError(f"{flag}: {label or text!r} is not a number") from None
    if not value.is_finite():
        raise CommandError(f"{flag}: {label or text!r} is not a finite number")
    return value


def _as_dict(account: Account, verb: str) -> dict[str, object]:
    return {
        "result": verb,
        "name": account.name,
        "mode": account.mode,
        "strategy": account.strategy,
        "params": account.params,
        "risk": account.risk,
        "symbols": account.symbols,
        "initial_balances": account.initial_balances,
        "bar_interval_s": account.bar_interval_s,
        "cycle_interval_s": account.cycle_interval_s,
        "reconcile_interval_s": account.reconcile_interval_s,
        "balances_check_interval_s": account.balances_check_interval_s,
        "fee_maker_bps": _plain(account.fee_maker_bps),
        "fee_taker_bps": _plain(account.fee_taker_bps),
        "fill_model": account.fill_model,
        "universe": account.universe,
        "adaptation": account.adaptation,
        "enabled": account.enabled,
        "stop_entries": account.stop_entries,
        "api_key_id": account.api_key_id,
    }


def _plain(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def _summary(account: Account, verb: str) -> str:
    funds = ", ".join(f"{k}={v}" for k, v in account.initial_balances.items()) or "exchange"
    state = "enabled" if account.enabled else "disabled (enable with --update --enable)"
    return (
        f"{verb} {account.mode} account {account.name}: {account.strategy} on "
        f"{','.join(account.symbols)}, cycle every {account.cycle_interval_s} s on "
        f"{account.bar_interval_s} s bars, balances {funds}; {state}"
    )
