"""Reads for the operator console's pages. Nothing here writes.

Every read is bounded so a page stays fast with millions of fills and cycles: the last N rows
through an index (``CYCLES_SHOWN``, ``ORDERS_SHOWN``, ``ALERTS_SHOWN``, ``AUDIT_SHOWN``),
per-account figures as SQL subqueries and aggregates (one query for all accounts), and the
equity curve downsampled in SQL (:func:`equity_series`, a ``ROW_NUMBER()`` stride) so at most
``points`` rows leave the database. Fills are never read one by one.

Money is ``Decimal`` in the account's quote asset (TRY); times are aware UTC datetimes. "Today"
is the trading day of ``TRADING_DAY_TIME_ZONE`` (Europe/Istanbul): today's PnL is the change of
equity (realized and unrealized) since the last snapshot before the trading day's local
midnight, cumulative PnL the change since the baseline (:func:`baseline`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Sum, Value, Window
from django.db.models.functions import Coalesce, Mod, RowNumber
from django.utils import timezone

from ledger.models import EquitySnapshot, Position
from ledger.reports import trading_time_zone
from trading.domain.gate import GateAction, GateDecision, gate_evaluate
from trading.domain.orders import TERMINAL_STATUSES, OrderStatus
from trading.models import (
    Account,
    Alert,
    AuditEvent,
    Candle,
    Cycle,
    CycleStatus,
    Instrument,
    Order,
    TradingControl,
)
from trading.services.gate import gate_inputs_collect

OPEN_STATUSES = tuple(s.value for s in OrderStatus if s not in TERMINAL_STATUSES)
UNKNOWN = OrderStatus.UNKNOWN.value
CYCLES_SHOWN = 20
ORDERS_SHOWN = 100
ALERTS_SHOWN = 50
AUDIT_SHOWN = 15
DASHBOARD_POINTS = 200
ACCOUNT_POINTS = 600
# the cycle's steps in the order they run (trading.services.cycle / cycle_record)
TIMING_STEPS = ("snapshot", "plan", "execute", "probe", "record", "reconcile")
CYCLE_FIELDS = (
    "id",
    "account",
    "status",
    "mode",
    "now_ms",
    "started_at",
    "finished_at",
    "timings_ms",
    "risk_mode",
    "mode_reasons",
    "equity",
    "counts",
    "no_trade_reason",
    "error",
)


# --- the gate -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateView:
    """The gate for submits and cancels (one read of its inputs) and the control row."""

    submit: GateDecision
    cancel: GateDecision
    control: TradingControl

    @property
    def reasons(self) -> list[dict[str, object]]:
        """Every reason blocking submits, its words, and whether it blocks cancels too."""
        blocks_cancel = set(self.cancel.reasons)
        return [
            {"code": str(reason), "text": _words(text), "cancel": reason in blocks_cancel}
            for reason, text in zip(self.submit.reasons, self.submit.explain(), strict=True)
        ]


def _words(explained: str) -> str:
    """A reason's words without its code; the switches are on the same page as the reason."""
    return explained.split(": ", 1)[1].removesuffix(" (admin: Trading control)")


def gate_view() -> GateView:
    """The gate's decisions now (``trading.services.gate``) and the trading control row (an
    unsaved default row, not armed and kill switch off, when there is none yet)."""
    inputs = gate_inputs_collect()
    control = TradingControl.objects.select_related("armed_by", "kill_switch_by").filter(
        pk=TradingControl.SINGLETON_PK
    ).first() or TradingControl(pk=TradingControl.SINGLETON_PK)
    return GateView(
        submit=gate_evaluate(inputs, GateAction.SUBMIT),
        cancel=gate_evaluate(inputs, GateAction.CANCEL),
        control=control,
    )


# --- equity ---------------------------------------------------------------------------------


