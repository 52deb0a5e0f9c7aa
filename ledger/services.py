"""Ledger writes: recording fills and what is derived from them (positions, running balances)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

from django.db import transaction

from ledger.domain import positions as domain_positions
from ledger.domain.entries import ledger_entries_for_fill
from ledger.domain.fills import Fill
from ledger.models import LedgerBalance, LedgerEntry, LedgerFill, Position

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _utc(ts_ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ts_ms)


def _position_locked(*, account: str, fill: Fill) -> Position:
    row, _ = Position.objects.get_or_create(account=account, symbol=fill.symbol.pair_normalized)
    return Position.objects.select_for_update().get(pk=row.pk)


def _domain_position(row: Position, fill: Fill) -> domain_positions.Position:
    return domain_positions.Position(
        symbol=fill.symbol,
        quantity=row.quantity,
        average_cost=row.average_cost,
        realized_pnl=row.realized_pnl,
        fees_paid=row.fees_paid,
        cost_basis=row.cost_basis,
    )


def _balances_add(*, account: str, amounts: Mapping[str, Decimal]) -> None:
    """Add ``amounts`` (asset -> signed units) to the account's running balances.

    Each row is locked (``select_for_update``, assets in sorted order so concurrent fills of
    other symbols sharing an asset never deadlock) and summed in Python over exact Decimals
    (a database ``amount + x`` would be floating point on SQLite)."""
    for asset in sorted(amounts):
        row, _ = LedgerBalance.objects.get_or_create(account=account, asset=asset)
        row = LedgerBalance.objects.select_for_update().get(pk=row.pk)
        row.amount = row.amount + amounts[asset]
        row.save(update_fields=["amount", "updated_at"])


def _fill_create(*, account: str, fill: Fill, fee_quote: Decimal) -> LedgerFill:
    ledger_fill = LedgerFill.objects.create(
        account=account,
        trade_id=fill.trade_id,
        client_order_id=fill.client_order_id,
        symbol=fill.symbol.pair_normalized,
        side=fill.side.value,
        price=fill.price,
        quantity=fill.quantity,
        fee=fill.fee,
        fee_asset=fill.fee_asset.upper(),
        fee_quote=fee_quote,
        liquidity=fill.liquidity.value,
        ts=_utc(fill.ts_ms),
    )
    entries = ledger_entries_for_fill(fill)
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            fill=ledger_fill,
            entry_id=entry.entry_id,
            asset=entry.asset,
            amount=entry.amount,
            kind=entry.kind.value,
            ts=ledger_fill.ts,
        )
        for entry in entries
    )
    amounts: dict[str, Decimal] = {}
    for entry in entries:
        amounts[entry.asset] = amounts.get(entry.asset, Decimal(0)) + entry.amount
    _balances_add(account=account, amounts=amounts)
    return ledger_fill


@transaction.atomic
def fill_record(
    *, account: str, fill: Fill, rates: Mapping[str, Decimal] | None = None
) -> tuple[LedgerFill, bool]:
    """Record one trade-level fill for ``account``: the fill row, its entries, the position
    and the running balance of each asset the entries move (:class:`LedgerBalance`).

    Idempotent on ``(account, trade_id)``: a fill already recorded returns ``(existing row,
    False)`` and changes nothing; otherwise returns ``(new row, True)``. The position row is
    locked (``select_for_update``) before the duplicate check, so concurrent calls for one
    symbol serialize and never double-apply. ``rates`` maps an upper-case asset to its quote
    price at fill time, needed for fees in a third asset.

    Raises ``LedgerIntegrityError`` (oversell, invalid amounts) or ``FeeConversionError``
    (missing rate) from :mod:`ledger.domain.positions`; the transaction then writes nothing.
    """
    row = _position_locked(account=account, fill=fill)
    existing = LedgerFill.objects.filter(account=account, trade_id=fill.trade_id).first()
    if existing is not None:
        return existing, False
    fee_quote = domain_positions.fill_fee_in_quote(fill, rates=rates)
    updated = domain_positions.position_apply_fill(
        _domain_position(row, fill), fill, fee_in_quote=fee_quote
    )
    ledger_fill = _fill_create(account=account, fill=fill, fee_quote=fee_quote)
    row.quantity = updated.quantity
    row.average_cost = updated.average_cost
    row.cost_basis = updated.cost_basis
    row.realized_pnl = updated.realized_pnl
    row.fees_paid = updated.fees_paid
    row.save()
    return ledger_fill, True
