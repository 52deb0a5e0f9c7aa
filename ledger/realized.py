"""The realized PnL book: each fill's realized PnL and per-day totals, stored, so PnL reports
sum a few hundred rows instead of folding every fill of the account.

:func:`realized_pnl_book` folds the fills not booked yet (``LedgerFill.realized_pnl`` is
NULL) in id order with :func:`ledger.domain.reports.realized_steps`, the fold the reports
always used, continuing from the positions it stored after the last fill it booked (exact
decimal strings). It writes each fill's realized PnL and trading day and adds the fill to its
:class:`~ledger.models.RealizedPnlDay` row. A fill that commits after a later fill of its
symbol was booked (concurrent writers) makes the book fold that symbol again from its first
fill; a change of ``TRADING_DAY_TIME_ZONE`` folds the account again.

:func:`realized_pnl_days` answers a report's time range from the day rows whose fills all lie
inside it, and from the booked fills themselves for the days it cuts. It needs exact decimal
sums in the database, so it works on PostgreSQL only (SQLite keeps decimals as 15-digit
floats) and only while the book's exactness bound holds; otherwise it returns ``None`` and
the caller folds the fills (``ledger.reports``). Money is quote (TRY) as Decimal, times UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Case, Count, DecimalField, F, Min, Q, Sum, When

from ledger.domain.drawdown import TradingDayClock
from ledger.domain.fills import Fill, Liquidity
from ledger.domain.positions import Position
from ledger.domain.reports import DayTotal, PricedFill, realized_steps
from ledger.models import MONEY, LedgerFill, RealizedPnlBook, RealizedPnlDay
from trading.domain.decimals import decimal_trim
from trading.domain.orders import Side
from trading.domain.symbols import parse_symbol

ZERO = Decimal(0)
PAGE = 5000
# Sums of the book's values are kept exactly (they never round at 28 digits like the fold's).
EXACT = Context(prec=200)
COLUMN_QUANTUM = Decimal(1).scaleb(-MONEY["decimal_places"])
COLUMN_LIMIT = Decimal(10) ** (MONEY["max_digits"] - MONEY["decimal_places"])
FOLD_DIGITS = 28  # Python's default decimal context, the fold's
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)
POSITION_FIELDS = ("quantity", "average_cost", "cost_basis", "realized_pnl", "fees_paid")
FILL_COLUMNS = (
    "id", "trade_id", "client_order_id", "symbol", "side", "price", "quantity", "fee",
    "fee_asset", "fee_quote", "ts", "liquidity",
)  # fmt: skip


def book_supported() -> bool:
    """True where the database sums decimals exactly (PostgreSQL ``numeric``)."""
    return connection.vendor == "postgresql"


def priced_fills(rows: Iterable[tuple]) -> Iterator[tuple[int, PricedFill]]:
    """``(id, PricedFill)`` for rows of :data:`FILL_COLUMNS`, values trimmed exactly as the
    reports always read them (:func:`~trading.domain.decimals.decimal_trim`)."""
    symbols: dict[str, object] = {}
    for fill_id, trade_id, coid, symbol, side, price, qty, fee, asset, fee_quote, ts, liq in rows:
        parsed = symbols.get(symbol) or symbols.setdefault(symbol, parse_symbol(symbol))
        fill = Fill(
            trade_id=trade_id,
            client_order_id=coid,
            symbol=parsed,  # type: ignore[arg-type]
            side=Side(side),
            price=decimal_trim(price),
            quantity=decimal_trim(qty),
            fee=decimal_trim(fee),
            fee_asset=asset,
            ts_ms=ms(ts),
            liquidity=Liquidity(liq),
        )
        yield fill_id, PricedFill(fill, decimal_trim(fee_quote))


def ms(moment: dt.datetime) -> int:
    """Epoch milliseconds of an aware ``moment``, exactly (no float rounding)."""
    return (moment - _EPOCH) // _MS


# --- booking --------------------------------------------------------------------------------


@dataclass(slots=True)
class _DaySum:
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    fills: int = 0
    buy: Decimal = ZERO
    sell: Decimal = ZERO
    first: dt.datetime | None = None
    last: dt.datetime | None = None


@dataclass(slots=True)
class _Booking:
    """What one call books: positions by symbol key, day sums, exactness figures."""

    positions: dict[object, Position]
    last_ids: dict[str, int]
    exact: bool
    scale: int
    magnitude: Decimal
    days: dict[tuple[dt.date, str], _DaySum] = field(default_factory=dict)


def realized_pnl_book(*, account: str, time_zone: ZoneInfo) -> int:
    """Book every fill of ``account`` not booked yet; returns how many it booked (0, with one
    indexed query, when the book is up to date; 0 on databases without exact decimal sums).

    Runs in one transaction holding the account's :class:`RealizedPnlBook` row lock, so
    concurrent calls book each fill once. Raises
    :class:`~ledger.domain.positions.LedgerIntegrityError` for fills the ledger could not have
    applied (an oversell), as folding them does; nothing is then written."""
    if not book_supported():
        return 0
    if not _unbooked(account).exists() and _book_zone_matches(account, time_zone):
        return 0
    with transaction.atomic():
        return _book_locked(account, time_zone)


def _unbooked(account: str):
    return LedgerFill.objects.filter(account=account, realized_pnl__isnull=True)


def _book_zone_matches(account: str, time_zone: ZoneInfo) -> bool:
    zone = RealizedPnlBook.objects.filter(account=account).values_list("time_zone", flat=True)
    return zone.first() in (None, time_zone.key)


def _book_locked(account: str, time_zone: ZoneInfo) -> int:
    RealizedPnlBook.objects.get_or_create(account=account, defaults={"time_zone": time_zone.key})
    book = RealizedPnlBook.objects.select_for_update().get(account=account)
    if book.time_zone != time_zone.key:
        _forget(book, symbols=None)
        book.time_zone = time_zone.key
    late = (
        _unbooked(account).values("symbol").annotate(first=Min("id")).values_list("symbol", "first")
    )
    stale = {
        parse_symbol(symbol).pair_normalized
        for symbol, first in late
        if first < book.positions.get(parse_symbol(symbol).pair_normalized, {}).get("fill_id", 0)
    }
    if stale:
        _forget(book, symbols=stale)
    booking = _Booking(
        positions=_positions_load(book.positions),
        last_ids={key: state["fill_id"] for key, state in book.positions.items()},
        exact=book.exact,
        scale=book.scale,
        magnitude=Decimal(book.magnitude),
    )
    booked = _fold_unbooked(account, booking, TradingDayClock(time_zone))
    _days_add(account, booking.days)
    book.positions = _positions_dump(booking.positions, booking.last_ids)
    book.exact, book.scale = booking.exact, booking.scale
    book.magnitude = str(booking.magnitude)
    book.save()
    return booked


def _forget(book: RealizedPnlBook, *, symbols: set[str] | None) -> None:
    """Unbook ``symbols`` (all when ``None``) so they are folded again from their first fill.
    The exactness figures are kept: they only ever over-state, which is safe."""
    fills = LedgerFill.objects.filter(account=book.account)
    days = RealizedPnlDay.objects.filter(account=book.account)
    if symbols is None:
        book.positions = {}
    else:
        raw = {
            s
            for s in fills.values_list("symbol", flat=True).distinct()
            if parse_symbol(s).pair_normalized in symbols
        }
        fills, days = fills.filter(symbol__in=raw), days.filter(symbol__in=symbols)
        book.positions = {k: v for k, v in book.positions.items() if k not in symbols}
    fills.update(realized_pnl=None, trading_day=None)
    days.delete()


def _positions_load(stored: dict[str, dict]) -> dict[object, Position]:
    positions: dict[object, Position] = {}
    for key, state in stored.items():
        symbol = parse_symbol(key)
        positions[symbol] = Position(
            symbol=symbol, **{name: Decimal(state[name]) for name in POSITION_FIELDS}
        )
    return positions


def _positions_dump(positions: dict[object, Position], last_ids: dict[str, int]) -> dict:
    out = {}
    for symbol, position in positions.items():
        key = symbol.pair_normalized  # type: ignore[attr-defined]
        out[key] = {name: str(getattr(position, name)) for name in POSITION_FIELDS}
        out[key]["fill_id"] = last_ids[key]
    return out


def _fold_unbooked(account: str, booking: _Booking, clock: TradingDayClock) -> int:
    """Fold the unbooked fills page by page (id order), writing each page's booked values."""
    booked, after = 0, 0
    while True:
        page = list(
            _unbooked(account).filter(id__gt=after).order_by("id").values_list(*FILL_COLUMNS)[:PAGE]
        )
        if not page:
            return booked
        pairs = list(priced_fills(page))
        fills = (priced for _, priced in pairs)
        updates = []
        steps = realized_steps(fills, booking.positions)
        for row, (fill_id, _), step in zip(page, pairs, steps, strict=True):
            day = clock.day_of(step.fill.ts_ms)
            _book_step(booking, step, day, row[10])
            booking.last_ids[step.fill.symbol.pair_normalized] = fill_id
            updates.append((fill_id, step.realized, day))
        _fills_update(updates)
        booked += len(page)
        after = page[-1][0]


