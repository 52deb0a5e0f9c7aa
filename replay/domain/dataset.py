"""Replay datasets: read and validate a directory of candle (and top-of-book) CSV files.

Layout of a dataset directory (README "Replay datasets")::

    candles/<BASE>_<QUOTE>.csv   required, one per symbol: ts,open,high,low,close,volume
    book/<BASE>_<QUOTE>.csv      optional top of book per symbol: ts,bid,ask
    exchangeinfo.json            optional BTCTurk GET /api/v2/server/exchangeinfo response

File rules:

- Every file is a regular file inside the dataset directory: a symbolic link that dangles or
  leads outside it (through any component), a directory, FIFO, device or socket is refused
  before it is read, and so is a CSV over 1 GiB, an ``exchangeinfo.json`` over 16 MiB or a
  CSV field over 1,024 characters. A refused file's contents are never read nor echoed.
- UTF-8 (a BOM is allowed), comma separated, one header line. Header names are matched
  case-insensitively after stripping blanks; extra columns are ignored; blank lines skipped.
- ``ts`` is the candle **open** time (book: the quote time): either an integer of epoch
  milliseconds (UTC) or ISO-8601 with ``Z`` or an offset; an ISO time without an offset is
  taken as UTC.
- Prices are quote units per base unit, ``volume`` base units. Plain decimals or exponent
  notation; at most 18 decimals after trailing zeros are stripped (``"353137.00000000"`` has
  0 decimals) and the value scaled to the file's decimals must fit a signed 64-bit integer.
- Rows must be strictly increasing in ``ts``. The bar interval of a file is the most common
  difference between consecutive bars (ties: the smallest); the dataset's interval is the one
  most files have (ties: the first file in symbol order) and other files are errors. A larger
  difference that is a multiple of the interval is a gap (reported, allowed); any other
  difference is a misaligned bar (an error). Book times need not align with bars.
- Candles: every price > 0, ``low <= open, close <= high``, ``volume >= 0``.
  Book: ``bid > 0``, ``ask > 0``, ``bid <= ask``; a book needs a candle file of the same pair.
- All symbols share one quote asset (the most common one; others are errors).

Rules per symbol: the ``exchangeinfo.json`` entry (parsed by
:func:`trading.domain.rules.rules_from_exchangeinfo`) when present; otherwise
:func:`trading.domain.rules.default_rules` with the file's price decimals: tick
``10^-price_scale``, step ``10^-8`` base units, min notional 10 quote units, no price band.
An entry that exists but is malformed is an error, not a silent fallback.

Validation collects up to 20 :class:`DatasetError` (file relative to the dataset root, 1-based
line with the header as line 1, column name) and raises :class:`DatasetInvalid`; nothing is
returned half-loaded. One file is read and checked by :mod:`replay.domain.dataset_csv`.

Memory: 88 bytes per bar (``array`` columns, no per-bar objects); loading is one pass over
each file (about 5 microseconds per bar on a slow core, 500,000 bars in ~2.5 s).
"""

from __future__ import annotations

import json
import os
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from hashlib import sha256
from itertools import islice, repeat
from operator import eq, sub, truediv
from pathlib import Path

from replay.domain.columns import PYTHON_KERNELS, ColumnKernels
from replay.domain.dataset_csv import (
    CANDLE_COLUMNS,
    MAX_DECIMALS,
    MAX_ERRORS,
    POW10,
    DatasetError,
    DatasetInvalid,
    ErrorLog,
    Table,
    TooManyErrors,
    check_book,
    check_candles,
    iso_utc,
    read_dataset_file,
    read_table,
)
from replay.domain.table_cache import TableCache
from trading.domain.jsonsafe import json_depth_exceeds
from trading.domain.market import Bar, BarWindow
from trading.domain.rules import ExchangeRules, RulesError, default_rules, rules_from_exchangeinfo
from trading.domain.symbols import Symbol, SymbolError, parse_symbol

__all__ = [
    "BOOK_COLUMNS",
    "CANDLE_COLUMNS",
    "EXCHANGEINFO",
    "MAX_DECIMALS",
    "MAX_ERRORS",
    "RULES_DEFAULT",
    "RULES_EXCHANGEINFO",
    "BookSeries",
    "CandleSeries",
    "DatasetError",
    "DatasetInvalid",
    "Gap",
    "ReplayDataset",
    "iso_utc",
    "load_dataset",
]

