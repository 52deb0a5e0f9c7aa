"""Whole-column operations of dataset loading, behind one small interface.

Loading a year of 1-minute bars for ten pairs touches 5 million rows several times: parsing
the CSV, checking every candle, checking the spacing of open times, and building the float
column of closes. :class:`ColumnKernels` names those operations; :data:`PYTHON_KERNELS` does
them with the standard library (C-level ``map``/``array`` passes), as the domain must. A
faster implementation over Apache Arrow lives outside the domain
(``replay.arrow_columns.ARROW_KERNELS``) and is passed in by the services; every kernel must
give exactly what the Python one gives (``tests/replay/test_dataset_fast_parse.py``).
"""

from __future__ import annotations

from array import array
from itertools import repeat
from operator import gt, lt, truediv
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from replay.domain.dataset_csv import Table


class ColumnKernels(Protocol):
    """Column operations of :func:`replay.domain.dataset.load_dataset`."""

    def parse_columns(
        self, rel: str, data: bytes, groups: tuple[tuple[str, ...], ...]
    ) -> Table | None:
        """The whole file ``rel`` (its bytes) parsed at once into the
        :class:`~replay.domain.dataset_csv.Table` the row-by-row parse would give (each
        group's columns at their common scale), or ``None`` to leave the file to that parse
        (anything irregular, which it reports). Never reports an error itself."""
        ...

    def candles_suspect(self, o: array, h: array, lo: array, c: array, v: array) -> bool:
        """Whether some row may break a candle rule (a price <= 0, low above open, close or
        high, open or close above high, a negative volume)."""
        ...

    def evenly_spaced(self, ts: array, step: int) -> bool:
        """Whether every value of ``ts`` (at least one) is ``step`` after the one before."""
        ...

    def floats(self, values: array, scale: int) -> array:
        """``array("d")`` of ``values[i] / 10**scale`` (Python's true division)."""
        ...

    def largest_abs(self, values: array) -> int:
        """The largest ``abs`` of ``values`` (``array("q")``); 0 when empty."""
        ...


class PythonKernels:
    """:class:`ColumnKernels` with the standard library only."""

    def parse_columns(
        self, rel: str, data: bytes, groups: tuple[tuple[str, ...], ...]
    ) -> Table | None:
        return None  # the row-by-row parse takes every file

    def candles_suspect(self, o: array, h: array, lo: array, c: array, v: array) -> bool:
        return (
            min(lo) <= 0
            or min(v) < 0
            or any(map(lt, h, lo))
            or any(map(lt, o, lo))
            or any(map(gt, o, h))
            or any(map(lt, c, lo))
            or any(map(gt, c, h))
        )

    def evenly_spaced(self, ts: array, step: int) -> bool:
        first = ts[0]
        if step <= 0 or ts[-1] != first + (len(ts) - 1) * step:
            return False
        return ts == array("q", range(first, ts[-1] + 1, step))

    def floats(self, values: array, scale: int) -> array:
        return array("d", map(truediv, values, repeat(10**scale)))

    def largest_abs(self, values: array) -> int:
        return max(-min(values), max(values)) if values else 0


PYTHON_KERNELS = PythonKernels()