def _book_step(booking: _Booking, step, day: dt.date, ts: dt.datetime) -> None:
    fill, realized, fee_quote = step
    notional = fill.notional  # the fold's product, at 28 digits
    exact_notional = EXACT.multiply(fill.price, fill.quantity)
    if notional != exact_notional or not _fits(realized):
        booking.exact = False
    for value in (realized, fee_quote, notional):
        booking.scale = max(booking.scale, _places(value))
        booking.magnitude = EXACT.add(booking.magnitude, abs(value))
    key = (day, fill.symbol.pair_normalized)
    total = booking.days.get(key) or booking.days.setdefault(key, _DaySum())
    with localcontext(EXACT):
        total.realized += realized
        total.fees += fee_quote
        if fill.side is Side.BUY:
            total.buy += exact_notional
        else:
            total.sell += exact_notional
    total.fills += 1
    total.first = ts if total.first is None or ts < total.first else total.first
    total.last = ts if total.last is None or ts > total.last else total.last


def _fits(value: Decimal) -> bool:
    """True when the columns (40 digits, 20 places) hold ``value`` exactly."""
    return abs(value) < COLUMN_LIMIT and value == value.quantize(COLUMN_QUANTUM, context=EXACT)


def _places(value: Decimal) -> int:
    exponent = value.normalize(EXACT).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _fills_update(updates: list[tuple[int, Decimal, dt.date]]) -> None:
    """Write each fill's booked realized PnL and trading day (one statement per 1,000)."""
    table = connection.ops.quote_name(LedgerFill._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(updates), 1000):
            chunk = updates[start : start + 1000]
            values = ", ".join(["(%s::bigint, %s::numeric, %s::date)"] * len(chunk))
            params = [value for row in chunk for value in row]
            # the model's own quoted table name and placeholders only
            sql = f"UPDATE {table} AS f SET realized_pnl = v.column2, trading_day = v.column3 FROM (VALUES {values}) AS v WHERE f.id = v.column1"  # noqa: E501  # nosec B608
            cursor.execute(sql, params)


