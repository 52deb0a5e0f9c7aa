"""A per-symbol L2 order book kept from BTCTurk ``obdiff`` snapshots (431) and diffs (432).

Source: reference/btcturk_api.md section 6 ("Order book maintenance"). A 431 carries the full
book and its changeset number ``CS``; every 432 carries ``CS`` one higher than the previous
message and a list of level changes ``{CP, P, A}`` with ``CP`` 0 = updated, 1 = added,
3 = deleted.

**UNVERIFIED choice:** whether ``A`` of an update is the level's new absolute size or a delta
is not documented (issue #204, answer not captured). We follow hummingbot and treat ``A`` as
the new absolute size for updates and adds; a level whose new size is zero is removed. If
the exchange really sent deltas, books would drift; the crossed-book check below and the
feed's staleness checks are the safety net, and REST stays the source of truth.

Sync rules (the book refuses to guess):

- before the first snapshot, and after a changeset gap (``CS != last + 1``, including repeats
  and going backwards), the book is *out of sync*: diffs are refused (``apply_diff`` returns
  ``False``) until the next snapshot; the caller resubscribes to get one;
- a diff that leaves the book crossed (best bid >= best ask) is applied but marks the book
  out of sync, since a resting crossed book means we missed or misread something;
- deleting a level we do not hold is tolerated (users reported it, #206) and counted in
  :attr:`L2Book.unknown_deletes`.

Units: prices quote per base unit, quantities base units (``Decimal``), times epoch
milliseconds UTC. Pure Python; not thread-safe (the websocket feed guards it with a lock).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum, StrEnum

from trading.domain.reports import BookLevel, OrderBook
from trading.domain.symbols import Symbol

AWAITING_SNAPSHOT = "awaiting snapshot"


class BookSide(StrEnum):
    BID = "bid"
    ASK = "ask"


class LevelAction(IntEnum):
    """BTCTurk 432 ``CP`` codes (reference 6; the 2019 PDF mislabels the field ``PS``)."""

    UPDATE = 0
    ADD = 1
    DELETE = 3


@dataclass(frozen=True, slots=True)
class LevelChange:
    """One 432 row: set (update/add) or remove (delete) the level at ``price`` on ``side``.

    ``quantity`` is the level's new absolute size in base units (>= 0; see the module
    docstring for why absolute); it is ignored for deletes.
    """

    side: BookSide
    action: LevelAction
    price: Decimal
    quantity: Decimal


class L2Book:
    """Price levels of one symbol, keyed by price, with changeset tracking.

    ``changeset`` is the ``CS`` of the last applied message (``None`` before a snapshot),
    ``updated_ms`` when it was received (epoch ms, local receive time), ``in_sync`` whether
    diffs may be applied and ``sync_reason`` why not (``""`` when in sync).
    """

    def __init__(self, symbol: Symbol) -> None:
        self.symbol = symbol
        self.changeset: int | None = None
        self.updated_ms: int | None = None
        self.in_sync = False
        self.sync_reason = AWAITING_SNAPSHOT
        self.unknown_deletes = 0
        self.snapshots = 0
        self.diffs = 0
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}

    def apply_snapshot(
        self,
        changeset: int,
        bids: Iterable[BookLevel],
        asks: Iterable[BookLevel],
        received_ms: int,
    ) -> None:
        """Replace the whole book with a 431 snapshot and mark it in sync.

        Levels with a zero quantity are skipped; a repeated price keeps the last size. The
        snapshot is the exchange's word: it is not refused even if crossed (see :attr:`crossed`).
        """
        self._bids = {level.price: level.quantity for level in bids if level.quantity > 0}
        self._asks = {level.price: level.quantity for level in asks if level.quantity > 0}
        self.changeset = changeset
        self.updated_ms = received_ms
        self.in_sync = True
        self.sync_reason = ""
        self.snapshots += 1

    def apply_diff(self, changeset: int, rows: Iterable[LevelChange], received_ms: int) -> bool:
        """Apply one 432 diff; return ``True`` if applied, ``False`` if refused.

        Refused (book untouched) when the book is out of sync or ``changeset`` is not exactly
        ``self.changeset + 1``; a gap also marks the book out of sync. Applying may itself mark
        the book out of sync when the result is crossed.
        """
        if not self.in_sync or self.changeset is None:
            return False
        expected = self.changeset + 1
        if changeset != expected:
            self.mark_out_of_sync(f"changeset gap: expected {expected}, got {changeset}")
            return False
        for row in rows:
            self._apply_row(row)
        self.changeset = changeset
        self.updated_ms = received_ms
        self.diffs += 1
        if self.crossed:
            bid, ask = self._best(self._bids, best_high=True), self._best(self._asks)
            self.mark_out_of_sync(f"crossed after changeset {changeset}: bid {bid} >= ask {ask}")
        return True

    def _apply_row(self, row: LevelChange) -> None:
        levels = self._bids if row.side is BookSide.BID else self._asks
        if row.action is LevelAction.DELETE:
            if levels.pop(row.price, None) is None:
                self.unknown_deletes += 1
        elif row.quantity > 0:
            levels[row.price] = row.quantity
        else:
            levels.pop(row.price, None)

    def mark_out_of_sync(self, reason: str) -> None:
        """Refuse diffs until the next snapshot (after a gap, a reconnect or a bad frame)."""
        self.in_sync = False
        self.sync_reason = reason

    @property
    def crossed(self) -> bool:
        """True when both sides are non-empty and the best bid is >= the best ask."""
        if not self._bids or not self._asks:
            return False
        return self._best(self._bids, best_high=True) >= self._best(self._asks)

    @staticmethod
    def _best(levels: dict[Decimal, Decimal], *, best_high: bool = False) -> Decimal:
        return max(levels) if best_high else min(levels)

    def top(self, n: int = 10) -> OrderBook:
        """The best ``n`` levels per side: bids highest first, asks lowest first.

        ``ts_ms`` is :attr:`updated_ms` (0 before any snapshot). The levels are returned
        whatever :attr:`in_sync` says: callers must check it (the feed does).
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        bids = heapq.nlargest(n, self._bids)
        asks = heapq.nsmallest(n, self._asks)
        return OrderBook(
            symbol=self.symbol,
            ts_ms=self.updated_ms or 0,
            bids=tuple(BookLevel(price, self._bids[price]) for price in bids),
            asks=tuple(BookLevel(price, self._asks[price]) for price in asks),
        )

    def levels(self, side: BookSide) -> dict[Decimal, Decimal]:
        """A copy of one side as ``{price: quantity}``."""
        return dict(self._bids if side is BookSide.BID else self._asks)

    def age_ms(self, now_ms: int) -> int | None:
        """Milliseconds since the last applied snapshot or diff, ``None`` before any.

        A quiet but healthy book ages too (no diffs when nothing changes): pick staleness
        limits with the symbol's activity in mind.
        """
        if self.updated_ms is None:
            return None
        return max(0, now_ms - self.updated_ms)
