"""Reading and validating one CSV table of a replay dataset (candles or top of book).

The file rules (encoding, header, ``ts`` forms, number forms, ordering, candle and book checks)
are described in :mod:`replay.domain.dataset`, which assembles a dataset from these tables.
Problems are reported as :class:`DatasetError` through an :class:`ErrorLog`, which stops the
whole load after :data:`MAX_ERRORS` by raising :class:`TooManyErrors`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import stat
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from hashlib import sha256
from itertools import repeat
from operator import gt, mul
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from replay.domain.table_cache import TableCache

from replay.domain.columns import PYTHON_KERNELS, ColumnKernels
from trading.domain.bounds import MAX_INSTANT_MS, MIN_INSTANT_MS, BoundError, instant_ms

MAX_ERRORS = 20
MAX_DECIMALS = 18
MAX_FILE_BYTES = 1 << 30
"""Largest CSV file a dataset may hold (1 GiB: years of 1-minute bars for one symbol)."""
BOM = b"\xef\xbb\xbf"
MAX_FIELD_CHARS = 1024
"""Longest CSV field (characters); a number or a timestamp is far shorter."""
CANDLE_COLUMNS = ("open", "high", "low", "close", "volume")

POW10 = tuple(10**k for k in range(MAX_DECIMALS + 1))
"""``POW10[k] == 10**k`` for ``0 <= k <= MAX_DECIMALS`` (scale factors between decimals)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


# --- errors --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetError:
    """One validation problem: ``path`` relative to the dataset root (``"."`` for the root),
    ``line`` 1-based (header = 1; ``None`` for a whole-file problem), ``column`` a header name
    (``None`` when not about one column)."""

    path: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        column = "" if self.column is None else f"column {self.column!r}: "
        return f"{where}: {column}{self.message}"


class DatasetInvalid(Exception):
    """A dataset that failed validation. ``errors`` holds at most :data:`MAX_ERRORS` items;
    ``truncated`` says checking stopped there. ``str()`` renders one error per line."""

    def __init__(self, errors: list[DatasetError], *, truncated: bool = False) -> None:
        self.errors = errors
        self.truncated = truncated
        super().__init__(self.render())

    def render(self) -> str:
        lines = [str(error) for error in self.errors]
        if self.truncated:
            lines.append(f"(stopped after {MAX_ERRORS} errors)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def iso_utc(ts_ms: int) -> str:
    """Epoch milliseconds as ``2024-01-01T00:00:00Z`` (``.123Z`` when not whole seconds)."""
    try:
        moment = _EPOCH + ts_ms * _MS
    except OverflowError:
        return str(ts_ms)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ts_ms % 1000:03d}Z" if ts_ms % 1000 else f"{text}Z"


class TooManyErrors(Exception):
    """Raised by :meth:`ErrorLog.add` when the :data:`MAX_ERRORS`-th error is recorded: the
    load stops there and the caller reports the collected errors as truncated."""


class _BadValue(ValueError):
    pass


class ErrorLog:
    """Collects validation problems in order: ``items`` is a list of :class:`DatasetError`."""

    def __init__(self) -> None:
        self.items: list[DatasetError] = []

    def add(self, path: str, line: int | None, column: str | None, message: str) -> None:
        """Record one :class:`DatasetError` (arguments as its fields). Raises
        :class:`TooManyErrors` once ``items`` holds :data:`MAX_ERRORS` errors."""
        self.items.append(DatasetError(path, line, column, message))
        if len(self.items) >= MAX_ERRORS:
            raise TooManyErrors


# --- reading -------------------------------------------------------------------------------


@dataclass(slots=True)
class Table:
    """A parsed CSV: strictly increasing ``ts``, exact columns sharing one scale per group.

    ``rel`` is the file's path relative to the dataset root (POSIX form). ``ts`` is an
    ``array("q")`` of epoch ms (UTC), strictly increasing. ``columns[name]`` is an
    ``array("q")`` aligned with ``ts``: value = ``columns[name][i] / 10^scales[name]`` (quote
    units per base unit for prices, base units for volume). ``lines[i]`` is the 1-based file
    line (header = 1) of row ``i``, for error messages.
    """

    rel: str
    ts: array
    columns: dict[str, array]
    scales: dict[str, int]
    lines: Sequence[int]


