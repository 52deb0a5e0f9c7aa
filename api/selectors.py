"""Reads the reports API composes from the apps' rows: health, the gate and per-account
status, the last cycle of each account, mark prices. Nothing here writes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import redis
from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Func, OuterRef, Subquery, TextField
from rest_framework import serializers

from api.fields import decimal_text
from ledger.reports import equity_curve, equity_rows
from trading.domain.decimals import decimal_trim
from trading.domain.gate import GateAction, GateDecision
from trading.models import Account, Alert, Candle, Cycle, CycleStatus, TradingControl
from trading.services.gate import gate_state

logger = logging.getLogger(__name__)

OK, ERROR, NOT_CONFIGURED = "ok", "error", "not configured"


def last_cycles(names: Iterable[str]) -> dict[str, Cycle]:
    """The newest ``Cycle`` row (any status) of each named account that has one (two queries,
    each an index probe per account: ``cycle_account_id``)."""
    # ``account = name ORDER BY id DESC`` lets PostgreSQL pick a backward scan of the primary
    # key (it assumes the account's rows spread evenly over ids), which reads every later
    # cycle of the other accounts first: 90 ms for an idle account under 100k cycles. The
    # range and the ordering on (account, id) match only the (account, id) index: 0.1 ms.
    newest = (
        Cycle.objects.filter(account__gte=OuterRef("name"), account__lte=OuterRef("name"))
        .order_by("-account", "-id")
        .values("id")[:1]
    )
    ids = Account.objects.filter(name__in=list(names)).annotate(last=Subquery(newest))
    wanted = [row.last for row in ids if row.last is not None]
    return {cycle.account: cycle for cycle in Cycle.objects.filter(id__in=wanted)}


def database_check() -> tuple[str, str]:
    """``("ok", vendor)`` when a ``SELECT 1`` answers, else ``("error", why)``."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is the answer, not an error of the endpoint
        logger.warning("health: database check failed: %s", exc)
        return ERROR, type(exc).__name__
    return OK, connection.vendor


def redis_check() -> tuple[str, str]:
    """``("not configured", ...)`` without ``REDIS_URL`` (locks are then per process),
    ``("ok", ...)`` when PING answers within 2 s, else ``("error", why)``."""
    if not settings.REDIS_URL:
        return NOT_CONFIGURED, "REDIS_URL is not set: locks and rate limits are per process"
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        logger.warning("health: redis check failed: %s", exc)
        return ERROR, type(exc).__name__
    finally:
        client.close()
    return OK, "PONG"


def health() -> dict[str, object]:
    """Database and Redis state and each account's last cycle; ``status`` is ``ok`` when the
    database answers and Redis answers or is not configured, else ``degraded``."""
    db_status, db_detail = database_check()
    redis_status, redis_detail = redis_check()
    accounts: list[dict[str, object]] = []
    if db_status == OK:
        rows = list(Account.objects.order_by("name"))
        cycles = last_cycles(a.name for a in rows)
        accounts = [
            {"name": a.name, "mode": a.mode, "enabled": a.enabled, "last_cycle": cycles.get(a.name)}
            for a in rows
        ]
    healthy = db_status == OK and redis_status in (OK, NOT_CONFIGURED)
    return {
        "status": "ok" if healthy else "degraded",
        "database": {"status": db_status, "detail": db_detail},
        "redis": {"status": redis_status, "detail": redis_detail},
        "accounts": accounts,
    }


def gate_json(decision: GateDecision) -> dict[str, object]:
    """The gate's decision with every reason and its words."""
    return {
        "allowed": decision.allowed,
        "summary": decision.summary,
        "reasons": [
            {"code": str(reason), "text": text.split(": ", 1)[1]}
            for reason, text in zip(decision.reasons, decision.explain(), strict=True)
        ],
    }


def status() -> dict[str, object]:
    """The safety gate for submits and cancels, the trading control row and, per account, its
    switches, risk mode with reasons, open alerts and last cycle."""
    control = TradingControl.objects.select_related("armed_by", "kill_switch_by").filter(
        pk=TradingControl.SINGLETON_PK
    ).first() or TradingControl(pk=TradingControl.SINGLETON_PK)
    rows = list(Account.objects.order_by("name"))
    cycles = last_cycles(a.name for a in rows)
    alerts = dict(
        Alert.objects.filter(acknowledged_at__isnull=True)
        .values("account")
        .annotate(n=Count("id"))
        .values_list("account", "n")
    )
    return {
        "gate": {
            "submit": gate_json(gate_state(action=GateAction.SUBMIT)),
            "cancel": gate_json(gate_state(action=GateAction.CANCEL)),
        },
        "control": control,
        "accounts": [_account_status(a, cycles.get(a.name), alerts.get(a.name, 0)) for a in rows],
    }


