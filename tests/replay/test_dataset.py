"""Replay dataset reading and validation (pure; no database).

Every rejected case names the file (relative to the dataset root), the line (header = 1) and
the column, in the rendered form ``candles/BTC_TRY.csv:3: column 'high': ...``.
"""

from __future__ import annotations

import tempfile
from array import array
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replay.domain.dataset import (
    MAX_ERRORS,
    DatasetInvalid,
    Gap,
    ReplayDataset,
    load_dataset,
)
from trading.domain.symbols import Symbol

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MIN = 60_000
HEADER = "ts,open,high,low,close,volume"
BTC_TRY = Symbol("BTC", "TRY")
ETH_TRY = Symbol("ETH", "TRY")


def row(i: int, o: object, h: object, lo: object, c: object, v: object = 1) -> str:
    """A candle row ``i`` minutes after T0."""
    return f"{T0 + i * MIN},{o},{h},{lo},{c},{v}"


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "".join(f"{line}\n" for line in (header, *rows))


GOOD = csv_text(row(0, 10, 11, 9, 10.5), row(1, 10.5, 12, 10, 11, 2), row(2, 11, 11.5, 10.5, 11, 0))


def load(write_dataset, root: Path, files: dict[str, str]) -> ReplayDataset:
    return load_dataset(write_dataset(root, files))


def rejected(write_dataset, root: Path, files: dict[str, str]) -> DatasetInvalid:
    with pytest.raises(DatasetInvalid) as caught:
        load(write_dataset, root, files)
    return caught.value


def btc(*rows: str, header: str = HEADER) -> dict[str, str]:
    return {"candles/BTC_TRY.csv": csv_text(*rows, header=header)}


# --- rejected datasets: file, line, column --------------------------------------------------