# --- files ---------------------------------------------------------------------------------

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_dataset_file(root: Path, file: Path, max_bytes: int, errors: ErrorLog) -> bytes | None:
    """The bytes of ``file`` (under the dataset directory ``root``, which is resolved), or
    ``None`` with one error naming the file when it may not be read: a symbolic link that
    dangles or leads outside ``root`` (through any component), anything but a regular file
    (directory, FIFO, device, socket; refused before a blocking open), or more than
    ``max_bytes`` bytes. The contents of a refused file are never read nor echoed: it could
    be a secrets file. One mechanism for every file a dataset reads.
    """
    rel = file.relative_to(root).as_posix()
    try:
        target = file.resolve(strict=True)
    except FileNotFoundError:
        errors.add(rel, None, None, "refused: a symbolic link to a file that does not exist")
        return None
    except (OSError, RuntimeError) as exc:  # a symlink loop, a permission problem
        errors.add(rel, None, None, f"refused: cannot resolve the path ({type(exc).__name__})")
        return None
    if not target.is_relative_to(root):
        errors.add(rel, None, None, "refused: a symbolic link that leads outside the dataset")
        return None
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:  # a socket cannot be opened at all: name what it is
        problem = f"cannot open ({exc.strerror})"
        with contextlib.suppress(OSError):
            mode = os.stat(target).st_mode
            if not stat.S_ISREG(mode):
                problem = f"{_kind(mode)}, not a regular file"
        errors.add(rel, None, None, f"refused: {problem}")
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        errors.add(rel, None, None, f"refused: {_kind(info.st_mode)}, not a regular file")
        return None
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > max_bytes:
            errors.add(
                rel, None, None, f"refused: {info.st_size} bytes, over the {max_bytes} byte limit"
            )
            return None
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew while we read it
        errors.add(rel, None, None, f"refused: over the {max_bytes} byte limit")
        return None
    return data


