"""``manage.py sandbox_exchange --dataset NAME_OR_DIR``: serve the BTCTurk sandbox exchange."""

from __future__ import annotations

import argparse
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from meva.errors import ApplicationError
from replay.domain.dataset import DatasetInvalid, ReplayDataset, load_dataset
from trading.exchange.btcturk.auth import decode_secret
from trading.exchange.errors import ConfigurationError
from trading.exchange.sandbox import (
    AccountSpec,
    FaultSpecError,
    SandboxConfig,
    SandboxServer,
    is_loopback,
    parse_faults,
    serve,
)


class Command(BaseCommand):
    help = (
        "Serve a BTCTurk-compatible exchange (same REST paths, JSON, error codes and websocket "
        "messages) on one loopback port, replaying a dataset through the simulated venue, one "
        "venue per API key. Prints the BTCTURK_* values to export. --speed is replay seconds "
        "per wall second (60 with 1m bars = one bar per second); --speed 0 is manual: bars "
        "advance only through POST /sandbox/advance?bars=N. --faults takes "
        "'kind=rate[:arg],...,seed=N' with kinds latency, http429, http5xx, order_timeout, "
        "ws_drop, trade_dup (see trading/exchange/sandbox/faults.py). The API secret of --api-key comes from --api-secret-file or SANDBOX_API_SECRET, never argv."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, help="imported dataset name or directory")
        parser.add_argument("--host", default="127.0.0.1", help="loopback unless --allow-remote")
        parser.add_argument("--port", type=int, default=8765, help="0 = any free port")
        parser.add_argument(
            "--allow-remote", action="store_true", help="allow a non-loopback --host"
        )
        parser.add_argument("--api-key", help="default: a generated key")
        parser.add_argument(
            "--api-secret-file",
            type=Path,
            help="file holding the base64 secret for --api-key (or set SANDBOX_API_SECRET); "
            "never on the command line, where ps shows it",
        )
        parser.add_argument("--api-secret", help=argparse.SUPPRESS)
        parser.add_argument(
            "--balance",
            action="append",
            default=[],
            metavar="ASSET=AMOUNT",
            help="starting free balance (repeatable; default 100000 of the quote asset)",
        )
        parser.add_argument(
            "--speed", type=float, default=1.0, help="replay s per wall s; 0 = manual"
        )
        parser.add_argument("--faults", default="", help="e.g. 'http5xx=0.01,seed=7'")
        parser.add_argument("--seed", type=int, default=0, help="fault and book seed")

    def handle(self, *args: object, **options: object) -> None:
        host = options["host"]
        if not is_loopback(host) and not options["allow_remote"]:
            raise CommandError(f"--host {host} is not loopback; pass --allow-remote to expose it")
        if not 0 <= options["port"] <= 65535 or options["speed"] < 0:
            raise CommandError("--port must be 0..65535 and --speed >= 0")
        try:
            faults = parse_faults(options["faults"])
        except FaultSpecError as exc:
            raise CommandError(str(exc)) from None
        dataset = dataset_for(options["dataset"])
        balances = _balances(options["balance"]) or {dataset.quote_asset: Decimal(100_000)}
        config = SandboxConfig(
            dataset=dataset,
            host=host,
            port=options["port"],
            allow_remote=options["allow_remote"],
            accounts=_accounts(options["api_key"], _secret(options), balances),
            default_balances=balances,
            speed=options["speed"],
            faults=faults,
            seed=options["seed"],
        )
        try:
            serve(config, on_ready=self._ready)
        except OSError as exc:
            raise CommandError(f"cannot serve on {host}:{options['port']}: {exc}") from None
        except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised the Ctrl-C
            pass
        self.stdout.write("sandbox exchange stopped")

    def _ready(self, server: SandboxServer) -> None:
        self.stdout.write(server.summary())
        self.stdout.flush()


def dataset_for(value: str) -> ReplayDataset:
    """A dataset directory (wins over a name) or the imported Dataset row of that name."""
    path = Path(value)
    if path.is_dir():
        try:
            return load_dataset(path)
        except DatasetInvalid as exc:
            raise CommandError(f"dataset {value}:\n{exc}") from None
    from replay.models import Dataset
    from replay.services.datasets import dataset_load

    try:
        row = Dataset.objects.filter(name=value).first()
        if row is None:
            raise CommandError(f"--dataset {value!r}: no imported dataset and no directory")
        return dataset_load(row)
    except ApplicationError as exc:
        raise CommandError(str(exc)) from None
    except DatabaseError as exc:
        raise CommandError(f"--dataset {value!r}: dataset lookup failed ({exc})") from None


def _balances(items: list[str]) -> dict[str, Decimal]:
    out = {}
    for item in items:
        asset, _, amount = item.partition("=")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            value = Decimal(-1)
        if not asset.strip() or not value.is_finite() or value < 0:
            raise CommandError(f"--balance {item!r}: expected ASSET=AMOUNT with AMOUNT >= 0")
        out[asset.strip().upper()] = value
    return out


SECRET_ENV = "SANDBOX_API_SECRET"
MAX_SECRET_FILE_BYTES = 4096


def _secret(options: dict) -> str | None:
    """The secret for ``--api-key``: from ``--api-secret-file`` or ``SANDBOX_API_SECRET``, never
    from the command line (``ps`` shows every process's arguments)."""
    if options.get("api_secret") is not None:
        raise CommandError(
            f"--api-secret on the command line is visible to every user through ps: put the "
            f"secret in a file (--api-secret-file PATH) or in {SECRET_ENV}"
        )
    path = options.get("api_secret_file")
    if path is not None:
        if not path.is_file():
            raise CommandError(f"--api-secret-file {path}: not a regular file")
        if path.stat().st_size > MAX_SECRET_FILE_BYTES:
            raise CommandError(f"--api-secret-file {path}: larger than {MAX_SECRET_FILE_BYTES} B")
        try:
            return path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            # the contents are never echoed: the file could be any secret
            raise CommandError(
                f"--api-secret-file {path}: unreadable ({type(exc).__name__})"
            ) from None
    return os.environ.get(SECRET_ENV) or None


def _accounts(
    key: str | None, secret: str | None, balances: dict[str, Decimal]
) -> tuple[AccountSpec, ...]:
    if key is None and secret is None:
        return ()
    if not key or not secret:
        raise CommandError(
            f"give --api-key with its secret (--api-secret-file or {SECRET_ENV}), or neither"
        )
    try:
        decode_secret(secret, variable="the sandbox API secret")
    except ConfigurationError as exc:
        raise CommandError(str(exc)) from None
    return (AccountSpec(key, secret, balances),)
