"""The dataset column kernels the services use (``replay.domain.columns.ColumnKernels``).

* Whole-column checks and the float column of closes over NumPy arrays that share the
  ``array("q")`` memory: a backtest loading a cached dataset needs only these, and NumPy has
  no start-up cost beyond its import (Arrow's compute functions take about 0.4 s on first use).
* Parsing over Apache Arrow's CSV reader (``replay.arrow_columns``), imported on the first
  parse, so that only processes that import a dataset load it.

Every kernel gives exactly what :data:`~replay.domain.columns.PYTHON_KERNELS` gives
(``tests/replay/test_dataset_fast_parse.py``): the same integer comparisons, and for floats
one correctly rounded IEEE division of exactly converted integers, as Python's ``int / int``.
"""

from __future__ import annotations

from array import array

import numpy as np

from replay.domain.columns import PYTHON_KERNELS
from replay.domain.dataset_csv import Table

_EXACT = 2**53  # integers below this convert to float exactly


def _view(values: array) -> np.ndarray:
    return np.frombuffer(values, dtype=np.int64)  # native byte order, as array("q")


class FastKernels:
    """NumPy checks and floats, Arrow parsing (module docstring)."""

    def parse_columns(
        self, rel: str, data: bytes, groups: tuple[tuple[str, ...], ...]
    ) -> Table | None:
        from replay.arrow_columns import ARROW_KERNELS  # pyarrow only where files are parsed

        return ARROW_KERNELS.parse_columns(rel, data, groups)

    def candles_suspect(self, o: array, h: array, lo: array, c: array, v: array) -> bool:
        if not len(lo):
            return PYTHON_KERNELS.candles_suspect(o, h, lo, c, v)
        o, h, lo, c, v = map(_view, (o, h, lo, c, v))
        return bool(
            lo.min() <= 0
            or v.min() < 0
            or (h < lo).any()
            or (o < lo).any()
            or (o > h).any()
            or (c < lo).any()
            or (c > h).any()
        )

    def evenly_spaced(self, ts: array, step: int) -> bool:
        first = ts[0]
        if step <= 0 or ts[-1] != first + (len(ts) - 1) * step:
            return False
        return bool((np.diff(_view(ts)) == step).all())

    def floats(self, values: array, scale: int) -> array:
        if len(values) and scale <= 22:  # 10^scale is exact in a float
            view = _view(values)
            if view.min() > -_EXACT and view.max() < _EXACT:
                out = array("d")
                out.frombytes((view.astype(np.float64) / float(10**scale)).tobytes())
                return out
        return PYTHON_KERNELS.floats(values, scale)

    def largest_abs(self, values: array) -> int:
        if not len(values):
            return 0
        view = _view(values)
        return max(-int(view.min()), int(view.max()))  # Python ints: -(-2**63) fits


FAST_KERNELS = FastKernels()