INVALID = [
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, 10, 10, 11, 10)),
        "candles/BTC_TRY.csv:3: column 'high': high 10 is below low 11",
        id="high-below-low",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, 13, 12, 9, 10)),
        "candles/BTC_TRY.csv:3: column 'open': open 13 is outside [low 9, high 12]",
        id="open-above-high",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, 10, 12, 9, 8.5)),
        "candles/BTC_TRY.csv:3: column 'close': close 8.5 is outside [low 9, high 12]",
        id="close-below-low",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, 10, 11, 9, 10, -0.5)),
        "candles/BTC_TRY.csv:3: column 'volume': volume -0.5 is negative",
        id="negative-volume",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, 0, 0, 0, 0)),
        "candles/BTC_TRY.csv:3: column 'low': low 0 is not positive",
        id="zero-price",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, -1, 11, 9, 10)),
        "candles/BTC_TRY.csv:3: column 'open': open -1 is not positive",
        id="negative-price",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, 10, "abc", 9, 10)),
        "candles/BTC_TRY.csv:3: column 'high': 'abc' is not a number",
        id="non-numeric",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, 10, 11, 9, "nan")),
        "candles/BTC_TRY.csv:3: column 'close': 'nan' is not a finite number",
        id="nan",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, 10, 11, 9, 10, "inf")),
        "candles/BTC_TRY.csv:3: column 'volume': 'inf' is not a finite number",
        id="infinite",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, "", 11, 9, 10)),
        "candles/BTC_TRY.csv:3: column 'open': empty value",
        id="empty-value",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, "1_0", 11, 9, 10)),
        "candles/BTC_TRY.csv:3: column 'open': '1_0' is not a number",
        id="underscore-digits",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), "yesterday,10,11,9,10,1"),
        "candles/BTC_TRY.csv:3: column 'ts': 'yesterday' is neither epoch milliseconds nor ISO",
        id="unparseable-ts",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(2, 10, 11, 9, 10), row(1, 10, 11, 9, 10)),
        "candles/BTC_TRY.csv:4: column 'ts': ts 2024-01-01T00:01:00Z is before the previous"
        " row's 2024-01-01T00:02:00Z",
        id="unsorted-ts",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, 10, 11, 9, 10), row(1, 10, 11, 9, 10)),
        "candles/BTC_TRY.csv:4: column 'ts': duplicate ts 2024-01-01T00:01:00Z",
        id="duplicate-ts",
    ),
    pytest.param(
        btc(f"{T0},10,11,9,10", header="ts,open,high,low,close"),
        "candles/BTC_TRY.csv:1: column 'volume': missing required column",
        id="missing-column",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), f"{T0 + MIN},10,11,9"),
        "candles/BTC_TRY.csv:3: column 'close': missing value (row has 4 fields)",
        id="short-row",
    ),
    pytest.param(
        {"candles/BTC_TRY.csv": ""},
        "candles/BTC_TRY.csv:1: file is empty",
        id="empty-file",
    ),
    pytest.param(
        btc(),
        "candles/BTC_TRY.csv:2: no data rows after the header",
        id="header-only",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10)),
        "candles/BTC_TRY.csv: column 'ts': need at least 2 bars in one file to know the interval",
        id="single-bar",
    ),
    pytest.param(
        {"candles/BTC_TRY.csv": GOOD, "candles/btc_try.csv": GOOD},
        "candles/btc_try.csv: bad file name: a second file for BTC_TRY",
        id="two-files-for-one-pair",
    ),
    pytest.param(
        {"candles/BTC_TRY.csv": GOOD, "candles/BTCTRY.csv": GOOD},
        "candles/BTCTRY.csv: bad file name: expected <BASE>_<QUOTE>.csv",
        id="bad-file-name",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, "12345678901234567890", 11, 9, 10)),
        "candles/BTC_TRY.csv:3: column 'open': 12345678901234567890 has too many significant",
        id="too-many-digits",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, 922337203685477581, 11, 9, 10), row(2, 10, 11, 9, 1.5)),
        "candles/BTC_TRY.csv:3: column 'open': 922337203685477581 does not fit a 64-bit integer"
        " at 1 decimals",
        id="scale-overflows-earlier-values",
    ),
    pytest.param(
        btc(row(0, 922337203685477581, 11, 9, 10), row(1, 10.5, 11, 9, 10)),
        "candles/BTC_TRY.csv:3: column 'open': 10.5 has 1 decimals, at which earlier values"
        " no longer fit 64 bits",
        id="new-decimals-overflow-earlier-values",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), f"{2**63},10,11,9,10,1"),
        f"candles/BTC_TRY.csv:3: column 'ts': '{2**63}': must be a time from 1970-01-01 up to 2200",
        id="ts-out-of-range",
    ),
    pytest.param(
        btc(row(0, 10, 11, 9, 10), row(1, "1.1234567890123456789", 11, 1, 10)),
        "candles/BTC_TRY.csv:3: column 'open': '1.1234567890123456789' has more than 18 decimals",
        id="too-many-decimals",
    ),
    pytest.param(
        btc(
            row(0, 10, 11, 9, 10),
            row(1, 10, 11, 9, 10),
            f"{T0 + 150_000},10,11,9,10,1",
            f"{T0 + 210_000},10,11,9,10,1",
        ),
        "candles/BTC_TRY.csv:4: column 'ts': ts 2024-01-01T00:02:30Z is 90000 ms after the"
        " previous bar, not a multiple of the 60000 ms interval (misaligned bar)",
        id="misaligned-bar",
    ),
    pytest.param(
        {
            "candles/BTC_TRY.csv": GOOD,
            "candles/ETH_TRY.csv": csv_text(
                row(0, 10, 11, 9, 10), row(5, 10, 11, 9, 10), row(10, 10, 11, 9, 10)
            ),
        },
        "candles/ETH_TRY.csv:3: column 'ts': bar interval 300000 ms differs from the"
        " dataset's 60000 ms",
        id="different-interval",
    ),
    pytest.param(
        {"candles/BTC_TRY.csv": GOOD, "candles/ETH_USDT.csv": GOOD},
        "candles/ETH_USDT.csv: quote asset USDT differs from the dataset's TRY",
        id="mixed-quote-assets",
    ),
    pytest.param(
        {"candles/BTC_TRY.csv": GOOD, "book/BTC_TRY.csv": f"ts,bid,ask\n{T0},10.5,10.4\n"},
        "book/BTC_TRY.csv:2: column 'bid': bid 10.5 is above ask 10.4 (crossed book)",
        id="crossed-book",
    ),
    pytest.param(
        {"candles/BTC_TRY.csv": GOOD, "book/BTC_TRY.csv": f"ts,bid,ask\n{T0},10.5,0\n"},
        "book/BTC_TRY.csv:2: column 'ask': ask 0 is not positive",
        id="book-zero-ask",
    ),
    pytest.param(
        {
            "candles/BTC_TRY.csv": GOOD,
            "book/BTC_TRY.csv": f"ts,bid,ask\n{T0 + MIN},10,11\n{T0},10,11\n",
        },
        "book/BTC_TRY.csv:3: column 'ts': ts 2024-01-01T00:00:00Z is before",
        id="book-unsorted",
    ),
    pytest.param(
        {"candles/BTC_TRY.csv": GOOD, "book/BTC_TRY.csv": f"ts,bid\n{T0},10\n"},
        "book/BTC_TRY.csv:1: column 'ask': missing required column",
        id="book-missing-column",
    ),
    pytest.param(
        {"candles/BTC_TRY.csv": GOOD, "book/ETH_TRY.csv": f"ts,bid,ask\n{T0},10,11\n"},
        "book/ETH_TRY.csv: no candles/ETH_TRY.csv for this book",
        id="book-without-candles",
    ),
    pytest.param(
        {"candles/BTC_TRY.csv": GOOD, "exchangeinfo.json": '{"data":\n  {"symbols": [}\n}'},
        "exchangeinfo.json:2: malformed JSON: Expecting value",
        id="malformed-exchangeinfo",
    ),
    pytest.param(
        {"candles/BTC_TRY.csv": GOOD, "exchangeinfo.json": '{"data": {}}'},
        "exchangeinfo.json: exchangeinfo: 'data.symbols' is missing",
        id="exchangeinfo-without-symbols",
    ),
    pytest.param(
        {
            "candles/BTC_TRY.csv": GOOD,
            "exchangeinfo.json": '{"data": {"symbols": [{"nameNormalized": "BTC_TRY"}]}}',
        },
        "exchangeinfo.json: entry for BTC_TRY is invalid: numerator: missing",
        id="invalid-exchangeinfo-entry",
    ),
]