BOOK_COLUMNS = ("bid", "ask")
EXCHANGEINFO = "exchangeinfo.json"
RULES_EXCHANGEINFO = "exchangeinfo"
RULES_DEFAULT = "default"

_CANDLE_GROUPS = (("open", "high", "low", "close"), ("volume",))

EXCHANGEINFO_MAX_DEPTH = 16
EXCHANGEINFO_MAX_BYTES = 16 << 20
"""Largest ``exchangeinfo.json`` (16 MiB; BTCTurk's full answer is about 1 MiB)."""


# --- public types ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing bars: ``start_ts_ms`` is the open time (epoch ms, UTC) of the first missing bar."""

    start_ts_ms: int
    missing_bars: int


class ScaledFloats(Sequence[float]):
    """Floats of a scaled-integer column, computed on access: ``values[i] / 10^scale``.

    For the float columns no hot loop reads (open, high, low, volume): building them eagerly
    cost a C-level pass per column on every load. Indexing, slicing (a list) and iteration
    give exactly what an eager ``array("d")`` would (true division of the exact integers).
    """

    __slots__ = ("values", "divisor")

    def __init__(self, values: array, scale: int) -> None:
        self.values = values
        self.divisor = POW10[scale]

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [v / self.divisor for v in self.values[index]]
        return self.values[index] / self.divisor

    def __iter__(self) -> Iterator[float]:
        return map(truediv, self.values, repeat(self.divisor))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(map(eq, self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, eq=False)
class CandleSeries:
    """One symbol's candles, column-wise, oldest first.

    ``ts`` open times (epoch ms, UTC). Float columns ``open``..``volume`` are for indicator
    maths (``close`` an ``array("d")``, the others :class:`ScaledFloats`, computed on access);
    the exact values are the scaled integers ``*_i``: price = ``open_i[i] /
    10^price_scale`` quote units, volume = ``volume_i[i] / 10^volume_scale`` base units.
    ``price_scale`` is the most decimals seen in the file's price columns.
    ``largest_close_i`` is the largest ``abs`` of ``close_i``, found at load: the bound that
    lets the engine add up equity in scaled integers (``ledger.domain.portfolio.ScaledMarks``).
    """

    symbol: Symbol
    interval_ms: int
    ts: array
    open: Sequence[float]
    high: Sequence[float]
    low: Sequence[float]
    close: array
    volume: Sequence[float]
    open_i: array
    high_i: array
    low_i: array
    close_i: array
    volume_i: array
    price_scale: int
    volume_scale: int
    largest_close_i: int
    gaps: tuple[Gap, ...] = ()

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def first_ts(self) -> int:
        return self.ts[0]

    @property
    def last_ts(self) -> int:
        return self.ts[-1]

    @property
    def missing_bars(self) -> int:
        return sum(gap.missing_bars for gap in self.gaps)

    def open_decimal(self, i: int) -> Decimal:
        return Decimal(self.open_i[i]).scaleb(-self.price_scale)

    def close_decimal(self, i: int) -> Decimal:
        return Decimal(self.close_i[i]).scaleb(-self.price_scale)

    def bar(self, i: int) -> Bar:
        """Bar ``i`` with exact Decimal prices (``price_scale`` decimals) and volume."""
        scale = -self.price_scale
        return Bar(
            ts_ms=self.ts[i],
            open=Decimal(self.open_i[i]).scaleb(scale),
            high=Decimal(self.high_i[i]).scaleb(scale),
            low=Decimal(self.low_i[i]).scaleb(scale),
            close=Decimal(self.close_i[i]).scaleb(scale),
            volume=Decimal(self.volume_i[i]).scaleb(-self.volume_scale),
        )

    def window(self, end: int) -> BarWindow:
        """Bars ``[0, end)`` over the float columns (no copy). Raises ValueError unless
        ``0 <= end <= len(self)``."""
        if not 0 <= end <= len(self.ts):
            raise ValueError(f"{self.symbol}: window end {end} outside 0..{len(self.ts)}")
        return BarWindow(
            ts=self.ts,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            end=end,
            interval_ms=self.interval_ms,
        )


@dataclass(frozen=True, slots=True, eq=False)
class BookSeries:
    """Top of book of one symbol: ``ts`` epoch ms (UTC); bid/ask = ``*_i / 10^price_scale``
    quote units per base unit."""

    symbol: Symbol
    ts: array
    bid_i: array
    ask_i: array
    price_scale: int

    def __len__(self) -> int:
        return len(self.ts)

    def bid_decimal(self, i: int) -> Decimal:
        return Decimal(self.bid_i[i]).scaleb(-self.price_scale)

    def ask_decimal(self, i: int) -> Decimal:
        return Decimal(self.ask_i[i]).scaleb(-self.price_scale)


@dataclass(frozen=True, slots=True, eq=False)
class ReplayDataset:
    """A validated dataset. ``path`` is absolute; dicts are ordered by symbol.

    ``rules_source[symbol]`` is ``"exchangeinfo"`` or ``"default"``. ``fingerprint`` is the
    sha256 hex of the lines ``<relative path>\\0<size>\\0<sha256 of the bytes>\\n`` of every
    file used, sorted by relative path. ``first_ts``/``last_ts`` epoch ms (UTC) over all
    symbols; ``bar_count`` bars over all symbols.
    """

    path: Path
    series: dict[Symbol, CandleSeries]
    books: dict[Symbol, BookSeries]
    rules: dict[Symbol, ExchangeRules]
    rules_source: dict[Symbol, str]
    quote_asset: str
    interval_ms: int
    fingerprint: str
    first_ts: int
    last_ts: int
    bar_count: int

    @property
    def symbols(self) -> tuple[Symbol, ...]:
        return tuple(self.series)


def load_dataset(
    path: Path, *, cache_dir: Path | None = None, kernels: ColumnKernels = PYTHON_KERNELS
) -> ReplayDataset:
    """Read and validate the dataset directory ``path`` (layout in the module docstring).

    ``cache_dir``: keep parsed candle tables there (:mod:`replay.domain.table_cache`), so the
    next load of the same bytes skips the CSV parse and the candle checks it passed.
    ``kernels``: the whole-column operations (:mod:`replay.domain.columns`; the services pass
    the Arrow ones, which give the same dataset faster).
    Raises :class:`DatasetInvalid` listing up to :data:`MAX_ERRORS` problems.
    """
    errors = ErrorLog()
    cache = None if cache_dir is None else TableCache(cache_dir)
    try:
        dataset = _load(Path(path).resolve(), errors, cache, kernels)
    except TooManyErrors:
        raise DatasetInvalid(errors.items, truncated=True) from None
    if errors.items or dataset is None:
        raise DatasetInvalid(errors.items)
    return dataset


# --- loading -------------------------------------------------------------------------------


def _load(
    root: Path, errors: ErrorLog, cache: TableCache | None, kernels: ColumnKernels
) -> ReplayDataset | None:
    candle_files = _pair_files(root, "candles", errors)
    if candle_files is None:
        return None
    digests: dict[str, tuple[int, str]] = {}
    tables = _read_candles(root, candle_files, digests, errors, cache, kernels)
    books = _load_books(root, candle_files, digests, errors)
    quote = _quote_asset(candle_files, root, errors)
    intervals = {s: _file_interval(t.ts, kernels) for s, t in tables.items()}
    interval = _dataset_interval(tables, intervals, errors)
    series = {
        s: _candle_series(s, t, interval, intervals[s], errors, kernels) for s, t in tables.items()
    }
    rules, sources = _rules(root, series, digests, errors)
    if errors.items or interval is None or quote is None:
        return None
    return ReplayDataset(
        path=root,
        series=series,
        books=books,
        rules=rules,
        rules_source=sources,
        quote_asset=quote,
        interval_ms=interval,
        fingerprint=_fingerprint(digests),
        first_ts=min(s.first_ts for s in series.values()),
        last_ts=max(s.last_ts for s in series.values()),
        bar_count=sum(len(s) for s in series.values()),
    )


def _read_candles(
    root: Path,
    files: dict[Symbol, Path],
    digests: dict[str, tuple[int, str]],
    errors: ErrorLog,
    cache: TableCache | None,
    kernels: ColumnKernels,
) -> dict[Symbol, Table]:
    """Read, parse and check every candle file, several at once (hashing and Arrow's kernels
    release the GIL). Each file's problems are merged in file order, so ``errors`` ends as a
    one-by-one read leaves it (and stops at the same :data:`MAX_ERRORS`-th). Clean tables go
    to ``cache``; tables served from it passed their checks when they were stored."""

    def read(item: tuple[Symbol, Path]) -> tuple[Table | None, ErrorLog, dict]:
        own, own_digests = ErrorLog(), {}
        try:
            table = read_table(root, item[1], _CANDLE_GROUPS, own_digests, own, cache, kernels)
            if table is not None and (cache is None or table.rel not in cache.hits):
                check_candles(table, own, kernels)
        except TooManyErrors:  # this file alone has MAX_ERRORS: the merge below stops there
            table = None
        return table, own, own_digests

    workers = max(1, min(len(files), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(read, files.items()))
    tables: dict[Symbol, Table] = {}
    for symbol, (table, own, own_digests) in zip(files, results, strict=True):
        digests.update(own_digests)
        for problem in own.items:
            errors.add(problem.path, problem.line, problem.column, problem.message)
        if table is not None:
            tables[symbol] = table
            if cache is not None and not own.items and table.rel not in cache.hits:
                cache.put(cache.key(digests[table.rel][1], _CANDLE_GROUPS), table)
    return tables


def _pair_files(root: Path, folder: str, errors: ErrorLog) -> dict[Symbol, Path] | None:
    """``<folder>/*.csv`` by symbol, sorted; ``None`` (with an error) if candles are missing."""
    if not root.is_dir():
        errors.add(".", None, None, f"dataset directory {root} does not exist")
        return None
    directory = root / folder
    files = sorted(directory.glob("*.csv")) if directory.is_dir() else []
    if not files and folder == "candles":
        errors.add(f"{folder}/", None, None, "no candles/<BASE>_<QUOTE>.csv files")
        return None
    found: dict[Symbol, Path] = {}
    for file in files:
        try:
            symbol = parse_symbol(file.stem) if "_" in file.stem else None
        except SymbolError:
            symbol = None
        if symbol is None or symbol in found:
            reason = "expected <BASE>_<QUOTE>.csv, e.g. BTC_TRY.csv"
            if symbol is not None:
                reason = f"a second file for {symbol}"
            errors.add(f"{folder}/{file.name}", None, None, f"bad file name: {reason}")
            continue
        found[symbol] = file
    return dict(sorted(found.items()))


def _file_interval(ts: array, kernels: ColumnKernels) -> int | None:
    """Most common difference between consecutive open times (ties: the smallest)."""
    if len(ts) < 2:
        return None
    step = ts[1] - ts[0]
    if kernels.evenly_spaced(ts, step):
        return step
    counts = Counter(map(sub, islice(ts, 1, None), ts))
    return min(counts, key=lambda d: (-counts[d], d))


def _dataset_interval(
    tables: dict[Symbol, Table], intervals: dict[Symbol, int | None], errors: ErrorLog
) -> int | None:
    """The interval most files have (ties: the first file's); other files are errors.
    ``intervals`` is each file's own (:func:`_file_interval`)."""
    votes = Counter(i for i in intervals.values() if i is not None)
    if not votes:
        if tables and not errors.items:  # otherwise rows were rejected: that is the news
            first = next(iter(tables.values()))
            errors.add(
                first.rel, None, "ts", "need at least 2 bars in one file to know the interval"
            )
        return None
    interval = votes.most_common(1)[0][0]
    for symbol, own in intervals.items():
        if own is not None and own != interval:
            table = tables[symbol]
            message = f"bar interval {own} ms differs from the dataset's {interval} ms"
            errors.add(table.rel, table.lines[1], "ts", message)
    return interval


def _gaps(table: Table, interval: int, errors: ErrorLog, kernels: ColumnKernels) -> tuple[Gap, ...]:
    ts = table.ts
    if kernels.evenly_spaced(ts, interval):
        return ()
    diffs = map(sub, islice(ts, 1, None), ts)
    gaps = []
    for i, diff in enumerate(diffs):
        if diff == interval:
            continue
        if diff % interval:
            message = (
                f"ts {iso_utc(ts[i + 1])} is {diff} ms after the previous bar, not a multiple"
                f" of the {interval} ms interval (misaligned bar)"
            )
            errors.add(table.rel, table.lines[i + 1], "ts", message)
        else:
            gaps.append(Gap(ts[i] + interval, diff // interval - 1))
    return tuple(gaps)


def _candle_series(
    symbol: Symbol,
    table: Table,
    interval: int | None,
    own: int | None,
    errors: ErrorLog,
    kernels: ColumnKernels,
) -> CandleSeries:
    """``own`` is the file's interval, ``interval`` the dataset's."""
    gaps = _gaps(table, interval, errors, kernels) if interval and own in (None, interval) else ()
    cols, scale, vscale = table.columns, table.scales["open"], table.scales["volume"]
    return CandleSeries(
        symbol=symbol,
        interval_ms=interval or 0,
        ts=table.ts,
        open=ScaledFloats(cols["open"], scale),
        high=ScaledFloats(cols["high"], scale),
        low=ScaledFloats(cols["low"], scale),
        close=kernels.floats(cols["close"], scale),
        volume=ScaledFloats(cols["volume"], vscale),
        open_i=cols["open"],
        high_i=cols["high"],
        low_i=cols["low"],
        close_i=cols["close"],
        volume_i=cols["volume"],
        price_scale=scale,
        volume_scale=vscale,
        largest_close_i=kernels.largest_abs(cols["close"]),
        gaps=gaps,
    )


def _load_books(
    root: Path, candles: dict[Symbol, Path], digests: dict[str, tuple[int, str]], errors: ErrorLog
) -> dict[Symbol, BookSeries]:
    books: dict[Symbol, BookSeries] = {}
    for symbol, file in (_pair_files(root, "book", errors) or {}).items():
        if symbol not in candles:
            errors.add(f"book/{file.name}", None, None, f"no candles/{file.name} for this book")
            continue
        table = read_table(root, file, (BOOK_COLUMNS,), digests, errors)
        if table is None:
            continue
        check_book(table, errors)
        books[symbol] = BookSeries(
            symbol, table.ts, table.columns["bid"], table.columns["ask"], table.scales["bid"]
        )
    return books


def _quote_asset(candles: dict[Symbol, Path], root: Path, errors: ErrorLog) -> str | None:
    votes = Counter(symbol.quote for symbol in candles)
    if not votes:
        return None
    quote = votes.most_common(1)[0][0]
    for symbol, file in candles.items():
        if symbol.quote != quote:
            message = f"quote asset {symbol.quote} differs from the dataset's {quote}"
            errors.add(file.relative_to(root).as_posix(), None, None, message)
    return quote


def _rules(
    root: Path,
    series: dict[Symbol, CandleSeries],
    digests: dict[str, tuple[int, str]],
    errors: ErrorLog,
) -> tuple[dict[Symbol, ExchangeRules], dict[Symbol, str]]:
    book_rules, skipped = _exchangeinfo(root, digests, errors)
    rules: dict[Symbol, ExchangeRules] = {}
    sources: dict[Symbol, str] = {}
    for symbol, candles in series.items():
        if symbol in book_rules:
            rules[symbol], sources[symbol] = book_rules[symbol], RULES_EXCHANGEINFO
        elif str(symbol) in skipped:
            errors.add(
                EXCHANGEINFO, None, None, f"entry for {symbol} is invalid: {skipped[str(symbol)]}"
            )
        else:
            rules[symbol] = default_rules(symbol, price_scale=candles.price_scale)
            sources[symbol] = RULES_DEFAULT
    return rules, sources


def _exchangeinfo(
    root: Path, digests: dict[str, tuple[int, str]], errors: ErrorLog
) -> tuple[dict[Symbol, ExchangeRules], dict[str, str]]:
    file = root / EXCHANGEINFO
    if not os.path.lexists(file):
        return {}, {}
    data = read_dataset_file(root, file, EXCHANGEINFO_MAX_BYTES, errors)
    if data is None:
        return {}, {}
    digests[EXCHANGEINFO] = (len(data), sha256(data).hexdigest())
    if json_depth_exceeds(data.decode("utf-8", "replace"), EXCHANGEINFO_MAX_DEPTH):
        errors.add(EXCHANGEINFO, None, None, f"nested deeper than {EXCHANGEINFO_MAX_DEPTH} levels")
        return {}, {}
    try:
        book = rules_from_exchangeinfo(json.loads(data))
    except json.JSONDecodeError as exc:
        errors.add(
            EXCHANGEINFO, exc.lineno, None, f"malformed JSON: {exc.msg} (column {exc.colno})"
        )
        return {}, {}
    except (UnicodeDecodeError, RulesError) as exc:
        errors.add(EXCHANGEINFO, None, None, str(exc))
        return {}, {}
    return dict(book.rules), dict(book.skipped)


def _fingerprint(digests: dict[str, tuple[int, str]]) -> str:
    digest = sha256()
    for rel in sorted(digests):
        size, file_hash = digests[rel]
        digest.update(f"{rel}\0{size}\0{file_hash}\n".encode())
    return digest.hexdigest()
