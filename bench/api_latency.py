"""Reports API latency benchmark (not a test): list endpoints over a large PostgreSQL database.

Floor (issue 8 section 5): p95 < 50 ms per list endpoint on PostgreSQL seeded with 1M fills
and 100k cycles.

1. **seed** (once; reused while the database already holds it, ``--reseed`` starts over):
   ``--accounts`` accounts (default 4, named ``apibench-N``, half paper, half live) trading 4
   symbols; per account one completed ``Cycle`` a minute with its ``EquitySnapshot`` (100k in
   all), every fifth cycle with 3 ``CycleDecision`` rows; ``Order`` rows (5 a cycle, 500k)
   each filled by 2 ``LedgerFill`` rows (1M; a buy then a sell of the same size per symbol, so
   the ledger's positions never go short and the PnL fold accepts them), 300k ``AuditEvent``
   and 2k ``Alert`` rows, one ``Position`` per symbol and running ``LedgerBalance`` rows.
   Rows go in with PostgreSQL ``COPY`` (psycopg), in batches, with progress; then the fills
   are booked in the realized PnL book, as migration ledger 0005 books existing fills. The database
   must be PostgreSQL (``DATABASE_URL``) and, for ``--reseed``, hold no account other than
   the bench's (the seeded tables are truncated).
2. **measure**: each endpoint ``--requests`` times (default 60) through Django's test
   ``Client`` in this process, logged in as a staff user (session auth): the time is the
   server's (URL routing, middleware, DRF, queries, JSON), without a network hop. Each list
   is measured on its first page (newest first, 100 rows) and on a filtered page (account,
   symbol where the endpoint has one, a one-day time range in the middle of the history).
   The PnL reports read the realized PnL book (``ledger.realized``), measured like the
   lists; ``--report-requests`` caps them (e.g. 10 to time the old fold of every fill).
   Prints p50/p95/p99 per endpoint and the floor verdict; writes the table as JSON to
   ``bench/out/api_latency-<UTC time>.json``.
3. ``--dashboard``: also times the operator console's admin index and an account's page
   (same client, same data; floor < 300 ms).

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/meva_bench \\
        .venv/bin/python bench/api_latency.py [--requests 60] [--reseed] [--dashboard]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PREFIX = "apibench-"
SYMBOLS = {"BTC_TRY": 1_000_000, "ETH_TRY": 60_000, "AVAX_TRY": 1_000, "USDT_TRY": 34}
CYCLES = 100_000
ORDERS_PER_CYCLE = 5
FILLS_PER_ORDER = 2
AUDIT_EVENTS = 300_000
ALERTS = 2_000
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
BATCH = 50_000
FLOOR_MS = 50.0
DASHBOARD_FLOOR_MS = 300.0


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meva.settings")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        sys.exit("bench/api_latency.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    import django

    django.setup()


# --- seeding -------------------------------------------------------------------------------


def _copy(model, rows: Iterable[dict], total: int, label: str) -> None:
    """COPY ``rows`` (field name -> value; missing fields take their default) into
    ``model``'s table, reporting progress every batch."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    defaults = {}
    for f in fields:
        if f.has_default():
            defaults[f.attname] = f.get_default
        elif f.null:
            defaults[f.attname] = lambda: None
        else:
            defaults[f.attname] = lambda: ""
    json_fields = {f.attname for f in fields if f.get_internal_type() == "JSONField"}
    started, done = time.perf_counter(), 0
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            values = []
            for f in fields:
                value = row[f.attname] if f.attname in row else defaults[f.attname]()
                if f.attname in json_fields and value is not None:
                    value = json.dumps(value)
                values.append(value)
            copy.write_row(values)
            done += 1
            if done % BATCH == 0 or done == total:
                rate = done / (time.perf_counter() - started)
                print(f"\r  {label}: {done:,}/{total:,} ({rate:,.0f} rows/s)", end="", flush=True)
    print()


def seeded(accounts: int) -> bool:
    from ledger.models import LedgerFill
    from trading.models import Account, Cycle

    names = [f"{PREFIX}{n}" for n in range(accounts)]
    return (
        Account.objects.filter(name__in=names).count() == accounts
        and Cycle.objects.filter(account__in=names).count() >= CYCLES
        and LedgerFill.objects.filter(account__in=names).count()
        >= CYCLES * ORDERS_PER_CYCLE * FILLS_PER_ORDER
    )


