"""The parsed-table cache (``replay.domain.table_cache``): a dataset read back from it is the
same dataset, a changed CSV is parsed again, and a corrupt cache file is ignored."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from replay.domain.dataset import DatasetInvalid, load_dataset

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
COLUMNS = ("ts", "open", "high", "low", "close", "volume", "open_i", "high_i", "low_i",
           "close_i", "volume_i")  # fmt: skip


def _same(a, b) -> None:
    assert a.fingerprint == b.fingerprint and a.bar_count == b.bar_count
    assert a.rules == b.rules and a.books.keys() == b.books.keys()
    for symbol in a.symbols:
        left, right = a.series[symbol], b.series[symbol]
        assert all(getattr(left, c) == getattr(right, c) for c in COLUMNS), symbol
        assert (left.gaps, left.price_scale, left.volume_scale) == (
            right.gaps, right.price_scale, right.volume_scale,
        )  # fmt: skip


@pytest.mark.parametrize("name", ["try-1m", "usdt-5m"])
def test_a_dataset_read_back_from_the_cache_is_the_same_dataset(tmp_path, name) -> None:
    cache = tmp_path / "cache"
    parsed = load_dataset(SAMPLE / name)

    first = load_dataset(SAMPLE / name, cache_dir=cache)
    stored = sorted(cache.glob("*.table"))
    again = load_dataset(SAMPLE / name, cache_dir=cache)

    assert len(stored) == len(parsed.series)
    _same(first, parsed)
    _same(again, parsed)


def test_a_changed_csv_is_parsed_again_and_a_bad_one_still_refused(tmp_path) -> None:
    root = tmp_path / "ds"
    shutil.copytree(SAMPLE / "try-1m", root)
    cache = tmp_path / "cache"
    before = load_dataset(root, cache_dir=cache)
    csv = root / "candles" / "BTC_TRY.csv"
    lines = csv.read_text().splitlines()
    lines[2] = lines[2].replace(",", ",x", 1)  # the second row's open is no number now
    csv.write_text("\n".join(lines) + "\n")

    with pytest.raises(DatasetInvalid, match="BTC_TRY.csv:3"):
        load_dataset(root, cache_dir=cache)

    assert before.fingerprint  # the first load was served and cached, the edit was caught


def test_a_corrupt_or_truncated_cache_file_is_ignored(tmp_path) -> None:
    cache = tmp_path / "cache"
    parsed = load_dataset(SAMPLE / "try-1m", cache_dir=cache)
    files = sorted(cache.glob("*.table"))
    files[0].write_bytes(files[0].read_bytes()[:-8])  # truncated
    data = bytearray(files[1].read_bytes())
    data[-1] ^= 0xFF  # a flipped bit in the payload
    files[1].write_bytes(bytes(data))
    files[2].write_bytes(b"not a table")

    again = load_dataset(SAMPLE / "try-1m", cache_dir=cache)

    _same(again, parsed)
    assert load_dataset(SAMPLE / "try-1m", cache_dir=cache).fingerprint == parsed.fingerprint
