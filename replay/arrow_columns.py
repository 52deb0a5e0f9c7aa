"""Dataset column kernels over Apache Arrow (``replay.domain.columns.ColumnKernels``).

The domain loads datasets with the standard library only; the services pass
:data:`ARROW_KERNELS` so that a year of 1-minute bars for ten pairs imports in seconds:
Arrow's multi-threaded CSV reader, whole-column compute kernels (which release the GIL, so
files are read in parallel), and zero-copy views of ``array("q")`` columns. Every kernel
gives exactly what :data:`~replay.domain.columns.PYTHON_KERNELS` gives, or declines (``None``
from :meth:`ArrowKernels.parse_columns`) and leaves the file to the row-by-row parse, which
reports the problems (``tests/replay/test_dataset_fast_parse.py``). On a big-endian machine
every kernel falls back to the Python one.
"""

from __future__ import annotations

import sys
from array import array

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from replay.domain.columns import PYTHON_KERNELS
from replay.domain.dataset_csv import BOM, MAX_DECIMALS, MAX_FIELD_CHARS, POW10, Table
from trading.domain.bounds import MAX_INSTANT_MS, MIN_INSTANT_MS

LITTLE = sys.byteorder == "little"


class ArrowKernels:
    """:class:`~replay.domain.columns.ColumnKernels` over Arrow."""

    def parse_columns(
        self, rel: str, data: bytes, groups: tuple[tuple[str, ...], ...]
    ) -> Table | None:
        return _parse_columns(rel, data, groups) if LITTLE else None

    def candles_suspect(self, o: array, h: array, lo: array, c: array, v: array) -> bool:
        if not LITTLE:
            return PYTHON_KERNELS.candles_suspect(o, h, lo, c, v)
        o, h, lo, c, v = map(arrow_view, (o, h, lo, c, v))
        if pc.min(lo).as_py() <= 0 or pc.min(v).as_py() < 0:
            return True
        pairs = ((h, lo), (o, lo), (h, o), (c, lo), (h, c))  # each (upper, lower)
        return any(pc.any(pc.less(upper, lower)).as_py() for upper, lower in pairs)

    def evenly_spaced(self, ts: array, step: int) -> bool:
        first = ts[0]
        if step <= 0 or ts[-1] != first + (len(ts) - 1) * step:
            return False
        if not LITTLE or len(ts) < 2:
            return PYTHON_KERNELS.evenly_spaced(ts, step)
        view = arrow_view(ts)
        return bool(pc.all(pc.equal(pc.subtract(view[1:], view[:-1]), step)).as_py())

    def floats(self, values: array, scale: int) -> array:
        """One kernel when every value is below 2^53: int to float is then exact, and one
        correctly rounded division gives Python's correctly rounded quotient."""
        if LITTLE and len(values) and scale <= 22:  # 10^scale is exact in a float
            view = arrow_view(values)
            bounds = pc.min_max(view)
            if bounds["min"].as_py() > -(2**53) and bounds["max"].as_py() < 2**53:
                quotient = pc.divide(pc.cast(view, pa.float64()), float(10**scale))
                out = array("d")
                out.frombytes(quotient.buffers()[1])
                return out[quotient.offset : quotient.offset + len(quotient)]
        return PYTHON_KERNELS.floats(values, scale)

    def largest_abs(self, values: array) -> int:
        if LITTLE and len(values):
            bounds = pc.min_max(arrow_view(values))
            return max(-bounds["min"].as_py(), bounds["max"].as_py())  # Python ints
        return PYTHON_KERNELS.largest_abs(values)