def _account_status(account: Account, cycle: Cycle | None, open_alerts: int) -> dict[str, object]:
    risk = account.risk_state or {}
    return {
        "name": account.name,
        "mode": account.mode,
        "enabled": account.enabled,
        "stop_entries": account.stop_entries,
        "risk_mode": risk.get("mode", "NORMAL"),
        "risk_reasons": list(risk.get("mode_reasons", [])),
        "reconciled_at": account.reconciled_at,
        "open_alerts": open_alerts,
        "last_cycle": cycle,
    }


def marks_latest(account: Account) -> dict[str, tuple[Decimal, datetime | None]]:
    """``symbol -> (mark price, as of UTC)`` for the account's symbols: the newest completed
    cycle's marks (what its equity used), else the newest stored candle's close."""
    marks: dict[str, tuple[Decimal, datetime | None]] = {}
    cycle = (
        Cycle.objects.filter(account=account.name, status=CycleStatus.COMPLETED)
        .order_by("-id")
        .only("market", "finished_at")
        .first()
    )
    if cycle is not None:
        for symbol, seen in (cycle.market or {}).items():
            try:
                marks[symbol] = (decimal_trim(Decimal(str(seen["mark"]))), cycle.finished_at)
            except (KeyError, TypeError, InvalidOperation):
                continue
    missing = [s for s in account.symbols if s not in marks]
    for symbol in missing:
        candle = (
            Candle.objects.filter(symbol=symbol, interval_s=account.bar_interval_s)
            .order_by("-ts_ms")
            .only("close", "ts_ms")
            .first()
        )
        if candle is not None:
            closed = candle.ts_ms + account.bar_interval_s * 1000
            marks[symbol] = (decimal_trim(candle.close), datetime.fromtimestamp(closed / 1000, UTC))
    return marks


# The equity curve as the API renders it: a time ISO-8601 UTC ("2024-01-01T00:10:00Z", with
# microseconds when it has some, as DRF's DateTimeField) and decimals as exact unpadded
# strings (api.fields.decimal_text). PostgreSQL renders them itself, so a long curve never
# becomes Decimal and datetime objects in Python. Same text for every value the ledger writes
# (at most 28 significant digits, its Decimal context's; Python would round longer ones).
_PG_INSTANT = (
    "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE "
    "WHEN to_char(%(expressions)s, 'US') = '000000' THEN '' "
    "ELSE to_char(%(expressions)s AT TIME ZONE 'UTC', '.US') END || 'Z'"
)
_PG_DECIMAL = "trim_scale(%(expressions)s)::text"
EQUITY_TEXT_FIELDS = ("ts", "equity", "cash", "drawdown_pct")


def equity_points_text(
    *,
    account: str,
    since: datetime | None = None,
    until: datetime | None = None,
    points: int | None = None,
) -> tuple[int, list[dict[str, str]]]:
    """``(snapshots in range, points)`` of :func:`ledger.reports.equity_curve`, each point a
    dict of ``ts``, ``equity``, ``cash`` and ``drawdown_pct`` rendered as the API renders them.
    Raises ``ValueError`` for ``points < 2``."""
    if connection.vendor != "postgresql":
        total, series = equity_curve(account=account, since=since, until=until, points=points)
        rendered = [
            (_instant(p.ts), *(decimal_text(v) for v in (p.equity, p.cash, p.drawdown_pct)))
            for p in series
        ]
        return total, [dict(zip(EQUITY_TEXT_FIELDS, row, strict=True)) for row in rendered]
    total, rows = equity_rows(account=account, since=since, until=until, points=points)
    texts = rows.annotate(
        t_ts=Func(F("ts"), template=_PG_INSTANT, output_field=TextField()),
        **{
            f"t_{name}": Func(F(name), template=_PG_DECIMAL, output_field=TextField())
            for name in EQUITY_TEXT_FIELDS[1:]
        },
    ).values_list(*(f"t_{name}" for name in EQUITY_TEXT_FIELDS))
    return total, [dict(zip(EQUITY_TEXT_FIELDS, row, strict=True)) for row in texts]


def _instant(moment: datetime) -> str:
    return serializers.DateTimeField().to_representation(moment)