def read_table(
    root: Path,
    file: Path,
    groups: tuple[tuple[str, ...], ...],
    digests: dict[str, tuple[int, str]],
    errors: ErrorLog,
    cache: TableCache | None = None,
    kernels: ColumnKernels = PYTHON_KERNELS,
) -> Table | None:
    """Read one CSV whose numeric columns come in ``groups`` sharing one scale each.

    With a ``cache``, a table parsed before from the same bytes is read back from it instead
    of parsing again (the caller stores new tables once they passed its checks).

    ``file`` lies under the dataset directory ``root``. Records ``digests[rel] = (size in
    bytes, sha256 hex of the bytes)`` for the fingerprint, even when the file is rejected.
    The header must name ``ts`` and every column of ``groups``. Rows that fail to parse or
    are out of order are reported and skipped, so the result stays aligned and strictly
    increasing. Returns ``None`` (with errors added) when the file is unusable: not UTF-8,
    empty, missing columns, no data rows, or a group whose common scale overflows 64 bits.
    The file itself is read through :func:`read_dataset_file` (links, kind, size); fields
    longer than :data:`MAX_FIELD_CHARS` are errors. Raises :class:`TooManyErrors` via
    ``errors``.
    """
    rel = file.relative_to(root).as_posix()
    data = read_dataset_file(root, file, MAX_FILE_BYTES, errors)
    if data is None:
        return None
    digests[rel] = (len(data), sha256(data).hexdigest())
    if cache is not None:
        cached = cache.get(cache.key(digests[rel][1], groups), rel)
        if cached is not None:
            return cached
    table = kernels.parse_columns(rel, data, groups)
    if table is not None:
        return table
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.add(rel, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None
    del data
    return parse_table(rel, text, groups, errors)


def parse_table(
    rel: str,
    text: str,
    groups: tuple[tuple[str, ...], ...],
    errors: ErrorLog,
    *,
    kernels: ColumnKernels = PYTHON_KERNELS,
) -> Table | None:
    """Parse the CSV ``text`` of the file ``rel`` as :func:`read_table` describes.

    ``kernels.parse_columns`` is tried first (a whole-column parse of a regular file; the
    default never applies); anything it declines goes through the row-by-row parse, which
    reports each problem. Both give the same :class:`Table`
    (``tests/replay/test_dataset_fast_parse.py``).
    """
    numeric = tuple(name for group in groups for name in group)
    table = kernels.parse_columns(rel, text.encode(), groups)
    if table is None:
        reader = _BoundedRows(rel, csv.reader(io.StringIO(text, newline="")), errors)
        header = next(reader, None)
        if header is None:
            errors.add(rel, 1, None, "file is empty (expected a header line)")
            return None
        index = _header_index(rel, header, ("ts", *numeric), errors)
        if index is None:
            return None
        table = _read_rows(rel, reader, index, numeric, errors)
    if table is None or not all([_unify_scales(table, group, errors) for group in groups]):
        return None
    return table


class _BoundedRows:
    """The rows of a ``csv.reader`` (``line_num`` as the reader's); a row with a field longer
    than :data:`MAX_FIELD_CHARS` is reported by line and skipped, and a row the csv module
    refuses ends the file with an error. The field itself is never echoed."""

    def __init__(self, rel: str, reader, errors: ErrorLog) -> None:
        self.rel, self.reader, self.errors = rel, reader, errors

    @property
    def line_num(self) -> int:
        return self.reader.line_num

    def __iter__(self) -> _BoundedRows:
        return self

    def __next__(self) -> list[str]:
        while True:
            try:
                row = next(self.reader)
            except csv.Error as exc:  # the csv module cannot resume inside a broken field
                reason = str(exc).split(" (")[0]
                self.errors.add(self.rel, self.line_num, None, f"unreadable CSV row ({reason})")
                raise StopIteration from None
            longest = max(map(len, row), default=0)
            if longest <= MAX_FIELD_CHARS:
                return row
            message = f"a field of {longest} characters, over the {MAX_FIELD_CHARS} limit"
            self.errors.add(self.rel, self.line_num, None, message)


def _read_rows(
    rel: str,
    reader: Iterator[list[str]],
    index: dict[str, int],
    numeric: tuple[str, ...],
    errors: ErrorLog,
) -> Table | None:
    """Row-by-row parse into exact scaled integers; skips (and reports) rows that fail to
    parse or are out of order, so the returned columns stay aligned and strictly increasing."""
    ts_at = index["ts"]
    fields = tuple((name, index[name]) for name in numeric)
    ts, lines = array("q"), array("q")
    cols = [array("q") for _ in numeric]
    scales = [0] * len(numeric)
    prev = -(2**64)
    rows = 0
    for row in reader:
        if not row:
            continue
        rows += 1
        line = reader.line_num
        column = "ts"
        try:
            stamp = row[ts_at]
            t = int(stamp) if stamp.isdecimal() else _parse_ts(stamp)
            if not MIN_INSTANT_MS <= t < MAX_INSTANT_MS:  # the digits fast path skips it
                raise _BadValue(f"{stamp[:40]!r}: {_parse_problem(stamp)}")
            values = []
            for column, at in fields:  # noqa: B007 - ``column`` names the failing field
                values.append(_fixed(row[at]))
        except IndexError:
            errors.add(rel, line, column, f"missing value (row has {len(row)} fields)")
            continue
        except _BadValue as exc:
            errors.add(rel, line, column, str(exc))
            continue
        if t <= prev:
            errors.add(rel, line, "ts", _order_message(t, prev))
            continue
        try:
            ts.append(t)
        except OverflowError:
            errors.add(rel, line, "ts", f"{stamp!r} is out of range (64-bit limit)")
            continue
        overflow = _append_scaled(values, cols, scales)
        if overflow is not None:
            for col in (ts, *cols):
                del col[len(lines) :]
            errors.add(rel, line, numeric[overflow[0]], overflow[1])
            continue
        lines.append(line)
        prev = t
    if rows == 0:
        errors.add(rel, 2, None, "no data rows after the header")
        return None
    columns = dict(zip(numeric, cols, strict=True))
    return Table(rel, ts, columns, dict(zip(numeric, scales, strict=True)), lines)


def _append_scaled(
    values: list[tuple[int, int]], cols: list[array], scales: list[int]
) -> tuple[int, str] | None:
    """Append one row's ``(mantissa, decimals)`` per column at the column's running scale,
    first raising that scale (and rescaling earlier values) for a value with more decimals.
    Returns ``(column index, message)`` for the first value that overflows 64 bits."""
    for k, (mantissa, decimals) in enumerate(values):
        scale = scales[k]
        if decimals > scale:
            try:
                cols[k] = array("q", map(mul, cols[k], repeat(POW10[decimals - scale])))
            except OverflowError:
                value = _fmt(mantissa, decimals)
                return (
                    k,
                    f"{value} has {decimals} decimals, at which earlier values no longer fit 64 bits",
                )
            scales[k] = scale = decimals
        try:
            cols[k].append(mantissa * POW10[scale - decimals])
        except OverflowError:
            value = _fmt(mantissa, decimals)
            return k, f"{value} has too many significant digits (64-bit limit at {scale} decimals)"
    return None


def _header_index(
    rel: str, header: list[str], required: tuple[str, ...], errors: ErrorLog
) -> dict[str, int] | None:
    index: dict[str, int] = {}
    for at, name in enumerate(header):
        index.setdefault(name.strip().lower(), at)
    missing = [name for name in required if name not in index]
    for name in missing:
        errors.add(rel, 1, name, f"missing required column (header: {','.join(header)})")
    return None if missing else index


def _fixed(text: str) -> tuple[int, int]:
    """``"353137.00000000"`` -> ``(353137, 0)``; ``"0.48821"`` -> ``(48821, 5)``."""
    head, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    digits = head + frac
    if digits.isdecimal() and len(frac) <= MAX_DECIMALS:
        return int(digits), len(frac)
    return _fixed_slow(text)


def _fixed_slow(text: str) -> tuple[int, int]:
    cleaned = text.strip()
    if not cleaned:
        raise _BadValue("empty value")
    try:
        if "_" in cleaned:
            raise InvalidOperation
        number = Decimal(cleaned)
    except InvalidOperation:
        raise _BadValue(f"{text!r} is not a number") from None
    if not number.is_finite():
        raise _BadValue(f"{text!r} is not a finite number")
    sign, digits, exponent = number.as_tuple()
    if exponent > MAX_DECIMALS + 1:
        raise _BadValue(f"{text!r} is too large")
    mantissa = int("".join(map(str, digits))) * 10 ** max(exponent, 0)
    decimals = max(-exponent, 0)
    while decimals and mantissa % 10 == 0:
        mantissa //= 10
        decimals -= 1
    if decimals > MAX_DECIMALS:
        raise _BadValue(f"{text!r} has more than {MAX_DECIMALS} decimals")
    return (-mantissa if sign else mantissa), decimals


def _parse_problem(text: str) -> str:
    try:
        instant_ms("ts", text)
    except BoundError as exc:
        return exc.problem
    return "out of range"


def _parse_ts(text: str) -> int:
    """Epoch ms of a ``ts`` cell, through the shared time validator (1970 up to 2200)."""
    try:
        return instant_ms("ts", text)
    except BoundError as exc:
        problem = exc.problem
        if problem.startswith("is not"):
            raise _BadValue(f"{text[:40]!r} is neither epoch milliseconds nor ISO-8601") from None
        raise _BadValue(f"{text[:40]!r}: {problem}") from None


def _order_message(t: int, prev: int) -> str:
    if t == prev:
        return f"duplicate ts {iso_utc(t)} (same as the previous row)"
    return f"ts {iso_utc(t)} is before the previous row's {iso_utc(prev)} (rows must be sorted)"


def _unify_scales(table: Table, group: tuple[str, ...], errors: ErrorLog) -> bool:
    """Bring the columns of ``group`` to their common (largest) scale; ``False`` (with an
    error naming the first value that no longer fits 64 bits) when that overflows."""
    scale = max(table.scales[name] for name in group)
    for name in group:
        own = table.scales[name]
        if own == scale:
            continue
        factor = POW10[scale - own]
        try:
            table.columns[name] = array("q", map(mul, table.columns[name], repeat(factor)))
        except OverflowError:
            at = next(i for i, v in enumerate(table.columns[name]) if abs(v * factor) >= 2**63)
            value = _fmt(table.columns[name][at], own)
            message = f"{value} does not fit a 64-bit integer at {scale} decimals"
            errors.add(table.rel, table.lines[at], name, message)
            return False
        table.scales[name] = scale
    return True


def _fmt(value: int, scale: int) -> str:
    return format(Decimal(value).scaleb(-scale).normalize(), "f")


# --- checks --------------------------------------------------------------------------------


def check_candles(table: Table, errors: ErrorLog, kernels: ColumnKernels = PYTHON_KERNELS) -> None:
    """Prices > 0, low <= open/close <= high, volume >= 0; a fast C-level scan first, and a
    row-by-row pass only when it finds something.

    ``table`` has the :data:`CANDLE_COLUMNS`, the four prices at one scale. Each problem is
    added to ``errors`` (file, line, column); the table itself is not changed.
    """
    o, h, lo, c, v = (table.columns[name] for name in CANDLE_COLUMNS)
    if not len(o):
        return
    if not kernels.candles_suspect(o, h, lo, c, v):
        return
    scale, vscale = table.scales["open"], table.scales["volume"]
    for i in range(len(o)):
        row = {"open": o[i], "high": h[i], "low": lo[i], "close": c[i]}
        for column, message in _candle_problems(row, v[i], scale, vscale):
            errors.add(table.rel, table.lines[i], column, message)


def _candle_problems(
    row: dict[str, int], volume: int, scale: int, vscale: int
) -> list[tuple[str, str]]:
    problems = [(n, f"{n} {_fmt(x, scale)} is not positive") for n, x in row.items() if x <= 0]
    low, high = row["low"], row["high"]
    if high < low:
        problems.append(("high", f"high {_fmt(high, scale)} is below low {_fmt(low, scale)}"))
    else:
        for name in ("open", "close"):
            if not low <= row[name] <= high:
                span = f"[low {_fmt(low, scale)}, high {_fmt(high, scale)}]"
                problems.append((name, f"{name} {_fmt(row[name], scale)} is outside {span}"))
    if volume < 0:
        problems.append(("volume", f"volume {_fmt(volume, vscale)} is negative"))
    return problems


def check_book(table: Table, errors: ErrorLog) -> None:
    """``bid > 0``, ``ask > 0`` and ``bid <= ask`` on every row of a top-of-book table
    (columns ``bid``/``ask`` at one scale); each problem is added to ``errors``."""
    bid, ask = table.columns["bid"], table.columns["ask"]
    if not len(bid) or (min(bid) > 0 and min(ask) > 0 and not any(map(gt, bid, ask))):
        return
    scale = table.scales["bid"]
    for i in range(len(bid)):
        for name, value in (("bid", bid[i]), ("ask", ask[i])):
            if value <= 0:
                errors.add(
                    table.rel, table.lines[i], name, f"{name} {_fmt(value, scale)} is not positive"
                )
        if bid[i] > ask[i]:
            message = f"bid {_fmt(bid[i], scale)} is above ask {_fmt(ask[i], scale)} (crossed book)"
            errors.add(table.rel, table.lines[i], "bid", message)