@pytest.mark.parametrize(("files", "expected"), INVALID)
def test_it_rejects_an_invalid_dataset_naming_file_line_and_column(
    write_dataset, tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    invalid = rejected(write_dataset, tmp_path, files)

    rendered = str(invalid).splitlines()
    assert any(line.startswith(expected) for line in rendered), rendered


def test_it_reports_one_error_per_problem_with_structured_fields(
    write_dataset, tmp_path: Path
) -> None:
    invalid = rejected(write_dataset, tmp_path, btc(row(0, 10, 11, 9, 10), row(1, 10, 10, 11, 10)))

    [error] = invalid.errors
    assert (error.path, error.line, error.column) == ("candles/BTC_TRY.csv", 3, "high")
    assert error.message == "high 10 is below low 11"
    assert invalid.truncated is False


def test_it_keeps_checking_other_rows_after_a_bad_row(write_dataset, tmp_path: Path) -> None:
    files = btc(row(0, 10, "x", 9, 10), row(1, 10, 11, 9, 10), row(2, 10, 11, 9, 10, -1))

    invalid = rejected(write_dataset, tmp_path, files)

    assert [(e.line, e.column) for e in invalid.errors] == [(2, "high"), (4, "volume")]


def test_it_stops_after_twenty_errors(write_dataset, tmp_path: Path) -> None:
    rows = [row(i, 10, 10, 11, 10) for i in range(MAX_ERRORS + 10)]

    invalid = rejected(write_dataset, tmp_path, btc(*rows))

    assert len(invalid.errors) == MAX_ERRORS == 20
    assert invalid.truncated is True
    assert str(invalid).splitlines()[-1] == "(stopped after 20 errors)"


def test_it_counts_lines_across_blank_lines(write_dataset, tmp_path: Path) -> None:
    text = f"{HEADER}\n{row(0, 10, 11, 9, 10)}\n\n{row(1, 10, 10, 11, 10)}\n"

    invalid = rejected(write_dataset, tmp_path, {"candles/BTC_TRY.csv": text})

    assert [(e.line, e.column) for e in invalid.errors] == [(4, "high")]


def test_it_rejects_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetInvalid) as caught:
        load_dataset(tmp_path / "absent")

    assert str(caught.value).startswith(".: dataset directory ")
    assert str(caught.value).endswith("absent does not exist")


