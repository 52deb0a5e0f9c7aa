"""Helper of ``.ci/concurrency`` (issue 9 section 5, parts 2 and 3): set up the run, settle the
live account at the end, and check what the run left in the database and on the exchange.

The script runs two Celery workers and two Celery beat processes (a misconfiguration: every
cycle is sent twice) against one dedicated Redis, restarts that Redis in the middle of the run
(while a cycle holds its lock, with the exchange slowed down around it, so that the restart
takes a held lock away from a cycle that is still running when the workers reconnect), and
then calls ``check``, which proves:

``overlaps``
    no two cycles of one account overlap. Per account the ``Cycle`` rows are sorted by
    ``started_at``; a cycle overlaps when it starts before an earlier one finished (a row still
    ``running`` counts as finished now). ``skipped`` rows with ``LOCK_BUSY`` are left out: they
    were written *without* the lock, at one instant (``started_at == finished_at``), while
    another cycle held it. Every other row (completed, failed, ``CLOCK_NOT_ADVANCED`` skips,
    early failures) was written under the lock and takes part (early failures and
    ``CLOCK_NOT_ADVANCED`` skips as one instant). An overlap whose later cycle started before the
    Redis restart fails the run; overlaps from the restart on are counted and listed (a restart
    without persistence forgets the locks held at that moment) but do not fail it. A row's
    ``started_at`` is written after the lock was taken (startup reconciliation and the clock
    read come first), so a cycle that lost its lock to the restart may show a start after it;
``unique``
    no two ``Order`` rows share a ``client_order_id`` and no two ``LedgerFill`` rows share
    ``(account, trade_id)`` (database constraints; the check proves they held);
``exchange`` (live account)
    the sandbox exchange's orders have unique client order ids, each known to the ``Order``
    table; every exchange trade is in the ledger exactly once (and the ledger has none the
    exchange lacks); after the final ``manage.py reconcile`` the ledger's balances equal the
    exchange's, asset by asset, exactly, and the reconcile command reports no drift;
``paper`` (paper account)
    the same against the paper venue's rows (``PaperOrder``, ``PaperTrade``, ``PaperBalance``);
    a mismatch fails the run only when the account had no overlap (an overlap lets two cycles
    save the venue's state, which no constraint covers);
``progress``
    each account completed cycles before the restart and after it, the lock was busy at least
    once (the run did collide), and the live account sent orders.

Usage (environment as ``.ci/concurrency`` exports it)::

    python bench/concurrency_check.py setup
    python bench/concurrency_check.py settle
    python bench/concurrency_check.py check --restart-at EPOCH --restart-done EPOCH \\
        --reconcile-json FILE
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAPER = "conc-paper"
LIVE = "conc-live"
SYMBOLS = ["BTC_TRY", "ETH_TRY"]
# Tuned to trade most bars (as the chaos campaign's mean reversion), so orders meet the restart.
PARAMS = {"window": 3, "entry_bps": 2, "exit_bps": 1, "order_notional": 5000}
CYCLE_INTERVAL_S = 1
RECONCILE_INTERVAL_S = 5
REASON = ".ci/concurrency: loopback sandbox exchange only"
OVERLAPS_LISTED = 10  # per account


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meva.settings")
    import django

    django.setup()


# --- the sandbox exchange's truth, read over its BTCTurk API (signed like BTCTurk) ----------


class Exchange:
    """The live account's view of the sandbox exchange (``BTCTURK_*`` settings)."""

    def __init__(self) -> None:
        import httpx
        from django.conf import settings

        from trading.exchange.btcturk.auth import decode_secret

        self._key = settings.BTCTURK_API_KEY
        self._secret = decode_secret(settings.BTCTURK_API_SECRET)
        self._http = httpx.Client(base_url=settings.BTCTURK_BASE_URL, timeout=10)

    def _call(self, method: str, path: str, params: dict | None = None) -> object:
        from trading.exchange.btcturk.auth import auth_headers

        headers = auth_headers(self._key, self._secret, int(time.time() * 1000))
        answer = self._http.request(method, path, params=params, headers=headers)
        body = answer.json()
        if answer.status_code != 200 or not body.get("success", False):
            raise RuntimeError(f"{method} {path} {params}: HTTP {answer.status_code} {body}")
        return body.get("data")

    def orders(self) -> list[dict]:
        rows: list[dict] = []
        page = 1
        while True:
            batch = self._call("GET", "/api/v1/allOrders", {"limit": 1000, "page": page})
            rows += batch
            if len(batch) < 1000:
                return rows
            page += 1

    def open_orders(self) -> list[dict]:
        data = self._call("GET", "/api/v1/openOrders")
        return list(data["asks"]) + list(data["bids"])

    def cancel(self, order_id: int) -> None:
        self._call("DELETE", "/api/v1/order", {"id": order_id})

    def trades(self) -> list[dict]:
        # startDate below 1e11 is read as seconds: from 1970 on, not the default 30 days
        return list(self._call("GET", "/api/v1/users/transactions/trade", {"startDate": 1}))

    def balances(self) -> dict[str, Decimal]:
        rows = self._call("GET", "/api/v1/users/balances")
        return {row["asset"].upper(): Decimal(row["balance"]) for row in rows}


