"""A run's per-cycle series, stored compactly, and its downsampled curve.

A backtest keeps a stored row only for the cycles that decided something
(:meth:`replay.domain.cycle_log.CycleLog.row_seqs`); the equity curve of every cycle is kept
here, at full resolution and exactly, in a few compressed columns (``replay.BacktestSeries``):

* ``now_ms``: cycle times, epoch ms UTC, as little-endian int64 deltas (the first is the time
  itself), zlib-compressed;
* ``equity``, ``cash``: quote currency, one ``Decimal`` text per line, zlib-compressed;
* ``drawdown_pct``: percent below the running peak, quantized to 6 places (as the cycle rows),
  one text per line, zlib-compressed;
* ``modes``: one byte per cycle, an index into ``mode_names``, zlib-compressed.

A year of 1-minute cycles (525,600) takes a few MB. :func:`series_curve` reads it back
downsampled for charts and the API.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate, chain, compress, islice, repeat
from operator import add, is_not, mul, sub

SIX_PLACES = Decimal("0.000001")
LEVEL = 6  # zlib level: repeated values (flat stretches) compress to almost nothing
# Decimal texts: level 1 takes a sixth of level 6's time for about 6 % more bytes
TEXT_LEVEL = 1


class SeriesError(ValueError):
    """A stored series cannot be decoded (corrupt, or its columns disagree in length)."""


@dataclass(frozen=True, slots=True)
class EncodedSeries:
    """The compressed columns of :func:`series_encode` (see the module docstring)."""

    points: int
    now_ms: bytes
    equity: bytes
    cash: bytes
    drawdown_pct: bytes
    modes: bytes
    mode_names: list[str]


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """One point of a run's curves: cycle time (epoch ms, UTC), equity (quote currency) and
    drawdown (percent below the running peak, >= 0; the worst of the cycles this point stands
    for when the curve is downsampled)."""

    ts_ms: int
    equity: Decimal
    drawdown_pct: Decimal


def little_endian_deltas(times: Sequence[int]) -> bytes:
    """``times`` (epoch ms) as little-endian int64 deltas, the first being the first time
    itself: the ``now_ms`` column before compression. ``OverflowError`` past int64."""
    times = array("q", times)
    deltas = array("q", times[:1])
    deltas.extend(map(sub, islice(times, 1, None), times))
    if sys.byteorder == "big":
        deltas.byteswap()
    return deltas.tobytes()


def series_encode(
    now_ms: Sequence[int],
    equity: Sequence[Decimal],
    cash: Sequence[Decimal],
    drawdown_pct: Sequence[Decimal],
    modes: Sequence[str],
    *,
    time_deltas: Callable[[Sequence[int]], bytes] = little_endian_deltas,
) -> EncodedSeries:
    """Compress one value per cycle of each column (equal lengths, else ``ValueError``).

    ``time_deltas`` turns the times into the ``now_ms`` column's bytes, as
    :func:`little_endian_deltas` does (the default); the backtest services pass a NumPy one
    (``replay.numpy_series``), the same bytes in a fiftieth of the time."""
    points = len(now_ms)
    lengths = {len(equity), len(cash), len(drawdown_pct), len(modes)}
    if lengths != {points}:
        raise ValueError(f"series columns differ in length: {points} times, {sorted(lengths)}")
    names = sorted(set(modes))
    if len(names) > 255:
        raise ValueError(f"more than 255 risk modes: {len(names)}")
    code = {name: i for i, name in enumerate(names)}
    # zlib releases the GIL while it compresses: each column's text is compressed on a
    # thread while the next one is formatted (the costliest first)
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="series") as pool:
        drawdown_blob = pool.submit(_compressed, _text(drawdown_pct, SIX_PLACES))
        equity_blob = pool.submit(_compressed, _text(equity, None))
        cash_blob = pool.submit(_compressed, _text(cash, None))
        now_blob = zlib.compress(time_deltas(now_ms), LEVEL)
        # one mode all along (the usual run): every code is 0
        codes = bytes(points) if len(names) == 1 else bytes(map(code.__getitem__, modes))
        modes_blob = zlib.compress(codes, LEVEL)
        return EncodedSeries(
            points=points,
            now_ms=now_blob,
            equity=equity_blob.result(),
            cash=cash_blob.result(),
            drawdown_pct=drawdown_blob.result(),
            modes=modes_blob,
            mode_names=names,
        )


def _compressed(text: bytes) -> bytes:
    return zlib.compress(text, TEXT_LEVEL)


def _text(values: Sequence[Decimal], places: Decimal | None) -> bytes:
    """One text per value (quantized to ``places`` first, if given), newline-separated, in
    ASCII. A run of one repeated object (a quiet stretch repeats the cycle before it) is
    formatted once; all in C-level passes."""
    count = len(values)
    if count == 0:
        return b""
    # 1 where cycle k + 1 holds another object than cycle k: the runs start there
    starts = [0, *compress(range(1, count), map(is_not, islice(values, 1, None), values))]
    firsts = map(values.__getitem__, starts)
    if places is not None:
        firsts = map(Decimal.quantize, firsts, repeat(places))
    if len(starts) == count:  # no repeats
        return "\n".join(map(str, firsts)).encode("ascii")
    # each run's text and newline, times the run's length (one string per run, not per cycle)
    lengths = map(sub, chain(islice(starts, 1, None), (count,)), starts)
    lines = map(mul, map(add, map(str, firsts), repeat("\n")), lengths)
    return "".join(lines)[:-1].encode("ascii")


def series_times(blob: bytes, points: int) -> list[int]:
    """The cycle times (epoch ms) of an encoded ``now_ms`` column; :class:`SeriesError` if it
    does not hold ``points`` values."""
    try:
        deltas = array("q")
        deltas.frombytes(zlib.decompress(blob))
    except (zlib.error, ValueError) as exc:
        raise SeriesError(f"now_ms: {exc}") from None
    if sys.byteorder == "big":
        deltas.byteswap()
    if len(deltas) != points:
        raise SeriesError(f"now_ms holds {len(deltas)} values, expected {points}")
    return list(accumulate(deltas))


def series_texts(blob: bytes, points: int, column: str = "column") -> list[str]:
    """The decimal texts of an encoded ``equity``, ``cash`` or ``drawdown_pct`` column;
    :class:`SeriesError` (naming ``column``) if it does not hold ``points`` values."""
    try:
        raw = zlib.decompress(blob).decode("ascii")
    except (zlib.error, UnicodeDecodeError) as exc:
        raise SeriesError(f"{column}: {exc}") from None
    texts = raw.split("\n") if raw else []
    if len(texts) != points:
        raise SeriesError(f"{column} holds {len(texts)} values, expected {points}")
    return texts


def series_modes(blob: bytes, names: Sequence[str], points: int) -> list[str]:
    """The risk mode of every cycle; :class:`SeriesError` if corrupt or of the wrong length."""
    try:
        codes = zlib.decompress(blob)
        modes = [names[c] for c in codes]
    except (zlib.error, IndexError) as exc:
        raise SeriesError(f"modes: {exc}") from None
    if len(modes) != points:
        raise SeriesError(f"modes holds {len(modes)} values, expected {points}")
    return modes


def curve_indices(total: int, max_points: int) -> list[int]:
    """The cycles a curve of ``total`` cycles keeps when downsampled to at most ``max_points``
    (>= 2): all of them when they fit, else exactly ``max_points`` evenly spread, the first
    and the last included. ``ValueError`` for ``max_points < 2``."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    if total <= max_points:
        return list(range(total))
    last = total - 1
    return [(i * last) // (max_points - 1) for i in range(max_points)]


def series_curve(series: EncodedSeries, max_points: int) -> list[CurvePoint]:
    """Equity and drawdown per cycle, downsampled to at most ``max_points`` (>= 2) points
    (:func:`curve_indices`). Each kept point carries the worst drawdown of the cycles since
    the point before it, so a drawdown between two points is not lost. ``[]`` for an empty
    series; ``ValueError`` for ``max_points < 2``; :class:`SeriesError` for a corrupt one."""
    total = series.points
    keep = curve_indices(total, max_points)
    if total == 0:
        return []
    times = series_times(series.now_ms, total)
    equity = series_texts(series.equity, total, "equity")
    drawdowns = series_texts(series.drawdown_pct, total, "drawdown_pct")
    points = []
    previous = -1
    for k in keep:
        # 6-place values of at most a few thousand percent: their float order is exact
        drawdown = (
            drawdowns[k] if k == previous + 1 else max(drawdowns[previous + 1 : k + 1], key=float)
        )
        points.append(CurvePoint(times[k], Decimal(equity[k]), Decimal(drawdown)))
        previous = k
    return points
