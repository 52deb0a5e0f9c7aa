"""Append-only ledger entries: each fill moves balances of its base, quote and fee assets.

A fill becomes two ``TRADE`` entries (base in, quote out for a buy; the reverse for a sell) and
at most one ``FEE`` entry (the fee out of its own asset, unconverted). Entry ids derive from the
trade id, so recording the same fill twice yields the same ids and a duplicate is detectable.
Balances are the opening balances plus the sum of entries per asset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ledger.domain.fills import Fill
from ledger.domain.positions import LedgerIntegrityError
from trading.domain.orders import Side


class EntryKind(StrEnum):
    TRADE = "TRADE"
    FEE = "FEE"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One balance movement.

    ``entry_id`` ``<trade id>:base|quote|fee``; ``ts_ms`` epoch milliseconds UTC of the fill;
    ``asset`` upper-case code; ``amount`` signed units of ``asset`` (positive = received).
    """

    entry_id: str
    trade_id: str
    ts_ms: int
    asset: str
    amount: Decimal
    kind: EntryKind


def ledger_entries_for_fill(fill: Fill) -> tuple[LedgerEntry, ...]:
    """Entries for one fill, in order base, quote, fee (the fee entry only when fee > 0).

    BUY: base ``+qty``, quote ``-price*qty``; SELL: base ``-qty``, quote ``+price*qty``;
    fee: ``-fee`` in ``fee_asset``.
    """
    sign = 1 if fill.side is Side.BUY else -1
    tid, ts = fill.trade_id, fill.ts_ms
    entries = [
        LedgerEntry(
            f"{tid}:base", tid, ts, fill.symbol.base, sign * fill.quantity, EntryKind.TRADE
        ),
        LedgerEntry(
            f"{tid}:quote", tid, ts, fill.symbol.quote, -sign * fill.notional, EntryKind.TRADE
        ),
    ]
    if fill.fee:
        entries.append(
            LedgerEntry(f"{tid}:fee", tid, ts, fill.fee_asset.upper(), -fill.fee, EntryKind.FEE)
        )
    return tuple(entries)


def balances_from_entries(
    entries: Iterable[LedgerEntry], opening: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """Balances per asset: ``opening`` (asset -> units) plus the sum of ``entries``.

    Returns a new dict with every asset seen in either input. Raises
    :class:`LedgerIntegrityError` naming the entry id when an entry id repeats, since counting
    a fill twice is exactly what an append-only ledger must not do.
    """
    balances = dict(opening)
    seen: set[str] = set()
    for entry in entries:
        if entry.entry_id in seen:
            raise LedgerIntegrityError(f"ledger entry {entry.entry_id} appears twice")
        seen.add(entry.entry_id)
        balances[entry.asset] = balances.get(entry.asset, Decimal(0)) + entry.amount
    return balances