def test_it_rejects_a_directory_without_candle_files(write_dataset, tmp_path: Path) -> None:
    invalid = rejected(write_dataset, tmp_path, {"README.md": "no data"})

    assert str(invalid) == "candles/: no candles/<BASE>_<QUOTE>.csv files"


def test_it_rejects_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "candles").mkdir()
    (tmp_path / "candles" / "BTC_TRY.csv").write_bytes(b"ts,open\n\xff\xfe\n")

    with pytest.raises(DatasetInvalid) as caught:
        load_dataset(tmp_path)

    assert str(caught.value).startswith("candles/BTC_TRY.csv: not UTF-8 text")


# --- files the dataset may not read: links out, special files, sizes -----------------------

SECRET = "DJANGO_SECRET_KEY=planted-secret-do-not-echo"


def secrets_file(tmp_path: Path) -> Path:
    """A file outside the dataset that must never be read into an error."""
    outside = tmp_path / "outside"
    outside.mkdir()
    path = outside / "secrets.env"
    path.write_text(f"{SECRET}\n")
    return path


def refusal(dataset: Path) -> str:
    with pytest.raises(DatasetInvalid) as caught:
        load_dataset(dataset)
    text = str(caught.value)
    assert SECRET not in text and "planted" not in text
    return text


def test_a_candle_symlink_out_of_the_dataset_is_refused_without_echoing_it(
    write_dataset, tmp_path: Path
) -> None:
    root = write_dataset(tmp_path / "ds", btc(row(0, 10, 11, 9, 10), row(1, 10, 11, 9, 10)))
    (root / "candles" / "ETH_TRY.csv").symlink_to(secrets_file(tmp_path))

    assert refusal(root) == (
        "candles/ETH_TRY.csv: refused: a symbolic link that leads outside the dataset"
    )


def test_a_candles_folder_linked_out_of_the_dataset_is_refused(tmp_path: Path) -> None:
    secrets = secrets_file(tmp_path)
    secrets.rename(secrets.with_name("BTC_TRY.csv"))
    root = tmp_path / "ds"
    root.mkdir()
    (root / "candles").symlink_to(secrets.parent, target_is_directory=True)

    assert refusal(root) == (
        "candles/BTC_TRY.csv: refused: a symbolic link that leads outside the dataset"
    )


def test_a_link_inside_the_dataset_is_followed(write_dataset, tmp_path: Path) -> None:
    root = write_dataset(
        tmp_path / "ds", {"raw/btc.csv": csv_text(row(0, 10, 11, 9, 10), row(1, 10, 11, 9, 10))}
    )
    (root / "candles").mkdir()
    (root / "candles" / "BTC_TRY.csv").symlink_to(root / "raw" / "btc.csv")

    assert load_dataset(root).bar_count == 2


def test_an_exchangeinfo_symlink_out_of_the_dataset_is_refused(
    write_dataset, tmp_path: Path
) -> None:
    root = write_dataset(tmp_path / "ds", btc(row(0, 10, 11, 9, 10), row(1, 10, 11, 9, 10)))
    (root / "exchangeinfo.json").symlink_to(secrets_file(tmp_path))

    assert refusal(root) == (
        "exchangeinfo.json: refused: a symbolic link that leads outside the dataset"
    )


def test_a_dangling_link_is_refused(write_dataset, tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "ds", btc(row(0, 10, 11, 9, 10), row(1, 10, 11, 9, 10)))
    (root / "candles" / "ETH_TRY.csv").symlink_to(root / "candles" / "gone.csv")

    assert refusal(root) == (
        "candles/ETH_TRY.csv: refused: a symbolic link to a file that does not exist"
    )


def test_a_fifo_is_refused_before_it_could_block_the_load(write_dataset, tmp_path: Path) -> None:
    import os

    root = write_dataset(tmp_path / "ds", btc(row(0, 10, 11, 9, 10), row(1, 10, 11, 9, 10)))
    os.mkfifo(root / "candles" / "ETH_TRY.csv")  # no writer: a plain open() would hang

    assert refusal(root) == "candles/ETH_TRY.csv: refused: a FIFO, not a regular file"


