"""Ledger reads."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from django.db.models import QuerySet

from ledger.domain.portfolio import Portfolio
from ledger.domain.positions import Position as DomainPosition
from ledger.models import LedgerBalance, LedgerEntry, Position
from trading.domain.decimals import decimal_trim
from trading.domain.symbols import Symbol, parse_symbol

ZERO = Decimal(0)


def position_list(*, account: str) -> QuerySet[Position]:
    """Positions of ``account`` ordered by symbol, flat ones included (they carry realized PnL).

    Quantities in base units, average cost quote per base unit, PnL and fees in quote.
    """
    return Position.objects.filter(account=account).order_by("symbol")


def ledger_balances(*, account: str, opening: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Balance per asset (upper-case) that the ledger holds for ``account``: ``opening``
    (asset -> units) plus the entries of its fills, read from the running
    :class:`~ledger.models.LedgerBalance` rows (one query, independent of the history's
    length; equal to :func:`ledger_balances_summed`). Exact Decimals, sorted by asset."""
    totals = {asset.upper(): amount for asset, amount in opening.items()}
    rows = LedgerBalance.objects.filter(account=account).values_list("asset", "amount")
    for asset, amount in rows:
        totals[asset] = totals.get(asset, ZERO) + decimal_trim(amount)
    return {asset: decimal_trim(amount) for asset, amount in sorted(totals.items())}


def ledger_balances_summed(*, account: str, opening: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """As :func:`ledger_balances`, summed over every ``LedgerEntry`` of the account (reads the
    whole history: audits and tests; cycles use the running balances)."""
    totals = {asset.upper(): amount for asset, amount in opening.items()}
    entries = LedgerEntry.objects.filter(fill__account=account).values_list("asset", "amount")
    for asset, amount in entries.iterator(chunk_size=2000):
        totals[asset] = totals.get(asset, ZERO) + decimal_trim(amount)
    return {asset: decimal_trim(amount) for asset, amount in sorted(totals.items())}


def portfolio_load(*, account: str, quote_asset: str, cash: Decimal) -> Portfolio:
    """The account's average-cost :class:`~ledger.domain.portfolio.Portfolio` from its
    ``Position`` rows (exact: trailing zeros of the stored decimals are dropped), with ``cash``
    quote units. Symbols of another quote asset are left out."""
    positions: dict[Symbol, DomainPosition] = {}
    realized = fees = ZERO
    for row in Position.objects.filter(account=account).order_by("symbol"):
        symbol = parse_symbol(row.symbol)
        if symbol.quote != quote_asset:
            continue
        position = DomainPosition(
            symbol=symbol,
            quantity=decimal_trim(row.quantity),
            average_cost=decimal_trim(row.average_cost),
            realized_pnl=decimal_trim(row.realized_pnl),
            fees_paid=decimal_trim(row.fees_paid),
            cost_basis=decimal_trim(row.cost_basis),
        )
        positions[symbol] = position
        realized += position.realized_pnl
        fees += position.fees_paid
    return Portfolio(
        quote_asset=quote_asset,
        cash=cash,
        positions=MappingProxyType(positions),
        realized_pnl=realized,
        fees_paid=fees,
    )
