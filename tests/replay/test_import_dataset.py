"""``import_dataset`` command and the dataset services, against the database."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meva.errors import ApplicationError
from replay.models import Dataset, DatasetSeries
from replay.services.datasets import (
    DatasetChanged,
    DatasetConflict,
    DatasetRejected,
    ImportOutcome,
    dataset_import,
    dataset_load,
)
from trading.domain.symbols import Symbol

pytestmark = pytest.mark.django_db

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MIN = 60_000
HEADER = "ts,open,high,low,close,volume\n"


def candles(minutes: list[int], close: str = "10.5") -> str:
    return HEADER + "".join(f"{T0 + m * MIN},10,11,9,{close},1\n" for m in minutes)


FILES = {
    "candles/BTC_TRY.csv": candles([0, 1, 2, 5]),
    "candles/ETH_TRY.csv": candles([0, 1, 2, 3]),
}


def run(path: Path, name: str, *extra: str) -> str:
    out = StringIO()
    call_command("import_dataset", str(path), "--name", name, *extra, stdout=out)
    return out.getvalue()


def writes(queries: CaptureQueriesContext) -> list[str]:
    verbs = ("INSERT", "UPDATE", "DELETE")
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith(verbs)]


def test_it_registers_a_dataset_with_one_series_row_per_symbol(
    write_dataset, tmp_path: Path
) -> None:
    root = write_dataset(tmp_path, FILES)

    output = run(root, "demo")

    dataset = Dataset.objects.get(name="demo")
    assert dataset.path == str(root.resolve())
    assert len(dataset.fingerprint) == 64
    assert (dataset.quote_asset, dataset.interval_ms, dataset.bar_count) == ("TRY", MIN, 8)
    assert dataset.first_ts == datetime(2024, 1, 1, tzinfo=UTC)
    assert dataset.last_ts == datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    assert (dataset.has_book, dataset.rules_source) == (False, "defaults")
    btc, eth = dataset.series.order_by("symbol")
    assert (btc.symbol, btc.bars, btc.gap_count, btc.missing_bars) == ("BTC_TRY", 4, 1, 2)
    assert btc.gaps == [["2024-01-01T00:03:00Z", 2]]
    assert btc.rules["source"] == "default"
    assert btc.rules["tick_size"] == "0.1"
    assert (eth.symbol, eth.bars, eth.gap_count) == ("ETH_TRY", 4, 0)
    lines = output.splitlines()
    assert lines[0].startswith("created dataset 'demo': 2 symbols, 8 bars of 60s, quote TRY")
    assert lines[1] == (
        "  BTC_TRY: 2024-01-01T00:00Z..2024-01-01T00:05Z, 4 bars, 1 gaps (2 missing), rules default"
    )
    assert len(lines) == 3


def test_it_records_exchangeinfo_rules_of_the_try_sample(sample_dir: Path) -> None:
    run(sample_dir / "try-1m", "sample-try-1m")

    dataset = Dataset.objects.get(name="sample-try-1m")
    assert dataset.rules_source == "exchangeinfo.json+defaults"
    assert dataset.bar_count == 4000
    btc = dataset.series.get(symbol="BTC_TRY")
    assert btc.rules["source"] == "exchangeinfo"
    assert (btc.rules["tick_size"], btc.rules["min_notional"]) == ("10.00", "99.91")
    assert dataset.series.get(symbol="USDT_TRY").rules["tick_size"] == "0.01"


def test_reimporting_the_same_files_is_a_no_op(write_dataset, tmp_path: Path) -> None:
    root = write_dataset(tmp_path, FILES)
    run(root, "demo")
    before = Dataset.objects.get(name="demo")

    with CaptureQueriesContext(connection) as queries:
        output = run(root, "demo")

    assert writes(queries) == []
    assert output.startswith("unchanged dataset 'demo'")
    after = Dataset.objects.get(name="demo")
    assert (after.pk, after.imported_at, after.fingerprint) == (
        before.pk,
        before.imported_at,
        before.fingerprint,
    )
    assert DatasetSeries.objects.filter(dataset=after).count() == 2


def test_changed_files_without_replace_are_refused_and_keep_the_old_row(
    write_dataset, tmp_path: Path
) -> None:
    root = write_dataset(tmp_path, FILES)
    run(root, "demo")
    before = Dataset.objects.get(name="demo")
    write_dataset(root, {"candles/BTC_TRY.csv": candles([0, 1, 2, 3], close="10.25")})

    with pytest.raises(CommandError, match="re-import with --replace"):
        run(root, "demo")

    after = Dataset.objects.get(name="demo")
    assert after.fingerprint == before.fingerprint
    assert after.series.get(symbol="BTC_TRY").gap_count == 1


def test_replace_updates_the_row_and_recreates_its_series(write_dataset, tmp_path: Path) -> None:
    root = write_dataset(tmp_path, FILES)
    run(root, "demo")
    before = Dataset.objects.get(name="demo")
    write_dataset(
        root,
        {
            "candles/BTC_TRY.csv": candles([0, 1, 2, 3]),
            "candles/SOL_TRY.csv": candles([0, 1, 2, 3, 4]),
        },
    )

    output = run(root, "demo", "--replace")

    after = Dataset.objects.get(name="demo")
    assert output.startswith("replaced dataset 'demo': 3 symbols, 13 bars")
    assert after.pk == before.pk
    assert after.fingerprint != before.fingerprint
    assert after.bar_count == 13
    rows = {s.symbol: (s.bars, s.gap_count) for s in after.series.all()}
    assert rows == {"BTC_TRY": (4, 0), "ETH_TRY": (4, 0), "SOL_TRY": (5, 0)}


def test_an_invalid_dataset_names_file_and_line_and_writes_nothing(
    write_dataset, tmp_path: Path
) -> None:
    root = write_dataset(
        tmp_path,
        {
            "candles/BTC_TRY.csv": candles([0, 1]),
            "candles/ETH_TRY.csv": HEADER + f"{T0},10,11,9,10,1\n{T0 + MIN},10,10,11,10,1\n",
        },
    )

    with CaptureQueriesContext(connection) as queries, pytest.raises(CommandError) as caught:
        run(root, "demo")

    assert "candles/ETH_TRY.csv:3: column 'high': high 10 is below low 11" in str(caught.value)
    assert writes(queries) == []
    assert not Dataset.objects.exists()
    assert not DatasetSeries.objects.exists()


@pytest.mark.parametrize("name", ["has space", "slash/name", ""])
def test_it_refuses_a_name_that_is_not_a_slug(write_dataset, tmp_path: Path, name: str) -> None:
    root = write_dataset(tmp_path, FILES)

    with pytest.raises(CommandError, match="must be a slug"):
        run(root, name)

    assert not Dataset.objects.exists()


def test_the_service_reports_each_outcome(write_dataset, tmp_path: Path) -> None:
    root = write_dataset(tmp_path, FILES)

    first = dataset_import(path=root, name="demo")
    second = dataset_import(path=root, name="demo")
    write_dataset(root, {"candles/ETH_TRY.csv": candles([0, 1, 2])})
    with pytest.raises(DatasetConflict):
        dataset_import(path=root, name="demo")
    third = dataset_import(path=root, name="demo", replace=True)

    assert [r.outcome for r in (first, second, third)] == [
        ImportOutcome.CREATED,
        ImportOutcome.UNCHANGED,
        ImportOutcome.REPLACED,
    ]
    assert [s.symbol for s in third.series] == ["BTC_TRY", "ETH_TRY"]
    assert issubclass(DatasetConflict, ApplicationError)


def test_the_service_carries_validation_errors(write_dataset, tmp_path: Path) -> None:
    root = write_dataset(tmp_path, {"candles/BTC_TRY.csv": HEADER + f"{T0},10,x,9,10,1\n"})

    with pytest.raises(DatasetRejected) as caught:
        dataset_import(path=root, name="demo")

    [error] = caught.value.errors
    assert (error.path, error.line, error.column) == ("candles/BTC_TRY.csv", 2, "high")


def test_loading_a_registered_dataset_checks_its_fingerprint(write_dataset, tmp_path: Path) -> None:
    root = write_dataset(tmp_path, FILES)
    dataset = dataset_import(path=root, name="demo").dataset

    loaded = dataset_load(dataset)
    write_dataset(root, {"candles/ETH_TRY.csv": candles([0, 1, 2], close="10.75")})

    assert loaded.fingerprint == dataset.fingerprint
    assert list(loaded.series) == [Symbol("BTC", "TRY"), Symbol("ETH", "TRY")]
    with pytest.raises(DatasetChanged, match="re-import with --replace"):
        dataset_load(dataset)
