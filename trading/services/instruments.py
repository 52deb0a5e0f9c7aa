"""Instrument rows kept in step with the exchange's ``exchangeinfo`` (DESIGN.md section 3).

:func:`instruments_sync` upserts one :class:`~trading.models.Instrument` per listed symbol and
reports, field by field, what changed. A symbol whose entry cannot be parsed is reported as
skipped with the reason and its row is left untouched; a row whose symbol the exchange no
longer lists is marked ``status="DELISTED"`` (never deleted: orders and fills refer to it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from trading.domain.rules import ExchangeRules, RulesBook
from trading.domain.symbols import SymbolError, parse_symbol
from trading.exchange.base import ExchangeClient
from trading.models import Instrument

DELISTED = "DELISTED"
SYNCED_FIELDS = (
    "base",
    "quote",
    "pair",
    "status",
    "tick_size",
    "step_size",
    "min_notional",
    "min_price",
    "max_price",
    "order_methods",
)


@dataclass(frozen=True, slots=True)
class InstrumentChange:
    """What happened to one symbol: ``action`` is created/updated/delisted; ``fields`` maps
    each changed field to ``(old, new)`` as strings (``old`` is ``None`` on create)."""

    symbol: str
    action: str
    fields: dict[str, tuple[str | None, str]]


@dataclass(frozen=True, slots=True)
class InstrumentSyncResult:
    """Outcome of one sync: changes, the number of rows already up to date, skipped entries
    (exchangeinfo label -> reason) and the rules that were applied, by symbol."""

    changes: tuple[InstrumentChange, ...]
    unchanged: int
    skipped: dict[str, str]
    rules: tuple[ExchangeRules, ...] = field(default=())

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)


def instrument_values(rules: ExchangeRules) -> dict[str, object]:
    """The :class:`Instrument` field values for ``rules`` (effective tick, band, methods)."""
    return {
        "base": rules.symbol.base,
        "quote": rules.symbol.quote,
        "pair": rules.symbol.pair,
        "status": rules.status,
        "tick_size": rules.tick_size,
        "step_size": rules.step_size,
        "min_notional": rules.min_notional,
        "min_price": rules.min_price,
        "max_price": rules.max_price,
        "order_methods": sorted(rules.order_methods),
    }


@transaction.atomic
def instruments_sync(*, client: ExchangeClient) -> InstrumentSyncResult:
    """Fetch exchange rules through ``client`` and upsert :class:`Instrument` rows.

    Raises whatever the client raises (``trading.exchange.errors``) before writing anything.
    """
    return instruments_apply(book=client.exchange_rules())


@transaction.atomic
def instruments_apply(*, book: RulesBook) -> InstrumentSyncResult:
    """Upsert :class:`Instrument` rows from an already-fetched :class:`RulesBook`."""
    existing = {row.symbol: row for row in Instrument.objects.select_for_update()}
    changes: list[InstrumentChange] = []
    unchanged = 0
    for symbol, rules in sorted(book.rules.items()):
        values = instrument_values(rules)
        row = existing.pop(symbol.pair_normalized, None)
        change = _upsert(symbol.pair_normalized, row, values)
        if change is None:
            unchanged += 1
        else:
            changes.append(change)
    skipped_symbols = {_skipped_symbol(label) for label in book.skipped}
    for row in existing.values():
        if row.status != DELISTED and row.symbol not in skipped_symbols:
            changes.append(_delist(row))
    return InstrumentSyncResult(
        changes=tuple(changes),
        unchanged=unchanged,
        skipped=dict(book.skipped),
        rules=tuple(rules for _, rules in sorted(book.rules.items())),
    )


def _upsert(
    symbol: str, row: Instrument | None, values: dict[str, object]
) -> InstrumentChange | None:
    if row is None:
        Instrument.objects.create(symbol=symbol, **values)
        return InstrumentChange(
            symbol, "created", {name: (None, _text(value)) for name, value in values.items()}
        )
    diff = {
        name: (_text(getattr(row, name)), _text(value))
        for name, value in values.items()
        if _text(getattr(row, name)) != _text(value)
    }
    if not diff:
        return None
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    return InstrumentChange(symbol, "updated", diff)


def _delist(row: Instrument) -> InstrumentChange:
    old = row.status
    row.status = DELISTED
    row.save(update_fields=["status", "updated_at"])
    return InstrumentChange(row.symbol, "delisted", {"status": (old, DELISTED)})


def _text(value: object) -> str:
    """Compare values as the database stores them: Decimals normalised, lists as text."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if value is None:
        return ""
    return str(value)


def _skipped_symbol(label: str) -> str:
    """Skipped entries are labelled ``BTC_TRY``, ``BTCTRY`` or ``symbols[3]``; keep such a
    symbol's row as it is (an unparseable entry is not a delisting)."""
    try:
        return parse_symbol(label).pair_normalized
    except SymbolError:
        return label