def _days_add(account: str, days: dict[tuple[dt.date, str], _DaySum]) -> None:
    """Add the booked fills' sums to their day rows (created when missing)."""
    if not days:
        return
    existing = {
        (row.day, row.symbol): row
        for row in RealizedPnlDay.objects.filter(
            account=account, day__in={day for day, _ in days}, symbol__in={s for _, s in days}
        )
    }
    new, changed = [], []
    for (day, symbol), total in days.items():
        row = existing.get((day, symbol))
        if row is None:
            row = RealizedPnlDay(
                account=account, day=day, symbol=symbol, first_ts=total.first, last_ts=total.last
            )
            new.append(row)
        else:
            row.first_ts, row.last_ts = min(row.first_ts, total.first), max(row.last_ts, total.last)
            changed.append(row)
        with localcontext(EXACT):
            row.realized_pnl = decimal_trim(Decimal(row.realized_pnl) + total.realized)
            row.fees = decimal_trim(Decimal(row.fees) + total.fees)
            row.buy_notional = decimal_trim(Decimal(row.buy_notional) + total.buy)
            row.sell_notional = decimal_trim(Decimal(row.sell_notional) + total.sell)
        row.fills += total.fills
    RealizedPnlDay.objects.bulk_create(new, batch_size=1000)
    RealizedPnlDay.objects.bulk_update(
        changed,
        ["realized_pnl", "fees", "buy_notional", "sell_notional", "fills", "first_ts", "last_ts"],
        batch_size=500,
    )


# --- reading --------------------------------------------------------------------------------


def realized_pnl_days(
    *, account: str, since: dt.datetime | None, until: dt.datetime | None
) -> list[DayTotal] | None:
    """Per trading day and symbol, the realized PnL, fees, fill count and notional by side of
    the booked fills of ``account`` executed in ``[since, until)`` (UTC; ``None`` =
    unbounded), in no particular order; ``None`` when the book cannot answer exactly (not
    PostgreSQL, no book, or a value or sum the bound does not cover): fold the fills then.

    Reads under a share lock of the book row, so no booking commits between its queries.
    A day the range cuts is summed over its fills inside the range, or, when most of the
    day lies inside, as the day's row minus its fills outside (fewer rows either way).
    Call :func:`realized_pnl_book` first."""
    if not book_supported():
        return None
    with transaction.atomic():
        book = _book_shared(account)
        if book is None or not book.exact:
            return None
        if Decimal(book.magnitude) >= Decimal(10) ** (FOLD_DIGITS - book.scale):
            return None
        return _days_read(account, since, until)


