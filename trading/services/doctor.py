"""Pre-flight checks an operator runs before paper or live trading (``manage.py doctor``).

Each check returns pass, warn or fail with a one-line detail; the report's exit code is 0
when everything passes, 1 when something warns and 2 when something fails. Checks:
configuration, key permissions, safety gate, database, Redis, exchange reachability and the
server clock offset, exchange rules for ``TRADING_SYMBOLS``, and (with credentials) a signed
balances call. A check never raises: an exception becomes a failed check naming its type.
Nothing here places or cancels an order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from trading.domain.rules import RulesBook
from trading.domain.symbols import parse_symbol
from trading.exchange.base import ExchangeClient
from trading.exchange.btcturk.auth import ServerClock
from trading.exchange.errors import ExchangeError
from trading.services.gate import gate_state

# Above this the host clock needs fixing (stamps are corrected, but logs and candles are not).
CLOCK_WARN_MS = 1000
# BTCTurk refuses stamps more than 5 s off (reference/btcturk_api.md 3); past this a client
# that has not measured the offset yet would be refused.
CLOCK_FAIL_MS = 5000


class Status(IntEnum):
    PASS = 0
    WARN = 1
    FAIL = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Check:
    """One check: ``name`` (stable key), ``status``, ``detail`` (one line, no secrets)."""

    name: str
    status: Status
    detail: str


@dataclass(slots=True)
class DoctorReport:
    """Every check in the order run; ``exit_code`` is the worst status (0 pass, 1 warn, 2 fail)."""

    checks: list[Check] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return max((check.status for check in self.checks), default=Status.PASS).value

    def as_dict(self) -> dict[str, object]:
        return {
            "exit_code": self.exit_code,
            "checks": [
                {"name": c.name, "status": c.status.label, "detail": c.detail} for c in self.checks
            ],
        }


def doctor_run(*, client: ExchangeClient, symbols: Sequence[str] | None = None) -> DoctorReport:
    """Run every check against ``client`` (BTCTurk or the sandbox exchange).

    ``symbols`` defaults to ``settings.TRADING_SYMBOLS``. Never raises for a failing check.
    """
    report = DoctorReport()
    report.checks += [
        _guarded("configuration", _configuration),
        _guarded("key_permissions", _key_permissions),
        _guarded("safety_gate", _safety_gate),
        _guarded("database", _database),
        _guarded("redis", _redis),
    ]
    report.checks.append(_guarded("exchange_clock", lambda: _exchange_clock(client)))
    rules_holder: list[RulesBook] = []
    report.checks.append(_guarded("exchange_rules", lambda: _rules(client, rules_holder)))
    wanted = list(settings.TRADING_SYMBOLS if symbols is None else symbols)
    report.checks.append(_guarded("rules_coverage", lambda: _coverage(rules_holder, wanted)))
    report.checks.append(_guarded("signed_balances", lambda: _balances(client)))
    return report


def _guarded(name: str, check: Callable[[], tuple[Status, str]]) -> Check:
    try:
        status, detail = check()
    except ExchangeError as exc:
        status, detail = Status.FAIL, f"{type(exc).__name__} ({exc.kind}): {exc}"
    except Exception as exc:  # a doctor reports every failure instead of stopping at one
        status, detail = Status.FAIL, f"{type(exc).__name__}: {exc}"
    return Check(name, status, detail)


def _configuration() -> tuple[Status, str]:
    mode = "dry run" if settings.DRY_RUN else "live orders possible"
    credentials = bool(settings.BTCTURK_API_KEY and settings.BTCTURK_API_SECRET)
    detail = (
        f"{mode}; LIVE_TRADING={str(settings.LIVE_TRADING).lower()}; "
        f"credentials {'set' if credentials else 'not set'}; base URL {settings.BTCTURK_BASE_URL}"
    )
    if settings.LIVE_TRADING and not credentials:
        return Status.FAIL, detail + " (LIVE_TRADING=true needs BTCTURK_API_KEY/SECRET)"
    return Status.PASS, detail


def _key_permissions() -> tuple[Status, str]:
    permissions = settings.BTCTURK_API_PERMISSIONS
    if "withdraw" in permissions:
        return Status.FAIL, "BTCTURK_API_PERMISSIONS lists withdraw: such keys are refused"
    if not settings.BTCTURK_API_KEY:
        return Status.PASS, "no API key configured"
    if not permissions:
        return Status.WARN, "BTCTURK_API_PERMISSIONS is empty: the key's permissions are unknown"
    return Status.PASS, f"key permissions: {', '.join(permissions)}"


def _safety_gate() -> tuple[Status, str]:
    decision = gate_state()
    if decision.allowed:
        return Status.PASS, "OPEN: live submits and cancels are allowed"
    reasons = ", ".join(str(reason) for reason in decision.reasons)
    status = Status.WARN if settings.LIVE_TRADING else Status.PASS
    return status, f"blocked: {reasons}"


def _database() -> tuple[Status, str]:
    connection = connections[DEFAULT_DB_ALIAS]
    connection.ensure_connection()
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    vendor = connection.vendor
    if pending:
        return Status.WARN, f"{vendor} reachable; {len(pending)} migrations not applied"
    return Status.PASS, f"{vendor} reachable; migrations applied"


def _redis() -> tuple[Status, str]:
    if not settings.REDIS_URL:
        return Status.WARN, "REDIS_URL not set: locks and rate limits are per process"
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return Status.PASS, "reachable"


def _exchange_clock(client: ExchangeClient) -> tuple[Status, str]:
    sent = time.time_ns() // 1_000_000
    server_ms = client.server_time_ms()
    received = time.time_ns() // 1_000_000
    offset = ServerClock().record(sent_ms=sent, received_ms=received, server_ms=server_ms)
    detail = f"reachable in {received - sent} ms; server clock offset {offset:+d} ms"
    if abs(offset) > CLOCK_FAIL_MS:
        return Status.FAIL, detail + " (beyond BTCTurk's 5 s stamp window: fix the host clock)"
    if abs(offset) > CLOCK_WARN_MS:
        return Status.WARN, detail + " (fix the host clock)"
    return Status.PASS, detail


def _rules(client: ExchangeClient, holder: list[RulesBook]) -> tuple[Status, str]:
    book = client.exchange_rules()
    holder.append(book)
    detail = f"{len(book.rules)} symbols parsed"
    if book.skipped:
        return Status.WARN, detail + f"; {len(book.skipped)} skipped: " + "; ".join(
            f"{label}: {reason}" for label, reason in sorted(book.skipped.items())[:5]
        )
    return Status.PASS, detail


def _coverage(holder: list[RulesBook], wanted: list[str]) -> tuple[Status, str]:
    if not holder:
        return Status.FAIL, "no exchange rules (see exchange_rules)"
    rules = holder[0].rules
    missing, halted = [], []
    for text in wanted:
        symbol = parse_symbol(text)
        if symbol not in rules:
            missing.append(symbol.pair_normalized)
        elif not rules[symbol].trading:
            halted.append(f"{symbol.pair_normalized} ({rules[symbol].status})")
    if missing:
        return Status.FAIL, f"no rules for {', '.join(missing)}"
    if halted:
        return Status.WARN, f"not trading: {', '.join(halted)}"
    return Status.PASS, f"rules for all {len(wanted)} configured symbols"


def _balances(client: ExchangeClient) -> tuple[Status, str]:
    if not (settings.BTCTURK_API_KEY and settings.BTCTURK_API_SECRET):
        return Status.WARN, "skipped: no credentials (BTCTURK_API_KEY/SECRET)"
    balances = client.balances()
    funded = sorted(asset for asset, balance in balances.items() if balance.total > 0)
    return Status.PASS, f"signed call ok; {len(balances)} assets, non-zero: {', '.join(funded)}"