def test_a_directory_or_a_device_named_like_a_candle_file_is_refused(
    write_dataset, tmp_path: Path
) -> None:
    root = write_dataset(tmp_path / "ds", btc(row(0, 10, 11, 9, 10), row(1, 10, 11, 9, 10)))
    (root / "candles" / "ETH_TRY.csv").mkdir()
    (root / "candles" / "XRP_TRY.csv").symlink_to("/dev/null")  # also leaves the dataset
    (root / "exchangeinfo.json").mkdir()

    assert refusal(root).splitlines() == [
        "candles/ETH_TRY.csv: refused: a directory, not a regular file",
        "candles/XRP_TRY.csv: refused: a symbolic link that leads outside the dataset",
        "exchangeinfo.json: refused: a directory, not a regular file",
    ]


def test_oversized_files_and_fields_are_refused(write_dataset, tmp_path: Path, monkeypatch) -> None:
    from replay.domain import dataset, dataset_csv

    root = write_dataset(
        tmp_path / "ds",
        {
            **btc(
                row(0, 10, 11, 9, 10),
                f"{T0 + MIN},{'1' * 2000},11,9,10,1",
                row(2, 10, 11, 9, 10),
                row(3, 10, 11, 9, 10),
            ),
            "candles/ETH_TRY.csv": csv_text(*(row(i, 10, 11, 9, 10) for i in range(200))),
            "exchangeinfo.json": '{"data": {"symbols": []}}' + " " * 200,
        },
    )
    monkeypatch.setattr(dataset_csv, "MAX_FILE_BYTES", 3000)
    monkeypatch.setattr(dataset, "EXCHANGEINFO_MAX_BYTES", 100)

    assert refusal(root).splitlines() == [
        "candles/BTC_TRY.csv:3: a field of 2000 characters, over the 1024 limit",
        "candles/ETH_TRY.csv: refused: 5430 bytes, over the 3000 byte limit",
        "exchangeinfo.json: refused: 225 bytes, over the 100 byte limit",
    ]


def test_a_field_the_csv_module_refuses_ends_the_file_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "candles").mkdir()
    huge = "x" * 200_000  # over the csv module's own 131,072 character limit
    (tmp_path / "candles" / "BTC_TRY.csv").write_text(
        f'{HEADER}\n{row(0, 10, 11, 9, 10)}\n{T0 + MIN},"{huge}",1,1,1,1\n'
    )

    assert refusal(tmp_path).startswith("candles/BTC_TRY.csv:3: unreadable CSV row (field larger")


# --- accepted datasets ---------------------------------------------------------------------


def test_it_loads_a_valid_dataset_in_symbol_order(write_dataset, tmp_path: Path) -> None:
    dataset = load(
        write_dataset, tmp_path, {"candles/ETH_TRY.csv": GOOD, "candles/BTC_TRY.csv": GOOD}
    )

    assert list(dataset.series) == [BTC_TRY, ETH_TRY]
    assert dataset.path == tmp_path.resolve()
    assert dataset.quote_asset == "TRY"
    assert dataset.interval_ms == MIN
    assert (dataset.first_ts, dataset.last_ts, dataset.bar_count) == (T0, T0 + 2 * MIN, 6)
    series = dataset.series[BTC_TRY]
    assert len(series) == 3
    assert series.ts == array("q", [T0, T0 + MIN, T0 + 2 * MIN])
    assert series.close == array("d", [10.5, 11.0, 11.0])
    assert series.gaps == ()


GAPPY_MINUTES = [
    pytest.param([0, 1, 2, 5, 6, 9], (Gap(T0 + 3 * MIN, 2), Gap(T0 + 7 * MIN, 2)), id="two-gaps"),
    pytest.param([0, 1, 2, 3, 10], (Gap(T0 + 4 * MIN, 6),), id="one-long-gap"),
    pytest.param([0, 1, 2, 3], (), id="no-gap"),
]