def _book_shared(account: str) -> RealizedPnlBook | None:
    table = connection.ops.quote_name(RealizedPnlBook._meta.db_table)
    sql = f"SELECT * FROM {table} WHERE account = %s FOR SHARE"  # nosec B608: own table name
    return next(iter(RealizedPnlBook.objects.raw(sql, [account])), None)


def _days_read(
    account: str, since: dt.datetime | None, until: dt.datetime | None
) -> list[DayTotal]:
    rows = RealizedPnlDay.objects.filter(account=account)
    if since is not None:
        rows = rows.filter(last_ts__gte=since)
    if until is not None:
        rows = rows.filter(first_ts__lt=until)
    totals: list[DayTotal] = []
    cut: dict[tuple[dt.date, str], tuple[DayTotal, dt.datetime, dt.datetime]] = {}
    for row in rows.values_list(
        "day", "symbol", "realized_pnl", "fees", "fills", "buy_notional", "sell_notional",
        "first_ts", "last_ts",
    ):  # fmt: skip
        day, symbol, realized, fees, fills, buy, sell, first, last = row
        total = DayTotal(
            day,
            symbol,
            decimal_trim(realized),
            decimal_trim(fees),
            fills,
            decimal_trim(buy),
            decimal_trim(sell),
        )
        if (since is None or first >= since) and (until is None or last < until):
            totals.append(total)
        else:
            cut[(day, symbol)] = (total, first, last)
    if cut:
        totals.extend(_cut_days(account, cut, since, until))
    return totals


def _cut_days(
    account: str,
    cut: dict[tuple[dt.date, str], tuple[DayTotal, dt.datetime, dt.datetime]],
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> list[DayTotal]:
    """The days the range cuts: per day, its fills inside the range summed (SQL), or, when
    the range covers most of the day's span, the day's total minus its fills outside."""
    spans: dict[dt.date, tuple[dt.datetime, dt.datetime]] = {}
    for (day, _), (_, first, last) in cut.items():
        low, high = spans.get(day, (first, last))
        spans[day] = (min(low, first), max(high, last))
    outside_days = {day for day, span in spans.items() if _mostly_inside(span, since, until)}
    inside = Q(**({"ts__gte": since} if since is not None else {})) & Q(
        **({"ts__lt": until} if until is not None else {})
    )
    fills = LedgerFill.objects.filter(account=account, realized_pnl__isnull=False).filter(
        (Q(trading_day__in=set(spans) - outside_days) & inside)
        | (Q(trading_day__in=outside_days) & ~inside)
    )
    sums = _sums(fills)
    out = []
    for key, (total, _, _) in cut.items():
        part = sums.get(key)
        if key[0] not in outside_days:
            if part is not None:
                out.append(part)
        elif part is None:
            out.append(total)
        elif part.fills < total.fills:  # equal: every fill of the day is outside
            with localcontext(EXACT):
                realized, fees, buy, sell = [total[i] - part[i] for i in (2, 3, 5, 6)]
            money = (decimal_trim(realized), decimal_trim(fees))
            traded = (decimal_trim(buy), decimal_trim(sell))
            out.append(DayTotal(*key, *money, total.fills - part.fills, *traded))
    return out


def _mostly_inside(
    span: tuple[dt.datetime, dt.datetime], since: dt.datetime | None, until: dt.datetime | None
) -> bool:
    first, last = span
    low = first if since is None else max(first, since)
    high = last if until is None else min(last, until)
    return (high - low) * 2 > (last - first)


def _sums(fills) -> dict[tuple[dt.date, str], DayTotal]:
    """Sums of ``fills`` per trading day and symbol (``BTC_TRY``), exact (SQL numeric)."""
    money = DecimalField(**MONEY)
    notional = F("price") * F("quantity")
    rows = (
        fills.order_by()
        .values("trading_day", "symbol")
        .annotate(
            realized=Sum("realized_pnl"),
            fees=Sum("fee_quote"),
            n=Count("id"),
            buy=Sum(Case(When(side="buy", then=notional), default=ZERO, output_field=money)),
            sell=Sum(Case(When(~Q(side="buy"), then=notional), default=ZERO, output_field=money)),
        )
    )
    merged: dict[tuple[dt.date, str], DayTotal] = {}
    for row in rows:
        key = (row["trading_day"], parse_symbol(row["symbol"]).pair_normalized)
        values = [row["realized"], row["fees"], row["n"], row["buy"], row["sell"]]
        old = merged.get(key)
        if old is not None:
            with localcontext(EXACT):
                values = [a + b for a, b in zip(old[2:], values, strict=True)]
        merged[key] = DayTotal(
            *key,
            decimal_trim(values[0]),
            decimal_trim(values[1]),
            values[2],
            decimal_trim(values[3]),
            decimal_trim(values[4]),
        )
    return merged
