"""Finding the next bar whose close leaves a band, for exits that depend on the position.

Some strategies exit at a price set by the average cost (``Strategy.exit_band``), which a
per-series signal mask cannot know. While a position is unchanged the band is fixed, so the
backtest engine can skip every bar whose close stays strictly inside it. :class:`BandScan`
answers the two questions the engine asks of a mask, with the same meaning: ``scan[i]`` (may
the strategy act at bar ``i``) and ``scan.find(1, start)`` (the first such bar from
``start``, or -1). Closes are scanned in blocks of :data:`BLOCK` bars through each block's
highest and lowest close (:class:`BandBlocks`, built once per series), all in C-level passes.
"""

from __future__ import annotations

from array import array
from itertools import compress, count, islice, repeat
from operator import ge, le, or_

BLOCK = 64


class BandBlocks:
    """Per block of :data:`BLOCK` closes, the highest and the lowest (floats)."""

    __slots__ = ("close", "high", "low")

    def __init__(self, close: array) -> None:
        self.close = close
        starts = range(0, len(close), BLOCK)
        self.high = array("d", (max(close[i : i + BLOCK]) for i in starts))
        self.low = array("d", (min(close[i : i + BLOCK]) for i in starts))


class BandScan:
    """Bars whose close is ``>= take`` or ``<= dust`` (floats already widened by the caller)."""

    __slots__ = ("blocks", "take", "dust")

    def __init__(self, blocks: BandBlocks, take: float, dust: float) -> None:
        self.blocks, self.take, self.dust = blocks, take, dust

    def __getitem__(self, i: int) -> int:
        close = self.blocks.close[i]
        return 1 if close >= self.take or close <= self.dust else 0

    def find(self, value: int, start: int) -> int:
        """The first bar ``>= start`` that may act (``value`` must be 1, as ``bytes.find``),
        or -1."""
        if value != 1:
            raise ValueError("a band scan finds acting bars only (value 1)")
        blocks = self.blocks
        first_block = start // BLOCK
        end = min(len(blocks.close), (first_block + 1) * BLOCK)
        hit = self._first(blocks.close, start, end)
        if hit != -1:
            return hit
        outside = map(
            or_,
            map(ge, islice(blocks.high, first_block + 1, None), repeat(self.take)),
            map(le, islice(blocks.low, first_block + 1, None), repeat(self.dust)),
        )
        block = next(compress(count(first_block + 1), outside), None)
        if block is None:
            return -1
        start = block * BLOCK
        return self._first(blocks.close, start, min(len(blocks.close), start + BLOCK))

    def _first(self, close: array, start: int, end: int) -> int:
        if start >= end:
            return -1
        window = close[start:end]
        acting = map(or_, map(ge, window, repeat(self.take)), map(le, window, repeat(self.dust)))
        return next(compress(count(start), acting), -1)