@pytest.mark.parametrize(("minutes", "gaps"), GAPPY_MINUTES)
def test_it_reports_gaps_with_missing_bar_counts(
    write_dataset, tmp_path: Path, minutes: list[int], gaps: tuple[Gap, ...]
) -> None:
    files = btc(*(row(m, 10, 11, 9, 10) for m in minutes))

    series = load(write_dataset, tmp_path, files).series[BTC_TRY]

    assert series.gaps == gaps
    assert series.missing_bars == sum(gap.missing_bars for gap in gaps)
    assert series.interval_ms == MIN


TIMESTAMP_SPELLINGS = [
    pytest.param((str(T0), str(T0 + MIN), str(T0 + 2 * MIN)), id="epoch-ms"),
    pytest.param(
        ("2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"), id="iso-z"
    ),
    pytest.param(
        ("2024-01-01T03:00:00+03:00", "2024-01-01T03:01:00+03:00", "2024-01-01T00:02:00+00:00"),
        id="iso-offset",
    ),
    pytest.param(
        ("2024-01-01 00:00:00", "2024-01-01T00:01:00", "2024-01-01T00:02:00.000"),
        id="iso-naive-is-utc",
    ),
]


@pytest.mark.parametrize("stamps", TIMESTAMP_SPELLINGS)
def test_it_reads_epoch_and_iso_timestamps_as_the_same_series(
    write_dataset, tmp_path: Path, stamps: tuple[str, ...]
) -> None:
    rows = [f"{stamp},10,11,9,10,1" for stamp in stamps]

    series = load(write_dataset, tmp_path, btc(*rows)).series[BTC_TRY]

    assert series.ts == array("q", [T0, T0 + MIN, T0 + 2 * MIN])


PRICE_SPELLINGS = [
    pytest.param("353137.00000000", Decimal("353137"), 0, id="trailing-zeros-scale-0"),
    pytest.param("19.050", Decimal("19.05"), 2, id="trailing-zero"),
    pytest.param("0.00012345", Decimal("0.00012345"), 8, id="small"),
    pytest.param("42488", Decimal("42488"), 0, id="integer"),
    pytest.param("1e-8", Decimal("0.00000001"), 8, id="exponent-small"),
    pytest.param("1.5E+3", Decimal("1500"), 0, id="exponent-large"),
    pytest.param(" 7.25 ", Decimal("7.25"), 2, id="padded"),
    pytest.param("123456789.123456789", Decimal("123456789.123456789"), 9, id="18-digits"),
]


@pytest.mark.parametrize(("text", "value", "scale"), PRICE_SPELLINGS)
def test_it_keeps_prices_exact_with_normalised_scale(
    write_dataset, tmp_path: Path, text: str, value: Decimal, scale: int
) -> None:
    files = btc(f"{T0},{text},{text},{text},{text},{text}", row(1, text, text, text, text, text))

    series = load(write_dataset, tmp_path, files).series[BTC_TRY]

    assert series.price_scale == series.volume_scale == scale
    bar = series.bar(1)
    assert bar.open == bar.high == bar.low == bar.close == bar.volume == value
    assert series.close_decimal(0) == series.open_decimal(0) == value
    assert series.close_i[0] == int(value.scaleb(scale))
    assert series.close[0] == float(value)
    assert series.largest_close_i == max(series.close_i)  # the equity bound, found at load


def test_it_scales_a_file_to_the_most_decimals_of_its_price_columns(
    write_dataset, tmp_path: Path
) -> None:
    files = btc(
        row(0, "353137.00000000", "353398.5", "352657.25", "353000.125", "0.48821000"),
        row(1, "353000", "353001", "352999", "353000", "2"),
    )

    series = load(write_dataset, tmp_path, files).series[BTC_TRY]

    assert (series.price_scale, series.volume_scale) == (3, 5)
    assert list(series.open_i) == [353_137_000, 353_000_000]
    assert list(series.high_i) == [353_398_500, 353_001_000]
    assert list(series.volume_i) == [48821, 200000]
    first = series.bar(0)
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        Decimal("353137"),
        Decimal("353398.5"),
        Decimal("352657.25"),
        Decimal("353000.125"),
        Decimal("0.48821"),
    )
    assert first.ts_ms == T0


