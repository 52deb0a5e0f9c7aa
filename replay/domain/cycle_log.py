"""Every cycle of a backtest, kept compactly: a full-resolution series plus the decisions.

A year of 1-minute cycles is 525,600 cycles, most of them quiet (nothing to decide). Keeping a
:class:`CycleRecord` object for each would make memory grow with quiet cycles. A
:class:`CycleLog` keeps instead:

* per cycle, in columns: the cycle time (epoch ms), equity and cash (quote currency, exact
  ``Decimal``), drawdown (percent below the running peak), risk mode and its reasons, and
  whether the planner ran (steps 5-9) or the cycle was quiet (fast path). Repeated values are
  the same objects, so a flat stretch costs a few pointers a cycle;
* the whole :class:`CycleRecord` of each cycle that decided something: an intent, order,
  cancel, denial or fill;
* the planner's universe where it changed.

It is a ``Sequence[CycleRecord]``: ``log[k]`` rebuilds cycle ``k`` (``seq == k``) exactly as
the engine would have recorded it (``universe`` ``None`` on a quiet cycle). :meth:`rows` yields
the cycles worth a stored row (README "Backtest results"): the first, every deciding cycle, and
every cycle whose risk mode, mode reasons or universe changed. Those rows and the series
together give back every cycle.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from decimal import Decimal
from operator import ne, or_
from typing import NamedTuple, overload

from trading.domain.intents import Intent
from trading.domain.orders import OrderRequest
from trading.domain.planner import Cancel
from trading.domain.risk import Denial
from trading.domain.symbols import Symbol

EMPTY: tuple = ()


class CycleRecord(NamedTuple):
    """What one cycle decided and where equity stood (drawdown in percent).

    ``universe`` is ``None`` on a quiet cycle (fast path: no resting order, no new fill, no
    strategy signal), where steps 5-9 were skipped because they could not produce anything.
    """

    seq: int
    now_ms: int
    mode: str
    mode_reasons: tuple[str, ...]
    equity: Decimal
    cash: Decimal
    drawdown_pct: Decimal
    universe: tuple[Symbol, ...] | None
    intents: tuple[Intent, ...]
    orders: tuple[OrderRequest, ...]
    cancels: tuple[Cancel, ...]
    denials: tuple[Denial, ...]
    fills: int
    events: tuple[str, ...] = ()  # governed universe and adaptation events, as text

    @property
    def decided(self) -> bool:
        """True when the cycle produced an intent, order, cancel, denial, fill or a governed
        universe or parameter event."""
        return bool(
            self.intents or self.orders or self.cancels or self.denials or self.fills
            or self.events
        )  # fmt: skip


class CycleLog(Sequence[CycleRecord]):
    """All cycles of a run in order (``seq`` 0, 1, ...); see the module docstring.

    Columns (public, read-only by convention): ``now_ms`` (``array('q')``), ``equity``,
    ``cash``, ``drawdown_pct`` (lists of ``Decimal``), ``equity_floats`` (``array('d')``,
    ``float`` of each equity, for return statistics), ``modes`` (list of mode values),
    ``mode_reasons`` (list of tuples) and ``planned`` (``bytearray``, 1 where the planner ran).
    """

    __slots__ = (
        "now_ms", "equity", "equity_floats", "cash", "drawdown_pct", "modes", "mode_reasons",
        "planned", "decisions", "_universe_seqs", "_universes",
    )  # fmt: skip

    def __init__(self) -> None:
        self.now_ms = array("q")
        self.equity: list[Decimal] = []
        self.equity_floats = array("d")
        self.cash: list[Decimal] = []
        self.drawdown_pct: list[Decimal] = []
        self.modes: list[str] = []
        self.mode_reasons: list[tuple[str, ...]] = []
        self.planned = bytearray()
        self.decisions: dict[int, CycleRecord] = {}
        self._universe_seqs: list[int] = []
        self._universes: list[tuple[Symbol, ...]] = []

    def append(self, record: CycleRecord) -> None:
        """Add the next cycle (``record.seq`` must equal ``len(self)``); ``ValueError`` if not."""
        if record.seq != len(self.now_ms):
            raise ValueError(f"cycle {record.seq} appended after {len(self.now_ms)} cycles")
        self._point(record.now_ms, record.mode, record.mode_reasons, record.equity, record.cash)
        self.drawdown_pct.append(record.drawdown_pct)
        if record.universe is None:
            self.planned.append(0)
        else:
            self.planned.append(1)
            if not self._universes or self._universes[-1] != record.universe:
                self._universe_seqs.append(record.seq)
                self._universes.append(record.universe)
        if record.decided:
            self.decisions[record.seq] = record

    def extend_quiet(
        self,
        now_ms: Sequence[int],
        mode: str,
        mode_reasons: Sequence[tuple[str, ...]],
        equity: Sequence[Decimal],
        cash: Decimal,
        drawdown_pct: Sequence[Decimal],
        equity_floats: Sequence[float] | None = None,
    ) -> None:
        """Add quiet cycles without fills: one per ``now_ms``, all in ``mode`` with ``cash``;
        the other sequences give each cycle's value (equal lengths; ``equity_floats``, if
        given, must be ``float`` of each equity, else they are computed)."""
        count = len(now_ms)
        self.now_ms.extend(now_ms)
        self.modes.extend([mode] * count)
        self.mode_reasons.extend(mode_reasons)
        self.equity.extend(equity)
        self.equity_floats.extend(map(float, equity) if equity_floats is None else equity_floats)
        self.cash.extend([cash] * count)
        self.drawdown_pct.extend(drawdown_pct)
        self.planned.extend(bytes(count))

    def repeat_last(self, now_ms: Sequence[int]) -> None:
        """Add one quiet cycle per ``now_ms`` identical to the last cycle except for its time
        (a flat book between signals; the repeats have no fills). The last cycle must be
        quiet (``ValueError`` otherwise): a planned cycle's decisions cannot repeat."""
        last = len(self.now_ms) - 1
        if last < 0 or self.planned[last]:
            raise ValueError("only a quiet cycle can be repeated")
        count = len(now_ms)
        self.now_ms.extend(now_ms)
        for column in (self.modes, self.mode_reasons, self.equity, self.cash, self.drawdown_pct):
            column.extend([column[last]] * count)
        self.equity_floats.extend(array("d", self.equity_floats[last : last + 1]) * count)
        self.planned.extend(bytes(count))

    def _point(
        self, now_ms: int, mode: str, reasons: tuple[str, ...], equity: Decimal, cash: Decimal
    ) -> None:
        self.now_ms.append(now_ms)
        self.modes.append(mode)
        self.mode_reasons.append(reasons)
        self.equity.append(equity)
        self.equity_floats.append(float(equity))
        self.cash.append(cash)

    def __len__(self) -> int:
        return len(self.now_ms)

    @overload
    def __getitem__(self, index: int) -> CycleRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[CycleRecord]: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._record(k) for k in range(*index.indices(len(self)))]
        size = len(self)
        k = index + size if index < 0 else index
        if not 0 <= k < size:
            raise IndexError(f"cycle {index} out of range ({size} cycles)")
        return self._record(k)

    def __iter__(self) -> Iterator[CycleRecord]:
        for k in range(len(self)):
            yield self._record(k)

    def _record(self, k: int) -> CycleRecord:
        record = self.decisions.get(k)
        if record is not None:
            return record
        return CycleRecord(
            seq=k,
            now_ms=self.now_ms[k],
            mode=self.modes[k],
            mode_reasons=self.mode_reasons[k],
            equity=self.equity[k],
            cash=self.cash[k],
            drawdown_pct=self.drawdown_pct[k],
            universe=self.universe_at(k) if self.planned[k] else None,
            intents=EMPTY,
            orders=EMPTY,
            cancels=EMPTY,
            denials=EMPTY,
            fills=0,
        )

    def universe_at(self, k: int) -> tuple[Symbol, ...] | None:
        """The universe of the last planned cycle at or before ``k`` (``None``: none yet)."""
        i = bisect_right(self._universe_seqs, k)
        return self._universes[i - 1] if i else None

    def row_seqs(self) -> list[int]:
        """The cycles worth a stored row, in order: cycle 0, every deciding cycle, and every
        cycle whose mode, mode reasons or (planned) universe differs from the cycle before."""
        seqs = set(self.decisions)
        seqs.update(self._universe_seqs)
        if self.now_ms:
            seqs.add(0)
        modes, reasons = self.modes, self.mode_reasons
        # C-level passes: 1 where cycle k + 1 differs from cycle k
        changed = bytes(
            map(or_, map(ne, modes[1:], modes), map(ne, reasons[1:], reasons))
        )  # fmt: skip
        k = changed.find(1)
        while k != -1:
            seqs.add(k + 1)
            k = changed.find(1, k + 1)
        return sorted(seqs)

    def rows(self) -> Iterator[CycleRecord]:
        """The records of :meth:`row_seqs`."""
        for k in self.row_seqs():
            yield self._record(k)

    @property
    def decided_count(self) -> int:
        """How many cycles decided something."""
        return len(self.decisions)