def reset() -> None:
    """Truncate the tables the seed fills; refuses when another account exists."""
    from django.db import connection

    from ledger.models import (
        EquitySnapshot,
        LedgerBalance,
        LedgerEntry,
        LedgerFill,
        Position,
        RealizedPnlBook,
        RealizedPnlDay,
    )
    from trading.models import Account, Alert, AuditEvent, Cycle, CycleDecision, Order

    others = list(Account.objects.exclude(name__startswith=PREFIX).values_list("name", flat=True))
    if others:
        sys.exit(f"--reseed truncates tables; this database has other accounts: {others[:5]}")
    tables = [
        m._meta.db_table
        for m in (
            CycleDecision,
            Order,
            Cycle,
            LedgerEntry,
            LedgerFill,
            LedgerBalance,
            Position,
            EquitySnapshot,
            RealizedPnlDay,
            RealizedPnlBook,
            Alert,
            AuditEvent,
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    Account.objects.filter(name__startswith=PREFIX).delete()


def seed(accounts: int) -> None:
    from django.db import connection, transaction

    from ledger.models import EquitySnapshot, LedgerBalance, LedgerFill, Position
    from trading.models import Account, Alert, AuditEvent, Cycle, CycleDecision, Order
    from trading.services.accounts import account_create

    rng = random.Random(7)
    names = [f"{PREFIX}{n}" for n in range(accounts)]
    per_account = CYCLES // accounts
    for n, name in enumerate(names):
        if not Account.objects.filter(name=name).exists():
            paper = n % 2 == 0
            account_create(
                name=name,
                mode="paper" if paper else "live",
                strategy="mean_reversion",
                params={"window": 10, "entry_bps": 15, "exit_bps": 5},
                symbols=list(SYMBOLS),
                balances={"TRY": 1_000_000} if paper else None,
                actor="command:bench",
            )
    print(f"seeding {accounts} accounts, {CYCLES:,} cycles, {CYCLES * ORDERS_PER_CYCLE:,} orders")

    def minute(i: int) -> dt.datetime:
        return T0 + dt.timedelta(minutes=i)

    modes = dict(Account.objects.filter(name__in=names).values_list("name", "mode"))

    def cycles() -> Iterator[dict]:  # no query inside a COPY: the connection is busy
        for name in names:
            mode = modes[name]
            for i in range(per_account):
                at = minute(i)
                yield {
                    "account": name,
                    "status": "completed",
                    "mode": mode,
                    "now_ms": int(at.timestamp() * 1000),
                    "started_at": at,
                    "finished_at": at + dt.timedelta(milliseconds=60),
                    "heartbeat_at": at + dt.timedelta(milliseconds=60),
                    "universe": list(SYMBOLS),
                    "counts": {"intents": 5, "orders": 5, "submitted": 5, "fills": 10},
                    "timings_ms": {"snapshot": 20.0, "plan": 0.2, "execute": 9.0, "record": 8.0},
                    "risk_mode": "NORMAL",
                    "equity": Decimal(1_000_000) + i,
                }

    with transaction.atomic():
        _copy(Cycle, cycles(), per_account * accounts, "cycles")
    first_cycle = {
        name: Cycle.objects.filter(account=name).order_by("id").values_list("id", flat=True)[0]
        for name in names
    }

    def decisions() -> Iterator[dict]:
        for name in names:
            for i in range(0, per_account, 5):
                for seq, kind in enumerate(("intent", "order", "fill"), start=1):
                    yield {
                        "cycle_id": first_cycle[name] + i,
                        "seq": seq,
                        "kind": kind,
                        "symbol": "BTC_TRY",
                        "side": "buy",
                        "payload": {"quantity": "0.01"},
                    }

    with transaction.atomic():
        _copy(CycleDecision, decisions(), accounts * len(range(0, per_account, 5)) * 3, "decisions")

    def equity() -> Iterator[dict]:
        for name in names:
            for i in range(per_account):
                value = Decimal(1_000_000) + i
                yield {
                    "account": name,
                    "ts": minute(i),
                    "equity": value,
                    "cash": value,
                    "peak": value,
                    "drawdown_pct": Decimal(0),
                }

    with transaction.atomic():
        _copy(EquitySnapshot, equity(), per_account * accounts, "equity snapshots")

    # Orders and their fills: per account and symbol, buys and sells alternate (same size).
    run = uuid.uuid4().hex[:6]
    orders_total = per_account * accounts * ORDERS_PER_CYCLE
    symbols = list(SYMBOLS)

    def order_plan() -> Iterator[tuple]:
        for name in names:
            sides = dict.fromkeys(symbols, "buy")
            for i in range(per_account):
                for k in range(ORDERS_PER_CYCLE):
                    symbol = symbols[(i * ORDERS_PER_CYCLE + k) % len(symbols)]
                    side = sides[symbol]
                    sides[symbol] = "sell" if side == "buy" else "buy"
                    price = Decimal(SYMBOLS[symbol]) * (
                        1 + Decimal(rng.randint(-500, 500)) / 10_000
                    )
                    coid = f"ab{run}-{name[-1]}-{i}-{k}"
                    yield name, i, k, symbol, side, price.quantize(Decimal("0.01")), coid

    plan = list(order_plan())

    def orders() -> Iterator[dict]:
        for name, i, k, symbol, side, price, coid in plan:
            at = minute(i) + dt.timedelta(milliseconds=10 + k)
            yield {
                "account": name,
                "cycle_id": first_cycle[name] + i,
                "client_order_id": coid,
                "exchange_order_id": f"x{run}{name[-1]}{i * ORDERS_PER_CYCLE + k}",
                "symbol": symbol,
                "side": side,
                "order_type": "limit",
                "price": price,
                "quantity": Decimal("0.01"),
                "filled_quantity": Decimal("0.01"),
                "status": "FILLED",
                "strategy": "mean_reversion",
                "reason": "bench",
                "submitted_at": at,
                "created_at": at,
                "updated_at": at,
            }

    with transaction.atomic():
        _copy(Order, orders(), orders_total, "orders")

    def fills() -> Iterator[dict]:
        half = Decimal("0.005")
        for name, i, k, symbol, side, price, coid in plan:
            for f in range(FILLS_PER_ORDER):
                fee = (price * half * Decimal("0.001")).quantize(Decimal("0.00000001"))
                yield {
                    "account": name,
                    "trade_id": f"t{coid}-{f}",
                    "client_order_id": coid,
                    "symbol": symbol,
                    "side": side,
                    "price": price,
                    "quantity": half,
                    "fee": fee,
                    "fee_asset": "TRY",
                    "fee_quote": fee,
                    "liquidity": "maker",
                    "ts": minute(i) + dt.timedelta(seconds=1 + f, milliseconds=k),
                    "recorded_at": minute(i) + dt.timedelta(seconds=2),
                }

    with transaction.atomic():
        _copy(LedgerFill, fills(), orders_total * FILLS_PER_ORDER, "fills")

    def audit() -> Iterator[dict]:
        for n in range(AUDIT_EVENTS):
            name = names[n % accounts]
            yield {
                "actor": "task:trading.cycle_run",
                "action": "order.status" if n % 2 else "order.submit",
                "account": name,
                "object_type": "order",
                "object_id": f"ab{run}-{n}",
                "after": {"status": "OPEN"},
                "reason": "bench",
                "created_at": minute(n * per_account // (AUDIT_EVENTS // accounts) // accounts),
            }

    with transaction.atomic():
        _copy(AuditEvent, audit(), AUDIT_EVENTS, "audit events")

    def alerts() -> Iterator[dict]:
        for n in range(ALERTS):
            at = minute(n * per_account // ALERTS)
            yield {
                "kind": ("CYCLE_FAILED", "BALANCE_DRIFT", "FOREIGN_TRADE")[n % 3],
                "key": str(n),
                "severity": ("warning", "critical", "info")[n % 3],
                "account": names[n % accounts],
                "message": f"bench alert {n}",
                "first_seen": at,
                "last_seen": at,
                "acknowledged_at": at if n % 2 else None,
            }

    with transaction.atomic():
        _copy(Alert, alerts(), ALERTS, "alerts")
        for name in names:
            for symbol in symbols:
                Position.objects.update_or_create(account=name, symbol=symbol)
            for asset in ("TRY", *(s.split("_")[0] for s in symbols)):
                LedgerBalance.objects.update_or_create(account=name, asset=asset)
    book(names)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def book(names: list[str]) -> None:
    """Book the copied fills in the realized PnL book (what migration ledger 0005 does for
    existing fills), so no measured request pays for it."""
    from ledger.realized import realized_pnl_book
    from ledger.reports import trading_time_zone

    for name in names:
        started = time.perf_counter()
        booked = realized_pnl_book(account=name, time_zone=trading_time_zone())
        print(f"  booked {booked:,} fills of {name} in {time.perf_counter() - started:.0f} s")


# --- measuring -----------------------------------------------------------------------------


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(pick(0.95), 2),
        "p99": round(pick(0.99), 2),
        "n": len(ordered),
    }


def _time(get: Callable[[], object], requests: int) -> list[float]:
    get()  # warm: first request compiles templates, fills caches
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = get()
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"HTTP {response.status_code}: {response.content[:300]!r}")
    return samples


def endpoints(account: str) -> list[tuple[str, str, str]]:
    """``(name, path, floor kind)`` for every endpoint measured."""
    day = T0 + dt.timedelta(minutes=CYCLES // 8)
    since, until = (
        day.strftime("%Y-%m-%dT%H:%M:%SZ"),
        (day + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    rng = f"since={since}&until={until}"
    a = f"/api/v1/accounts/{account}"
    return [
        ("orders", "/api/v1/orders/", "list"),
        ("orders filtered", f"/api/v1/orders/?account={account}&symbol=BTC_TRY&{rng}", "list"),
        ("fills", "/api/v1/fills/", "list"),
        ("fills filtered", f"/api/v1/fills/?account={account}&symbol=BTC_TRY&{rng}", "list"),
        ("cycles", "/api/v1/cycles/", "list"),
        ("cycles filtered", f"/api/v1/cycles/?account={account}&{rng}", "list"),
        ("alerts", "/api/v1/alerts/", "list"),
        ("alerts filtered", f"/api/v1/alerts/?account={account}&{rng}", "list"),
        ("audit", "/api/v1/audit-events/", "list"),
        ("audit filtered", f"/api/v1/audit-events/?account={account}&{rng}", "list"),
        ("accounts", "/api/v1/accounts/", "list"),
        ("status", "/api/v1/status/", "list"),
        ("balances", f"{a}/balances/", "list"),
        ("positions", f"{a}/positions/", "list"),
        ("equity", f"{a}/equity/", "list"),
        ("equity filtered", f"{a}/equity/?{rng}", "list"),
        ("pnl", f"{a}/pnl/", "report"),
        ("pnl filtered", f"{a}/pnl/?{rng}", "report"),
        ("pnl symbols", f"{a}/pnl/symbols/", "report"),
    ]


def measure(requests: int, dashboard: bool, report_requests: int | None = None) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    user, _ = get_user_model().objects.get_or_create(
        username="apibench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    account = f"{PREFIX}1"
    results = []
    targets = endpoints(account)
    if dashboard:
        targets += [
            ("admin index", "/admin/", "dashboard"),
            ("account page", _account_page(account), "dashboard"),
        ]
    for name, path, kind in targets:
        row = {"endpoint": name, "path": path, "kind": kind}
        count = min(requests, report_requests or requests) if kind == "report" else requests
        row.update(_stats(_time(lambda path=path: client.get(path), count)))
        floor = DASHBOARD_FLOOR_MS if kind == "dashboard" else FLOOR_MS
        row["floor_ms"] = floor
        row["met"] = row["p95"] < floor
        results.append(row)
        print(
            f"  {name:<18} p50 {row['p50']:>8.2f}  p95 {row['p95']:>8.2f}  p99 {row['p99']:>8.2f}"
            f"  {'met' if row['met'] else 'NOT MET'} (p95 < {floor:g} ms)",
            flush=True,
        )
    return results


def _account_page(account: str) -> str:
    from django.urls import reverse

    return reverse("console:account", args=[account])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--reseed", action="store_true", help="truncate and seed again")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--dashboard", action="store_true", help="also the console pages")
    parser.add_argument("--report-requests", type=int, help="at most this many per PnL report")
    args = parser.parse_args()
    _setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    if args.reseed:
        reset()
    if seeded(args.accounts):
        print("reusing the seeded data (--reseed to start over)")
    else:
        started = time.perf_counter()
        seed(args.accounts)
        print(f"seeded in {time.perf_counter() - started:.0f} s")
    if args.seed_only:
        return
    print(
        f"{connection.vendor} {connection.settings_dict['NAME']}, Django test Client in process "
        f"(server time), {args.requests} requests each, first page = 100 rows newest first"
    )
    results = measure(args.requests, args.dashboard, args.report_requests)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"api_latency-{stamp}.json"
    path.write_text(json.dumps({"database": connection.vendor, "results": results}, indent=2))
    missed = [r["endpoint"] for r in results if not r["met"]]
    print(f"written {path.relative_to(ROOT)}; floor missed by: {', '.join(missed) or 'none'}")


if __name__ == "__main__":
    main()