@settings(max_examples=40, deadline=None)
@given(
    prices=st.lists(
        st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1000000"), places=8),
        min_size=2,
        max_size=6,
    )
)
def test_it_round_trips_any_8_decimal_price_exactly(prices: list[Decimal]) -> None:
    rows = [row(i, p, p, p, p, p) for i, p in enumerate(prices)]
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "candles").mkdir()
        (Path(root) / "candles" / "BTC_TRY.csv").write_text(csv_text(*rows))
        series = load_dataset(Path(root)).series[BTC_TRY]

    assert [series.close_decimal(i) for i in range(len(prices))] == prices
    assert list(series.close) == [float(p) for p in prices]


def test_it_ignores_extra_columns_column_order_case_and_a_bom(
    write_dataset, tmp_path: Path
) -> None:
    text = "\ufeffVolume, Close ,TS,low,HIGH,open,extra\n" + "".join(
        f"{v},{c},{T0 + i * MIN},{lo},{h},{o},anything\n"
        for i, (o, h, lo, c, v) in enumerate([(10, 11, 9, 10.5, 1), (10.5, 12, 10, 11, 2)])
    )

    series = load(write_dataset, tmp_path, {"candles/BTC_TRY.csv": text}).series[BTC_TRY]

    assert [series.bar(i).close for i in range(2)] == [Decimal("10.5"), Decimal("11")]
    assert list(series.volume) == [1.0, 2.0]


def test_it_gives_a_window_over_closed_bars(write_dataset, tmp_path: Path) -> None:
    series = load(write_dataset, tmp_path, {"candles/BTC_TRY.csv": GOOD}).series[BTC_TRY]

    window = series.window(2)

    assert (window.count, window.interval_ms, window.last_ts()) == (2, MIN, T0 + MIN)
    assert window.last_close() == 11.0
    assert list(window.closes(5)) == [10.5, 11.0]
    with pytest.raises(ValueError, match="window end 4 outside 0..3"):
        series.window(4)


def test_it_loads_an_optional_book_exactly(write_dataset, tmp_path: Path) -> None:
    book_text = f"ts,bid,ask\n{T0},10.45,10.5\n2024-01-01T00:00:30Z,10.4,10.41\n"
    dataset = load(
        write_dataset, tmp_path, {"candles/BTC_TRY.csv": GOOD, "book/BTC_TRY.csv": book_text}
    )

    book = dataset.books[BTC_TRY]
    assert len(book) == 2
    assert list(book.ts) == [T0, T0 + 30_000]
    assert book.price_scale == 2
    assert (book.bid_decimal(0), book.ask_decimal(0)) == (Decimal("10.45"), Decimal("10.5"))
    assert (book.bid_decimal(1), book.ask_decimal(1)) == (Decimal("10.4"), Decimal("10.41"))


def test_it_applies_documented_default_rules_without_exchangeinfo(
    write_dataset, tmp_path: Path
) -> None:
    dataset = load(write_dataset, tmp_path, {"candles/BTC_TRY.csv": GOOD})

    rules = dataset.rules[BTC_TRY]
    assert dataset.rules_source == {BTC_TRY: "default"}
    assert rules.tick_size == Decimal("0.1")  # GOOD has 1 price decimal
    assert rules.step_size == Decimal("0.00000001")
    assert rules.min_notional == Decimal("10")
    assert (rules.min_price, rules.max_price) == (None, None)


def test_its_fingerprint_covers_the_files_it_uses_and_nothing_else(
    write_dataset, tmp_path: Path
) -> None:
    files = {"candles/BTC_TRY.csv": GOOD}
    base = load(write_dataset, tmp_path / "a", files).fingerprint
    moved = load(write_dataset, tmp_path / "b", files).fingerprint
    with_readme = load(write_dataset, tmp_path / "c", {**files, "README.md": "notes"}).fingerprint
    changed = load(
        write_dataset, tmp_path / "d", {"candles/BTC_TRY.csv": GOOD.replace("10.5", "10.4", 1)}
    ).fingerprint
    with_rules = load(
        write_dataset, tmp_path / "e", {**files, "exchangeinfo.json": '{"data": {"symbols": []}}'}
    ).fingerprint

    assert len(base) == 64
    assert base == moved == with_readme
    assert len({base, changed, with_rules}) == 3


# --- bundled samples -----------------------------------------------------------------------