def arrow_view(values: array) -> pa.Array:
    """An ``array("q")`` as an Arrow int64 array sharing its memory (no copy), for
    whole-column kernels; ``values`` must not change while the view is used."""
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _parse_columns(rel: str, data: bytes, groups: tuple[tuple[str, ...], ...]) -> Table | None:
    """The fast parse of :func:`parse_table`: Apache Arrow's multi-threaded CSV reader and
    whole-column kernels, or ``None`` when the file is not regular enough for it (it never
    reports an error itself: the row-by-row parse does). Each group's columns come out at
    their common scale, as :func:`_unify_scales` would leave them."""
    numeric = tuple(name for group in groups for name in group)
    data = data.removeprefix(BOM)
    if b'"' in data or b"\r" in data or not data.endswith(b"\n") or b"\n\n" in data:
        return None
    try:
        head = data[: data.index(b"\n")].decode("utf-8")
    except UnicodeDecodeError:
        return None
    header = [name.strip().lower() for name in head.split(",")]
    if len(set(header)) != len(header) or any(n not in header for n in ("ts", *numeric)):
        return None  # duplicate names: the row-by-row parse takes the first
    rows = data.count(b"\n") - 1
    if rows < 1:
        return None
    names = [f"c{i}" for i in range(len(header))]
    try:  # string columns are checked to be UTF-8
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(quote_char=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None  # a row with too few or too many fields
    if table.num_rows != rows:
        return None
    columns = {n: table.column(f"c{header.index(n)}").combine_chunks() for n in header}
    if any(pc.max(pc.utf8_length(col)).as_py() > MAX_FIELD_CHARS for col in columns.values()):
        return None
    ts = _arrow_timestamps(columns["ts"])
    if ts is None:
        return None
    values: dict[str, array] = {}
    scales: dict[str, int] = {}
    for group in groups:
        parsed = [_arrow_decimals(columns[name]) for name in group]
        if None in parsed:
            return None
        scale = max(own for _, own in parsed)
        for name, (column, own) in zip(group, parsed, strict=True):
            if own != scale:
                try:
                    column = pc.multiply_checked(column, pa.scalar(POW10[scale - own], pa.int64()))
                except pa.ArrowInvalid:
                    return None  # over 64 bits at the common scale: reported row by row
            values[name], scales[name] = _int64s(column), scale
    return Table(rel, ts, values, scales, range(2, len(ts) + 2))


def _int64s(column: pa.Array) -> array:
    """An Arrow int64 array without nulls as ``array("q")`` (one copy of its buffer)."""
    out = array("q")
    out.frombytes(column.buffers()[1])
    return out[column.offset : column.offset + len(column)]


def _all(mask: pa.Array) -> bool:
    """True when every value is true (also for an empty column)."""
    return bool(pc.all(mask, min_count=0).as_py())


def _arrow_timestamps(column: pa.Array) -> array | None:
    """Epoch-ms digits, in range and strictly increasing, as ``array("q")``; else ``None``."""
    if not _all(pc.ascii_is_decimal(column)):  # [0-9]+ only: no sign, blank or ISO form
        return None
    try:
        ts = pc.cast(column, pa.int64())
    except pa.ArrowInvalid:
        return None  # over 64 bits
    if pc.min(ts).as_py() < MIN_INSTANT_MS or pc.max(ts).as_py() >= MAX_INSTANT_MS:
        return None
    if len(ts) > 1 and not _all(pc.greater(ts[1:], ts[:-1])):
        return None
    return _int64s(ts)


def _arrow_decimals(column: pa.Array) -> tuple[pa.Array, int] | None:
    """Unsigned plain decimals (``12``, ``0.5``, ``1.250``, ``.5``, ``7.``) as ``(values,
    scale)``: the scale is the most decimals any value has once trailing zeros are dropped,
    as :func:`_fixed` and :func:`_append_scaled` give row by row. ``None`` for anything else
    (signs, exponents, blanks, two dots, more than :data:`MAX_DECIMALS` decimals, 64 bits)."""
    if not _all(pc.ascii_is_decimal(pc.replace_substring(column, ".", "", max_replacements=1))):
        return None  # [0-9] and at most one dot, at least one digit
    dot = pc.find_substring(column, ".")
    dotted = pc.greater_equal(dot, 0)
    trimmed = pc.if_else(dotted, pc.utf8_rtrim(column, "0"), column)  # "10.50" -> "10.5"
    places = pc.if_else(dotted, pc.subtract(pc.subtract(pc.utf8_length(trimmed), dot), 1), 0)
    scale = pc.max(places).as_py()
    if scale > MAX_DECIMALS:
        return None
    digits = pc.replace_substring(trimmed, ".", "", max_replacements=1)
    try:
        values = pc.cast(digits, pa.int64())
        if pc.min(places).as_py() != scale:
            factors = pc.power(pa.scalar(10, pa.int64()), pc.subtract(scale, places))
            values = pc.multiply_checked(values, pc.cast(factors, pa.int64()))
    except pa.ArrowInvalid:
        return None  # over 64 bits
    return values, scale


ARROW_KERNELS = ArrowKernels()