# --- setup ---------------------------------------------------------------------------------


def setup() -> None:
    """Operator user, kill switch released, gate armed (loopback sandbox only), instruments
    synced, and the paper and live accounts enabled (their beat entries written)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from trading.domain.gate import LIVE_TRADING_ACK_PHRASE
    from trading.exchange.btcturk.client import btcturk_client_from_settings
    from trading.exchange.sandbox import is_loopback
    from trading.services.accounts import account_create
    from trading.services.audit import actor_for_command
    from trading.services.control import control_arm, kill_switch_release
    from trading.services.gate import gate_state
    from trading.services.instruments import instruments_sync

    host = settings.BTCTURK_BASE_URL.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    if not is_loopback(host):
        raise SystemExit(f"refusing to arm the gate: BTCTURK_BASE_URL {host} is not loopback")
    actor = actor_for_command("concurrency")
    operator, _ = get_user_model().objects.get_or_create(username="concurrency")
    kill_switch_release(user=operator, reason=REASON)
    control_arm(user=operator, reason=REASON, acknowledgement=LIVE_TRADING_ACK_PHRASE)
    decision = gate_state()
    if not decision.allowed:
        raise SystemExit(f"the live gate is still closed: {decision.summary}")
    with btcturk_client_from_settings() as client:
        instruments_sync(client=client)
    for name, mode in ((PAPER, "paper"), (LIVE, "live")):
        account_create(
            name=name,
            mode=mode,
            strategy="mean_reversion",
            params=PARAMS,
            symbols=SYMBOLS,
            balances={"TRY": "100000"} if mode == "paper" else None,
            cycle_interval_s=CYCLE_INTERVAL_S,
            reconcile_interval_s=RECONCILE_INTERVAL_S,
            enable=True,
            actor=actor,
        )
    print(f"concurrency setup: gate open ({decision.summary}); accounts {PAPER}, {LIVE}")


# --- settle --------------------------------------------------------------------------------


def settle() -> None:
    """The workers have stopped: cancel the live account's resting orders on the exchange (so
    no fill arrives after the final reconciliation), then reconcile both accounts until every
    lost answer is resolved (as the chaos campaign's final settle)."""
    from django.conf import settings
    from django.utils import timezone

    from trading.models import Order
    from trading.services.audit import actor_for_command
    from trading.services.reconcile import orders_reconcile

    actor = actor_for_command("concurrency")
    exchange = Exchange()
    canceled = 0
    for row in exchange.open_orders():
        exchange.cancel(int(row["id"]))
        canceled += 1
    for _ in range(settings.RECONCILE_ABSENT_PROBES + 1):
        pending = Order.objects.filter(
            account=LIVE, status__in=("UNKNOWN", "SUBMITTED"), exchange_order_id=""
        ).order_by("-id")
        newest = pending.first()
        if newest is not None:
            sent = newest.submitted_at or newest.created_at
            wait = float(settings.RECONCILE_ABSENT_MIN_AGE_S)
            wait -= (timezone.now() - sent).total_seconds()
            if wait > 0:
                time.sleep(wait)
        for account in (LIVE, PAPER):
            orders_reconcile(account_name=account, actor=actor)
        if newest is None:
            break
    print(f"concurrency settle: {canceled} resting exchange orders canceled, reconciled")


# --- check ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Overlap:
    account: str
    first: int
    second: int
    first_span: str
    second_span: str
    second_started: datetime


@dataclass(slots=True)
class Report:
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def fail(self, text: str) -> None:
        self.problems.append(text)

    def say(self, text: str) -> None:
        self.lines.append(text)


def _span(start: datetime, end: datetime) -> str:
    return f"{start:%H:%M:%S.%f}..{end:%H:%M:%S.%f}"


def overlaps_find(account: str, now: datetime) -> list[Overlap]:
    """Pairs of cycles of ``account`` that overlap (module docstring): sorted by start, a cycle
    overlaps the one that finished last among those before it, if it starts before that."""
    from trading.models import Cycle

    rows = (
        Cycle.objects.filter(account=account, started_at__isnull=False)
        .exclude(status="skipped", no_trade_reason__startswith="LOCK_BUSY")
        .values_list("id", "started_at", "finished_at")
    )
    spans = sorted((start, end or now, pk) for pk, start, end in rows)
    found: list[Overlap] = []
    latest: tuple[datetime, datetime, int] | None = None  # the span that ends last so far
    for span in spans:
        start, end, pk = span
        if latest is not None and start < latest[1]:
            found.append(
                Overlap(account, latest[2], pk, _span(*latest[:2]), _span(start, end), start)
            )
        if latest is None or end > latest[1]:
            latest = span
    return found


def _cycle_counts(account: str, since: datetime | None = None) -> Counter[str]:
    from trading.models import Cycle

    rows = Cycle.objects.filter(account=account)
    if since is not None:
        rows = rows.filter(started_at__gte=since)
    counts: Counter[str] = Counter()
    for status, reason in rows.values_list("status", "no_trade_reason"):
        if status == "skipped":
            status = "lock_busy" if reason.startswith("LOCK_BUSY") else "skipped_other"
        counts[status] += 1
    return counts


def _duplicates(report: Report) -> None:
    from django.db.models import Count

    from ledger.models import LedgerFill
    from trading.models import Order

    orders = Order.objects.values("client_order_id").annotate(n=Count("id")).filter(n__gt=1)
    fills = LedgerFill.objects.values("account", "trade_id").annotate(n=Count("id")).filter(n__gt=1)
    dup_orders, dup_fills = list(orders[:5]), list(fills[:5])
    report.say(
        f"database: {Order.objects.count()} orders, {LedgerFill.objects.count()} ledger fills; "
        f"duplicate client order ids {orders.count()}, duplicate (account, trade_id) "
        f"{fills.count()}"
    )
    if dup_orders:
        report.fail(f"duplicate Order.client_order_id: {dup_orders}")
    if dup_fills:
        report.fail(f"duplicate LedgerFill (account, trade_id): {dup_fills}")


def _nonzero(balances: dict[str, Decimal]) -> dict[str, Decimal]:
    return {asset.upper(): amount for asset, amount in balances.items() if amount}


def _ledger_balances(account: str) -> dict[str, Decimal]:
    from ledger.selectors import ledger_balances
    from trading.models import Account
    from trading.services.account_state import balances_from_json

    row = Account.objects.get(name=account)
    opening = balances_from_json(row.initial_balances, field="initial_balances")
    return _nonzero(ledger_balances(account=account, opening=opening))


def _truth_compare(
    report: Report,
    label: str,
    account: str,
    *,
    client_ids: list[str],
    trade_ids: list[str],
    balances: dict[str, Decimal],
    fatal: bool,
) -> None:
    """Exchange (or paper venue) truth against the ledger and the Order table."""
    from ledger.models import LedgerFill
    from trading.models import Order

    problems: list[str] = []
    shared = sorted(cid for cid, n in Counter(client_ids).items() if n > 1)
    if shared:
        problems.append(f"client order ids sent twice: {shared[:3]}")
    known = set(Order.objects.filter(account=account).values_list("client_order_id", flat=True))
    unknown = sorted(set(client_ids) - known)
    if unknown and label == "exchange":
        problems.append(f"exchange orders without an Order row: {unknown[:3]}")
    ledger = Counter(LedgerFill.objects.filter(account=account).values_list("trade_id", flat=True))
    truth = Counter(str(t) for t in trade_ids)
    missing = sorted(set(truth) - set(ledger))
    phantom = sorted(set(ledger) - set(truth))
    twice = sorted(t for t, n in ledger.items() if n > 1)
    if missing:
        problems.append(f"{len(missing)} {label} trades missing from the ledger: {missing[:3]}")
    if phantom:
        problems.append(f"{len(phantom)} ledger trades the {label} lacks: {phantom[:3]}")
    if twice:
        problems.append(f"trades in the ledger twice: {twice[:3]}")
    ours, theirs = _ledger_balances(account), _nonzero(balances)
    if ours != theirs:
        problems.append(f"ledger balances {ours} != {label} balances {theirs}")
    report.say(
        f"{account} vs {label}: {len(client_ids)} orders, {len(truth)} trades, "
        f"ledger {sum(ledger.values())} fills; {'ok' if not problems else 'MISMATCH'}; "
        f"balances {', '.join(f'{a}={v}' for a, v in sorted(theirs.items()))}"
    )
    for problem in problems:
        if fatal:
            report.fail(f"{account}: {problem}")
        else:
            report.say(f"  (not failing: the account overlapped) {problem}")


def _live_exchange(report: Report, reconcile_json: Path | None) -> None:
    exchange = Exchange()
    orders = exchange.orders()
    trades = exchange.trades()
    _truth_compare(
        report,
        "exchange",
        LIVE,
        client_ids=[str(row["orderClientId"]) for row in orders],
        trade_ids=[str(row["id"]) for row in trades],
        balances=exchange.balances(),
        fatal=True,
    )
    if not orders:
        report.fail(f"{LIVE} sent no order to the exchange: the uniqueness checks proved nothing")
    if reconcile_json is not None:
        result = json.loads(reconcile_json.read_text())
        drift = result["balances"]["drift"]
        unresolved = result["orders"].get("unresolved", [])
        report.say(
            f"final manage.py reconcile --account {LIVE}: drift {drift or 'none'}, "
            f"{len(unresolved)} unresolved"
        )
        if drift or result["balances"].get("skipped"):
            report.fail(f"final reconcile: balance drift {drift} {result['balances']}")


def _paper_venue(report: Report, overlapped: bool) -> None:
    from trading.models import PaperBalance, PaperOrder, PaperTrade

    _truth_compare(
        report,
        "paper venue",
        PAPER,
        client_ids=list(
            PaperOrder.objects.filter(account=PAPER).values_list("client_order_id", flat=True)
        ),
        trade_ids=list(PaperTrade.objects.filter(account=PAPER).values_list("trade_id", flat=True)),
        balances={
            row.asset: row.free + row.locked for row in PaperBalance.objects.filter(account=PAPER)
        },
        fatal=not overlapped,
    )


def check(*, restart_at: float, restart_done: float, reconcile_json: Path | None) -> int:
    from django.utils import timezone

    from trading.models import Order

    report = Report()
    now = timezone.now()
    restart = datetime.fromtimestamp(restart_at, tz=UTC)
    back = datetime.fromtimestamp(restart_done, tz=UTC)
    report.say(
        f"redis restarted at {restart:%H:%M:%S.%f} (back {restart_done - restart_at:.2f} s later)"
    )
    busy = 0
    overlapped: dict[str, bool] = {}
    for account in (PAPER, LIVE):
        total, after = _cycle_counts(account), _cycle_counts(account, back)
        before = _cycle_counts(account) - after
        busy += total["lock_busy"]
        overlaps = overlaps_find(account, now)
        early = [o for o in overlaps if o.second_started < restart]
        late = [o for o in overlaps if o.second_started >= restart]
        overlapped[account] = bool(overlaps)
        report.say(
            f"{account}: cycles completed {total['completed']} (before restart "
            f"{before['completed']}, after {after['completed']}), skipped LOCK_BUSY "
            f"{total['lock_busy']}, skipped otherwise {total['skipped_other']}, failed "
            f"{total['failed']}, still running {total['running']}; overlaps before restart "
            f"{len(early)}, from the restart on {len(late)}"
        )
        for o in overlaps[:OVERLAPS_LISTED]:
            when = "before" if o in early else "after"
            report.say(
                f"  overlap ({when} restart): cycle {o.first} {o.first_span} "
                f"/ cycle {o.second} {o.second_span}"
            )
        if early:
            report.fail(f"{account}: {len(early)} overlapping cycles before the Redis restart")
        if not before["completed"]:
            report.fail(f"{account}: no completed cycle before the Redis restart")
        if not after["completed"]:
            report.fail(f"{account}: no completed cycle after the Redis restart (run stopped)")
    if not busy:
        report.fail("no LOCK_BUSY skip at all: the cycles never collided, nothing was tested")
    _duplicates(report)
    unknown = Order.objects.filter(status="UNKNOWN").count()
    report.say(f"orders still UNKNOWN after the final reconciliation: {unknown}")
    _live_exchange(report, reconcile_json)
    _paper_venue(report, overlapped[PAPER])
    for line in report.lines:
        print(f"concurrency: {line}")
    for problem in report.problems:
        print(f"concurrency: FAIL {problem}")
    print(f"concurrency: {'FAILED' if report.problems else 'passed'}")
    return 1 if report.problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup")
    sub.add_parser("settle")
    checking = sub.add_parser("check")
    checking.add_argument("--restart-at", type=float, required=True, help="epoch s")
    checking.add_argument("--restart-done", type=float, required=True, help="epoch s")
    checking.add_argument("--reconcile-json", type=Path, help="manage.py reconcile --json output")
    args = parser.parse_args(argv)
    _django()
    if args.command == "setup":
        setup()
        return 0
    if args.command == "settle":
        settle()
        return 0
    return check(
        restart_at=args.restart_at,
        restart_done=args.restart_done,
        reconcile_json=args.reconcile_json,
    )


if __name__ == "__main__":
    raise SystemExit(main())
