"""instruments_sync: exchangeinfo rules become Instrument rows; changes are reported per field."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from trading.domain.rules import rules_from_exchangeinfo
from trading.models import Instrument
from trading.services.instruments import DELISTED, instruments_apply

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "btcturk"
pytestmark = pytest.mark.django_db


def exchangeinfo() -> dict:
    path = FIXTURES / "rest_exchangeinfo_btctry_aavetry_hummingbot_20220315.json"
    return json.loads(path.read_text())


def test_a_first_sync_creates_one_row_per_symbol_with_the_effective_rules() -> None:
    result = instruments_apply(book=rules_from_exchangeinfo(exchangeinfo()))

    assert result.count("created") == 2
    btc = Instrument.objects.get(symbol="BTC_TRY")
    assert btc.pair == "BTCTRY"
    assert btc.tick_size == Decimal("10")  # lcm of tickSize 10 and denominatorScale 2
    assert btc.step_size == Decimal("0.00000001")
    assert btc.min_notional == Decimal("99.91")
    assert btc.min_price == Decimal("58387.9")  # the tighter of minPrice and the band
    assert btc.max_price == Decimal("5838790")
    assert btc.order_methods == ["LIMIT", "MARKET", "STOP_LIMIT", "STOP_MARKET"]


def test_a_repeated_sync_changes_nothing_and_says_so() -> None:
    instruments_apply(book=rules_from_exchangeinfo(exchangeinfo()))

    result = instruments_apply(book=rules_from_exchangeinfo(exchangeinfo()))

    assert result.changes == ()
    assert result.unchanged == 2


def test_a_changed_rule_is_updated_and_reported_field_by_field() -> None:
    instruments_apply(book=rules_from_exchangeinfo(exchangeinfo()))
    payload = exchangeinfo()
    payload["data"]["symbols"][0]["filters"][0]["minExchangeValue"] = "150"
    payload["data"]["symbols"][0]["status"] = "HALT"

    result = instruments_apply(book=rules_from_exchangeinfo(payload))

    (change,) = result.changes
    assert change.symbol == "BTC_TRY"
    assert change.action == "updated"
    assert change.fields == {"status": ("TRADING", "HALT"), "min_notional": ("99.91", "150")}
    assert Instrument.objects.get(symbol="BTC_TRY").min_notional == Decimal("150")


def test_a_symbol_no_longer_listed_is_marked_delisted_not_deleted() -> None:
    instruments_apply(book=rules_from_exchangeinfo(exchangeinfo()))
    payload = exchangeinfo()
    del payload["data"]["symbols"][1]

    result = instruments_apply(book=rules_from_exchangeinfo(payload))

    assert [(c.symbol, c.action) for c in result.changes] == [("AAVE_TRY", "delisted")]
    assert Instrument.objects.get(symbol="AAVE_TRY").status == DELISTED


def test_a_malformed_entry_is_skipped_with_its_reason_and_its_row_kept() -> None:
    instruments_apply(book=rules_from_exchangeinfo(exchangeinfo()))
    payload = copy.deepcopy(exchangeinfo())
    del payload["data"]["symbols"][1]["numeratorScale"]

    result = instruments_apply(book=rules_from_exchangeinfo(payload))

    assert result.changes == ()
    assert "numeratorScale" in result.skipped["AAVE_TRY"]
    assert Instrument.objects.get(symbol="AAVE_TRY").status == "TRADING"