def trading_day_start(now: dt.datetime | None = None) -> dt.datetime:
    """Local midnight (``TRADING_DAY_TIME_ZONE``) that started the trading day of ``now``."""
    local = (now or timezone.now()).astimezone(trading_time_zone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def equity_series(account: str, points: int) -> list[dict[str, object]]:
    """The account's equity snapshots oldest first, at most ``points`` (>= 2) of them: every
    k-th row picked in SQL (``ROW_NUMBER() OVER (ORDER BY ts)``) plus the newest row. Each
    point: ``t`` epoch ms, ``equity`` (str, quote, 2 places), ``drawdown`` (str, percent
    0..100, 4 places)."""
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}")
    rows = EquitySnapshot.objects.filter(account=account)
    total = rows.count()
    fields = ("ts", "equity", "drawdown_pct")
    if total <= points:
        picked = list(rows.order_by("ts").values_list(*fields))
    else:
        step = -(-total // (points - 1))  # ceil: at most points - 1 strided rows
        strided = (
            rows.annotate(rn=Window(RowNumber(), order_by=F("ts").asc()))
            .annotate(slot=Mod(F("rn") - 1, Value(step), output_field=IntegerField()))
            .filter(slot=0)
            .order_by("ts")
            .values_list(*fields)
        )
        picked = list(strided)
        last = rows.order_by("-ts").values_list(*fields).first()
        if last is not None and (not picked or picked[-1][0] != last[0]):
            picked.append(last)
    return [
        {"t": _epoch_ms(ts), "equity": _plain(equity, 2), "drawdown": _plain(drawdown, 4)}
        for ts, equity, drawdown in picked
    ]


def baseline(account: Account, first_equity: Decimal | None) -> tuple[Decimal | None, str]:
    """``(amount, label)`` cumulative PnL is measured from: a paper account's initial cash when
    it started with the quote asset only, else its first equity snapshot (``None`` without
    one)."""
    initial = account.initial_balances or {}
    quote = _quote(account)
    if initial and set(initial) == {quote}:
        try:
            return Decimal(str(initial[quote])), "initial cash"
        except (InvalidOperation, ValueError):
            pass
    return first_equity, "first equity snapshot"


# --- accounts -------------------------------------------------------------------------------


@dataclass(slots=True)
class AccountSummary:
    """One account's figures for the dashboard row and the account page's header."""

    account: Account
    quote: str
    equity: Decimal | None
    equity_at: dt.datetime | None
    drawdown_pct: Decimal | None
    max_drawdown_pct: Decimal | None
    peak: Decimal | None
    baseline: Decimal | None
    baseline_label: str
    today_pnl: Decimal | None
    cumulative_pnl: Decimal | None
    realized_pnl: Decimal
    fees_paid: Decimal
    open_orders: int
    unknown_orders: int
    open_alerts: int
    last_cycle: Cycle | None
    health: dict[str, object] = field(default_factory=dict)

    @property
    def risk_mode(self) -> str:
        return str((self.account.risk_state or {}).get("mode") or "NORMAL")

    @property
    def risk_reasons(self) -> list[str]:
        return [str(r) for r in (self.account.risk_state or {}).get("mode_reasons") or []]

    @property
    def cumulative_pct(self) -> Decimal | None:
        if self.cumulative_pnl is None or not self.baseline:
            return None
        return self.cumulative_pnl / self.baseline


def _count(queryset) -> Coalesce:
    counted = queryset.order_by().values("account").annotate(n=Count("id")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def account_summaries(name: str | None = None) -> list[AccountSummary]:
    """Every account (or the one called ``name``) by name with its equity, drawdown, today's
    and cumulative PnL, order and alert counts, last cycle and exchange health. A fixed number
    of queries whatever the number of accounts and rows."""
    day_start = trading_day_start()
    snaps = EquitySnapshot.objects.filter(account=OuterRef("name"))
    latest = snaps.order_by("-ts")
    orders = Order.objects.filter(account=OuterRef("name"))
    # newest by start through the (account, -started_at) index; every cycle has a start
    cycles = Cycle.objects.filter(account=OuterRef("name"), started_at__isnull=False).order_by(
        "-started_at"
    )
    accounts = Account.objects.order_by("name")
    if name is not None:
        accounts = accounts.filter(name=name)
    rows = list(
        accounts.annotate(
            c_equity=Subquery(latest.values("equity")[:1]),
            c_equity_at=Subquery(latest.values("ts")[:1]),
            c_drawdown=Subquery(latest.values("drawdown_pct")[:1]),
            c_peak=Subquery(latest.values("peak")[:1]),
            c_day_open=Subquery(
                snaps.filter(ts__lt=day_start).order_by("-ts").values("equity")[:1]
            ),
            c_first=Subquery(snaps.order_by("ts").values("equity")[:1]),
            # the deepest drawdown, one probe of the (account, drawdown_pct) index
            c_max_dd=Subquery(snaps.order_by("-drawdown_pct").values("drawdown_pct")[:1]),
            c_open_orders=_count(orders.filter(status__in=OPEN_STATUSES)),
            c_unknown=_count(orders.filter(status=UNKNOWN)),
            c_alerts=_count(Alert.objects.filter(account=OuterRef("name"), acknowledged_at=None)),
            c_cycle=Subquery(cycles.values("id")[:1]),
            c_last_ok=Subquery(
                cycles.filter(status=CycleStatus.COMPLETED).values("finished_at")[:1]
            ),
        )
    )
    names = [a.name for a in rows]
    ids = [a.c_cycle for a in rows if a.c_cycle is not None]
    last_cycles = {c.account: c for c in Cycle.objects.filter(id__in=ids).only(*_cycle_fields())}
    realized = {
        r["account"]: r
        for r in Position.objects.filter(account__in=names)
        .values("account")
        .annotate(realized=Sum("realized_pnl"), fees=Sum("fees_paid"))
    }
    out = []
    for a in rows:
        base, label = baseline(a, a.c_first)
        opening = a.c_day_open if a.c_day_open is not None else base
        cycle = last_cycles.get(a.name)
        sums = realized.get(a.name, {})
        out.append(
            AccountSummary(
                account=a,
                quote=_quote(a),
                equity=a.c_equity,
                equity_at=a.c_equity_at,
                drawdown_pct=a.c_drawdown,
                max_drawdown_pct=a.c_max_dd,
                peak=a.c_peak,
                baseline=base,
                baseline_label=label,
                today_pnl=_diff(a.c_equity, opening),
                cumulative_pnl=_diff(a.c_equity, base),
                realized_pnl=sums.get("realized") or Decimal(0),
                fees_paid=sums.get("fees") or Decimal(0),
                open_orders=a.c_open_orders,
                unknown_orders=a.c_unknown,
                open_alerts=a.c_alerts,
                last_cycle=cycle,
                health=exchange_health(cycle, a.c_last_ok),
            )
        )
    return out


def _diff(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a - b


def _quote(account: Account) -> str:
    try:
        return account.quote_asset
    except (IndexError, ValueError):
        return ""


# --- exchange health ------------------------------------------------------------------------


def _cycle_fields() -> tuple[str, ...]:
    """The cycle columns the console reads; ``health`` and ``market`` when the model has them."""
    names = {f.name for f in Cycle._meta.get_fields()}
    return CYCLE_FIELDS + tuple(n for n in ("health", "market") if n in names)


def exchange_health(cycle: Cycle | None, last_ok_at: dt.datetime | None) -> dict[str, object]:
    """What the newest cycle saw of the exchange: ``clock_offset_ms``, ``last_ok_at`` (aware
    UTC), ``ws_age_s`` (the oldest websocket quote, seconds), ``rate_limit_wait_ms``,
    ``requests``, ``errors``; ``None`` where unknown. Read from the cycle's ``health`` JSON when
    it records one; otherwise ``last_ok_at`` is the newest completed cycle's end (it spoke to
    the exchange) and ``ws_age_s`` the oldest age of the quotes its market record says came from
    the websocket. ``source`` says which (``health``, ``cycle`` or ``none``)."""
    data = (getattr(cycle, "health", None) or {}) if cycle is not None else {}
    if not isinstance(data, dict):
        data = {}
    out: dict[str, object] = {
        key: data.get(key)
        for key in ("clock_offset_ms", "ws_age_s", "rate_limit_wait_ms", "requests", "errors")
    }
    out["last_ok_at"] = _iso(data.get("last_ok_at"))
    if data:
        out["source"] = "health"
        return out
    out["source"] = "cycle" if cycle is not None else "none"
    out["last_ok_at"] = last_ok_at
    ages = [
        seen.get("age_ms")
        for seen in ((getattr(cycle, "market", None) or {}) if cycle else {}).values()
        if isinstance(seen, dict) and seen.get("quote_source") == "ws"
    ]
    ages = [a for a in ages if isinstance(a, int | float)]
    out["ws_age_s"] = max(ages) / 1000 if ages else None
    return out


def _iso(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --- rows -----------------------------------------------------------------------------------


def recent_cycles(account: str, limit: int = CYCLES_SHOWN) -> list[Cycle]:
    """The account's newest cycles, newest first, with their step timings."""
    rows = Cycle.objects.filter(account=account, started_at__isnull=False)
    return list(rows.order_by("-started_at").only(*_cycle_fields())[:limit])


def timing_steps(cycles: list[Cycle]) -> list[str]:
    """The timing keys found in ``cycles``, known steps first in run order, others after."""
    seen: set[str] = set()
    for cycle in cycles:
        if isinstance(cycle.timings_ms, dict):
            seen.update(cycle.timings_ms)
    return [s for s in TIMING_STEPS if s in seen] + sorted(seen - set(TIMING_STEPS))


def open_orders(account: str | None = None, *, unknown_only: bool = False) -> list[Order]:
    """Open orders (``NEW``, ``SUBMITTED``, ``OPEN``, ``PARTIALLY_FILLED``, ``UNKNOWN``), the
    ``UNKNOWN`` ones first, newest first; at most ``ORDERS_SHOWN``."""
    rows = (
        Order.objects.filter(status=UNKNOWN)
        if unknown_only
        else Order.objects.filter(status__in=OPEN_STATUSES)
    )
    if account is not None:
        rows = rows.filter(account=account)
    rows = list(rows.order_by("-created_at", "-id")[:ORDERS_SHOWN])
    return sorted(rows, key=lambda o: o.status != UNKNOWN)


def open_alerts(account: str | None = None) -> list[Alert]:
    """Alerts not acknowledged yet, newest first; for ``account`` its own and global ones."""
    rows = Alert.objects.filter(acknowledged_at=None)
    if account is not None:
        rows = rows.filter(account__in=[account, ""])
    return list(rows.order_by("-last_seen", "-id")[:ALERTS_SHOWN])


def recent_audit(account: str | None = None) -> list[AuditEvent]:
    """The newest audit events (of ``account`` when given)."""
    rows = AuditEvent.objects.all()
    if account is not None:
        rows = rows.filter(account=account)
    return list(rows.order_by("-created_at", "-id")[:AUDIT_SHOWN])


def instrument_steps(symbols: list[str]) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """``symbol -> (tick size, step size)`` of the stored instruments among ``symbols``."""
    return {
        symbol: (tick, step)
        for symbol, tick, step in Instrument.objects.filter(symbol__in=symbols).values_list(
            "symbol", "tick_size", "step_size"
        )
    }


@dataclass(frozen=True, slots=True)
class PositionRow:
    """A held position: quantities in base units, money in quote, ``unrealized_pct`` a
    fraction of the cost basis; ``mark``/``mark_at`` the price it is valued at (``None``
    when no price is known)."""

    symbol: str
    quantity: Decimal
    average_cost: Decimal
    cost_basis: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal
    mark: Decimal | None
    mark_at: dt.datetime | None
    tick: Decimal | None
    step: Decimal | None

    @property
    def value(self) -> Decimal | None:
        return None if self.mark is None else self.quantity * self.mark

    @property
    def unrealized_pnl(self) -> Decimal | None:
        value = self.value
        return None if value is None or self.quantity == 0 else value - self.cost_basis

    @property
    def unrealized_pct(self) -> Decimal | None:
        pnl = self.unrealized_pnl
        return None if pnl is None or not self.cost_basis else pnl / self.cost_basis


def positions(account: Account) -> list[PositionRow]:
    """The account's positions that hold something or realized something, by symbol, valued
    at the newest completed cycle's marks (the newest stored candle's close otherwise)."""
    rows = list(Position.objects.filter(account=account.name).exclude(quantity=0, realized_pnl=0))
    marks = marks_latest(account, [r.symbol for r in rows if r.quantity > 0])
    steps = instrument_steps([r.symbol for r in rows])
    return [
        PositionRow(
            symbol=r.symbol,
            quantity=r.quantity,
            average_cost=r.average_cost,
            cost_basis=r.cost_basis,
            realized_pnl=r.realized_pnl,
            fees_paid=r.fees_paid,
            mark=marks.get(r.symbol, (None, None))[0],
            mark_at=marks.get(r.symbol, (None, None))[1],
            tick=steps.get(r.symbol, (None, None))[0],
            step=steps.get(r.symbol, (None, None))[1],
        )
        for r in sorted(rows, key=lambda r: (r.quantity == 0, r.symbol))
    ]


def marks_latest(
    account: Account, symbols: list[str]
) -> dict[str, tuple[Decimal, dt.datetime | None]]:
    """``symbol -> (mark, as of)``: the newest completed cycle's marks, else the newest stored
    candle's close (as of its close time)."""
    marks: dict[str, tuple[Decimal, dt.datetime | None]] = {}
    if not symbols:
        return marks
    cycle = (
        Cycle.objects.filter(
            account=account.name, status=CycleStatus.COMPLETED, started_at__isnull=False
        )
        .order_by("-started_at")
        .only("market", "finished_at")
        .first()
    )
    for symbol, seen in ((cycle.market or {}) if cycle is not None else {}).items():
        if symbol in symbols and isinstance(seen, dict):
            try:
                marks[symbol] = (Decimal(str(seen["mark"])), cycle.finished_at)
            except (KeyError, InvalidOperation, ValueError):
                continue
    for symbol in (s for s in symbols if s not in marks):
        candle = (
            Candle.objects.filter(symbol=symbol, interval_s=account.bar_interval_s)
            .order_by("-ts_ms")
            .only("close", "ts_ms")
            .first()
        )
        if candle is not None:
            closed = (candle.ts_ms + account.bar_interval_s * 1000) / 1000
            marks[symbol] = (candle.close, dt.datetime.fromtimestamp(closed, dt.UTC))
    return marks


def _epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _plain(value: Decimal, places: int) -> str:
    """A Decimal rounded to ``places`` as a short plain string for the charts (no exponent,
    no trailing zeros)."""
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return f"{rounded.normalize():f}"