SAMPLES = [
    pytest.param(
        "try-1m",
        ["AVAX_TRY", "BTC_TRY", "ETH_TRY", "USDT_TRY"],
        1000,
        60_000,
        "TRY",
        (1_667_946_780_000, 1_667_946_780_000 + 1001 * MIN),
        id="try-1m",
    ),
    pytest.param(
        "usdt-5m",
        ["AVAX_USDT", "BTC_USDT", "ETH_USDT", "SOL_USDT"],
        26_208,
        300_000,
        "USDT",
        (T0, 1_711_929_300_000),
        id="usdt-5m",
    ),
]


@pytest.mark.parametrize(("name", "symbols", "rows", "interval", "quote", "span"), SAMPLES)
def test_it_loads_the_bundled_samples(
    sample_dir: Path,
    name: str,
    symbols: list[str],
    rows: int,
    interval: int,
    quote: str,
    span: tuple[int, int],
) -> None:
    dataset = load_dataset(sample_dir / name)

    assert [str(s) for s in dataset.series] == symbols
    assert {len(series) for series in dataset.series.values()} == {rows}
    assert dataset.bar_count == rows * len(symbols)
    assert (dataset.interval_ms, dataset.quote_asset) == (interval, quote)
    assert (dataset.first_ts, dataset.last_ts) == span
    assert all(series.gaps == () for series in dataset.series.values())
    assert dataset.books == {}


SAMPLE_RULES = [
    pytest.param(
        "BTC_TRY", "exchangeinfo", "10", "99.91", "0.00000001", id="btc-from-exchangeinfo"
    ),
    pytest.param("ETH_TRY", "default", "1", "10", "0.00000001", id="eth-default"),
    pytest.param("USDT_TRY", "default", "0.01", "10", "0.00000001", id="usdt-default"),
    pytest.param("AVAX_TRY", "default", "0.1", "10", "0.00000001", id="avax-default"),
]


@pytest.mark.parametrize(("pair", "source", "tick", "min_notional", "step"), SAMPLE_RULES)
def test_it_takes_rules_from_exchangeinfo_and_defaults_the_rest(
    sample_dir: Path, pair: str, source: str, tick: str, min_notional: str, step: str
) -> None:
    dataset = load_dataset(sample_dir / "try-1m")
    symbol = Symbol(*pair.split("_"))

    rules = dataset.rules[symbol]
    assert dataset.rules_source[symbol] == source
    assert rules.tick_size == Decimal(tick)
    assert rules.min_notional == Decimal(min_notional)
    assert rules.step_size == Decimal(step)


def test_the_try_sample_btc_rules_carry_the_recorded_price_band(sample_dir: Path) -> None:
    rules = load_dataset(sample_dir / "try-1m").rules[BTC_TRY]

    assert (rules.min_price, rules.max_price) == (Decimal("58387.9"), Decimal("5838790.0"))


def test_the_try_sample_keeps_the_first_btc_candle_exact(sample_dir: Path) -> None:
    series = load_dataset(sample_dir / "try-1m").series[BTC_TRY]

    bar = series.bar(0)
    assert bar.ts_ms == 1_667_946_780_000
    assert (bar.open, bar.high, bar.low, bar.close) == (
        Decimal("353137"),
        Decimal("353398"),
        Decimal("352657"),
        Decimal("352657"),
    )
    assert bar.volume == Decimal("0.48821")
    assert series.price_scale == 0


def test_a_socket_named_like_a_candle_file_is_refused(write_dataset, tmp_path: Path) -> None:
    import socket

    root = write_dataset(tmp_path / "ds", btc(row(0, 10, 11, 9, 10), row(1, 10, 11, 9, 10)))
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(root / "candles" / "ETH_TRY.csv"))

        assert refusal(root) == "candles/ETH_TRY.csv: refused: a socket, not a regular file"


def test_a_device_inside_the_dataset_is_refused(write_dataset, tmp_path: Path) -> None:
    import os
    import stat

    root = write_dataset(tmp_path / "ds", btc(row(0, 10, 11, 9, 10), row(1, 10, 11, 9, 10)))
    try:  # the null device's numbers; creating a device node needs root (CI runs as root)
        os.mknod(root / "candles" / "ETH_TRY.csv", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root")

    assert refusal(root) == ("candles/ETH_TRY.csv: refused: a character device, not a regular file")
