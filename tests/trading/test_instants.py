"""One time validator (``trading.domain.bounds.instant_ms``) at every entry point: a command
flag, an API query or body, a dataset row, a sandbox query parameter and an exchange payload
refuse a time out of ``datetime``'s range or out of 1970..2200 with the parameter's name,
never with an ``OverflowError`` or a 500. (The API's cases are in ``tests/api/test_instants.py``,
the sandbox's in ``tests/trading/sandbox/test_time_params.py``.)"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from replay.domain.dataset import DatasetInvalid, load_dataset
from trading.domain.bounds import MAX_INSTANT_MS, BoundError, instant, instant_ms
from trading.exchange.btcturk.parse import Node
from trading.exchange.errors import PayloadError

ROOT = Path(__file__).resolve().parents[2]
OUT_OF_RANGE = [  # also used by the API and sandbox tests
    "9999-12-31T23:59:59-05:00",  # past datetime.max once in UTC
    "0001-01-01T00:00:00+05:00",  # before datetime.min once in UTC
    "2200-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "99999999999999999999",
]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_the_validator_refuses_out_of_range_times_naming_the_parameter(text: str) -> None:
    with pytest.raises(BoundError, match=r"^--start=.*must be a time from 1970-01-01 up to 2200"):
        instant_ms("start", text, source="--start")


@given(st.datetimes(timezones=st.timezones()))
def test_any_datetime_is_either_a_time_in_range_or_refused(moment: datetime) -> None:
    try:
        millis = instant_ms("t", moment.isoformat())
    except BoundError as exc:
        assert "must be a time from 1970-01-01 up to 2200-01-01" in str(exc)
    else:
        assert 0 <= millis < MAX_INSTANT_MS
        assert instant("t", millis) == moment.astimezone(UTC).replace(
            microsecond=moment.microsecond // 1000 * 1000
        )


@pytest.mark.django_db
@pytest.mark.parametrize("flag", ["--start", "--end"])
@pytest.mark.parametrize("text", OUT_OF_RANGE[:2])
def test_backtest_time_flags_refuse_out_of_range_times(flag: str, text: str) -> None:
    from replay.models import BacktestRun
    from replay.services.datasets import dataset_import

    dataset_import(path=ROOT / "data" / "sample" / "usdt-5m", name="usdt")
    with pytest.raises(CommandError, match=f"^{flag}=.*must be a time from 1970"):
        call_command("backtest", "--dataset", "usdt", flag, text, stdout=io.StringIO())
    assert not BacktestRun.objects.exists()


def test_a_dataset_row_out_of_range_is_refused_with_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "candles").mkdir()
    (tmp_path / "candles" / "BTC_TRY.csv").write_text(
        "ts,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,1,1,1,1,1\n"
        "9999-12-31T23:59:59-05:00,1,1,1,1,1\n"
        "99999999999999999,1,1,1,1,1\n"
    )

    with pytest.raises(DatasetInvalid) as caught:
        load_dataset(tmp_path)

    lines = str(caught.value).splitlines()
    assert lines[0].startswith("candles/BTC_TRY.csv:3: column 'ts': '9999-12-31T23:59:59-05:00':")
    assert "must be a time from 1970-01-01 up to 2200" in lines[0]
    assert lines[1].startswith("candles/BTC_TRY.csv:4: column 'ts': '99999999999999999':")


def test_an_exchange_timestamp_past_the_bound_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="timestamp out of range"):
        Node(MAX_INSTANT_MS, "data.timestamp", "GET /api/v1/users/transactions/trade").ms()
