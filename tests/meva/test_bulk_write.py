"""``meva.bulk_write.rows_write``: rows streamed by COPY (PostgreSQL) or executemany (SQLite)
read back exactly as the ORM would have saved them, in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from meva.bulk_write import JsonText, json_text, rows_write
from replay.models import BacktestCycle, BacktestFill, BacktestRun, Dataset

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def run(db) -> BacktestRun:
    dataset = Dataset.objects.create(
        name="d", path="/d", fingerprint="f" * 64, quote_asset="USDT", interval_ms=60_000,
        first_ts=T0, last_ts=T0, bar_count=1, rules_source="defaults",
    )  # fmt: skip
    return BacktestRun.objects.create(
        dataset=dataset, dataset_fingerprint="f" * 64, strategy="sma_cross", params={},
        risk_limits={}, fill_model="bar", fee_maker_bps=Decimal(10), fee_taker_bps=Decimal(10),
        initial_cash=Decimal(1000),
    )  # fmt: skip


CYCLE_FIELDS = (
    "run_id", "seq", "ts", "mode", "mode_reasons", "equity", "cash", "drawdown_pct", "universe",
    "intents", "orders", "denials", "fills", "events",
)  # fmt: skip


def _cycle(run: BacktestRun, seq: int, **changes) -> tuple:
    row = {
        "run_id": run.pk, "seq": seq, "ts": datetime(2024, 1, 1, 0, seq, 30, 123000, tzinfo=UTC),
        "mode": "NORMAL", "mode_reasons": [], "equity": Decimal("1000.123456789012"),
        "cash": Decimal("0.00000001"), "drawdown_pct": Decimal("1.234567"),
        "universe": ["BTC_USDT"], "intents": [{"side": "buy", "quantity": "0.1", "note": "ü\\n"}],
        "orders": [], "denials": [{"code": "MIN_NOTIONAL"}], "fills": 2,
        "events": ["universe SYMBOL_ADDED BTC_USDT"],
    }  # fmt: skip
    row.update(changes)
    return tuple(row[name] for name in CYCLE_FIELDS)


@pytest.mark.django_db(transaction=True)
def test_rows_read_back_exactly_as_written(run) -> None:
    shared = JsonText('["BTC_USDT", "ETH_USDT"]')
    rows = [_cycle(run, 0), _cycle(run, 1), _cycle(run, 2, universe=shared)]
    written = rows_write(BacktestCycle, CYCLE_FIELDS, rows)

    assert written == 3
    rows = list(BacktestCycle.objects.filter(run=run).order_by("seq"))
    assert [r.seq for r in rows] == [0, 1, 2]
    first = rows[1]
    assert first.ts == datetime(2024, 1, 1, 0, 1, 30, 123000, tzinfo=UTC)
    assert first.mode_reasons == [] and first.universe == ["BTC_USDT"]
    assert first.intents == [{"side": "buy", "quantity": "0.1", "note": "ü\\n"}]
    assert first.denials == [{"code": "MIN_NOTIONAL"}] and first.fills == 2
    assert rows[2].universe == ["BTC_USDT", "ETH_USDT"]  # given as pre-encoded JsonText
    assert first.events == ["universe SYMBOL_ADDED BTC_USDT"]
    assert first.drawdown_pct == Decimal("1.234567")
    assert first.cash == Decimal("0.00000001")
    # exact on PostgreSQL (NUMERIC); SQLite keeps 15 significant digits (REAL), as the ORM does
    assert abs(first.equity - Decimal("1000.123456789012")) < Decimal("1e-11")


@pytest.mark.django_db(transaction=True)
def test_a_bad_row_raises_and_the_transaction_keeps_nothing(run) -> None:
    rows = [_cycle(run, 0), _cycle(run, 1), _cycle(run, 1)]  # (run, seq) is unique

    with pytest.raises(IntegrityError), transaction.atomic():
        rows_write(BacktestCycle, CYCLE_FIELDS, rows)

    assert not BacktestCycle.objects.filter(run=run).exists()


@pytest.mark.django_db(transaction=True)
def test_many_rows_cross_the_chunk_size_and_foreign_keys_take_their_attribute_name(run) -> None:
    fields = ("run_id", "trade_id", "client_order_id", "symbol", "side", "price", "quantity",
              "fee", "fee_asset", "liquidity", "ts")  # fmt: skip
    rows = (
        (run.pk, str(i), f"c{i}", "BTC_USDT", "buy", Decimal("42000.5"), Decimal("0.001"),
         Decimal("0.042"), "USDT", "taker", T0)
        for i in range(12_001)
    )  # fmt: skip

    assert rows_write(BacktestFill, fields, rows) == 12_001
    assert BacktestFill.objects.filter(run=run).count() == 12_001
    last = BacktestFill.objects.get(run=run, trade_id="12000")
    assert (last.price, last.quantity, last.ts) == (Decimal("42000.5"), Decimal("0.001"), T0)


def test_json_text_shortcuts_only_the_empty_list_and_pre_encoded_text() -> None:
    assert json_text(JsonText('["BTC_USDT"]')) == '["BTC_USDT"]'
    assert json_text('["BTC_USDT"]') == '"[\\"BTC_USDT\\"]"'  # a plain str is a JSON string
    assert json_text([]) == "[]"
    assert json_text({}) == "{}"
    assert json_text(None) is None
    assert json_text(["a", {"b": 1}]) == '["a", {"b": 1}]'


@pytest.mark.django_db(transaction=True)
def test_datetimes_are_stored_as_the_orm_stores_them(run) -> None:
    from datetime import timedelta, timezone

    from django.db import connection

    istanbul = timezone(timedelta(hours=3))
    moment = datetime(2024, 5, 1, 3, 0, 0, 500, tzinfo=istanbul)  # 00:00:00.0005 UTC
    rows_write(BacktestCycle, CYCLE_FIELDS, [_cycle(run, 0, ts=moment)])
    BacktestCycle.objects.create(**dict(zip(CYCLE_FIELDS, _cycle(run, 1, ts=moment), strict=True)))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ts FROM replay_backtestcycle WHERE run_id = %s ORDER BY seq", [run.pk]
        )
        streamed, saved = (row[0] for row in cursor.fetchall())

    assert streamed == saved
    assert BacktestCycle.objects.get(run=run, seq=0).ts == moment
