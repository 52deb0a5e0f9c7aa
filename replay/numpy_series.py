"""The ``now_ms`` column of a run's series over NumPy (``replay.domain.series``).

:func:`little_endian_deltas` gives the bytes of
:func:`replay.domain.series.little_endian_deltas` in one array pass: about a millisecond for a
year of 1-minute cycles instead of forty. The backtest services pass it to ``series_encode``.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np


def little_endian_deltas(times: Sequence[int]) -> bytes:
    """``times`` (epoch ms; an ``array('q')`` is read in place) as little-endian int64 deltas,
    the first being the first time itself. ``OverflowError`` for a time past int64. The same
    bytes as the standard-library version for any times whose differences fit in int64
    (every pair of epoch-ms times does; NumPy would wrap a larger one where the standard
    library raises)."""
    if isinstance(times, array) and times.typecode == "q":
        column = np.frombuffer(times, dtype=np.int64)
    else:
        column = np.array(times, dtype=np.int64)
    return np.diff(column, prepend=np.int64(0)).astype("<i8", copy=False).tobytes()
