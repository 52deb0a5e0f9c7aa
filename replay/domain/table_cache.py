"""A binary cache of parsed CSV tables, so a dataset file is parsed once, not per backtest.

A dataset's CSV parse costs about 10 µs a row (5 s for a year of 1-minute bars); reading the
same table back from its cache costs well under a second. :class:`TableCache` maps a key, the
sha256 of the CSV's bytes plus the column groups it was parsed with, to a file
``<directory>/<key>.table`` holding the :class:`~replay.domain.dataset_csv.Table`'s integer
columns. The key is content-addressed: an edited CSV has another sha256, so a stale entry is
never used (the dataset's fingerprint is computed from the same bytes either way).

File layout (native byte order, this machine's cache only): the magic ``b"MEVATBL1"``, an
8-byte little-endian header length, a JSON header (``rows``, ``columns``, ``scales``,
``lines``: ``"contiguous"`` when row ``i`` is file line ``i + 2``, else ``"array"``, and
``sha256`` of the payload), then the payload: ``ts``, each column, and the line numbers when
not contiguous, each as ``rows`` signed 64-bit integers. Only tables that passed every check of
their file are stored. A cache file that is truncated, corrupt or of another version is
ignored (and rewritten by the next parse); writes go to a temporary file that is then renamed,
so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from array import array
from hashlib import sha256
from pathlib import Path

from replay.domain.dataset_csv import Table

MAGIC = b"MEVATBL1"
_ITEM = array("q").itemsize


class TableCache:
    """Tables by key in ``directory`` (created on the first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.hits: set[str] = set()  # ``rel`` of every table served from the cache

    @staticmethod
    def key(digest: str, groups: tuple[tuple[str, ...], ...]) -> str:
        """The cache key of a CSV whose bytes have sha256 ``digest``, parsed with ``groups``."""
        shape = sha256(json.dumps(groups).encode()).hexdigest()[:12]
        return f"{digest}-{shape}"

    def get(self, key: str, rel: str) -> Table | None:
        """The table stored under ``key`` (with ``rel`` as its file name), or ``None`` when
        there is none or it cannot be read back intact."""
        try:
            data = (self.directory / f"{key}.table").read_bytes()
        except OSError:
            return None
        try:
            table = _decode(data, rel)
        except (ValueError, KeyError, TypeError):
            return None
        self.hits.add(rel)
        return table

    def put(self, key: str, table: Table) -> None:
        """Store ``table`` under ``key``; a failure to write (disk full, read-only) is ignored:
        the cache only saves time."""
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(_encode(table))
                os.replace(tmp, self.directory / f"{key}.table")
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise


def _contiguous(lines) -> bool:
    if isinstance(lines, range):
        return lines.start == 2 and lines.step == 1
    return all(line == i + 2 for i, line in enumerate(lines))


def _encode(table: Table) -> bytes:
    names = list(table.columns)
    contiguous = _contiguous(table.lines)
    parts = [table.ts.tobytes(), *(table.columns[n].tobytes() for n in names)]
    if not contiguous:
        parts.append(array("q", table.lines).tobytes())
    payload = b"".join(parts)
    header = json.dumps(
        {
            "rows": len(table.ts),
            "columns": names,
            "scales": table.scales,
            "lines": "contiguous" if contiguous else "array",
            "sha256": sha256(payload).hexdigest(),
        }
    ).encode()
    return MAGIC + len(header).to_bytes(8, "little") + header + payload


def _decode(data: bytes, rel: str) -> Table:
    if data[: len(MAGIC)] != MAGIC:
        raise ValueError("not a table cache file")
    size = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 8], "little")
    start = len(MAGIC) + 8
    header = json.loads(data[start : start + size])
    payload = memoryview(data)[start + size :]
    rows, names = int(header["rows"]), list(header["columns"])
    arrays = 1 + len(names) + (header["lines"] == "array")
    if len(payload) != arrays * rows * _ITEM or sha256(payload).hexdigest() != header["sha256"]:
        raise ValueError("truncated or corrupt")

    def column(index: int) -> array:
        out = array("q")
        out.frombytes(payload[index * rows * _ITEM : (index + 1) * rows * _ITEM])
        return out

    lines = range(2, rows + 2) if header["lines"] == "contiguous" else column(1 + len(names))
    return Table(
        rel=rel,
        ts=column(0),
        columns={name: column(1 + i) for i, name in enumerate(names)},
        scales={name: int(scale) for name, scale in header["scales"].items()},
        lines=lines,
    )
