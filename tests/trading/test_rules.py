"""Exchange rules from recorded exchangeinfo payloads, quantization and order checks.

Source: reference/btcturk_api.md section 2.1; payloads in tests/fixtures/btcturk/.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.domain.orders import OrderType, Side
from trading.domain.rules import (
    ExchangeRules,
    QuantizationError,
    RulesError,
    check_order,
    effective_tick,
    quantize_price,
    quantize_quantity,
    rules_from_exchangeinfo,
)
from trading.domain.symbols import Symbol

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "btcturk"
EXCHANGEINFO_FILES = sorted(FIXTURES.glob("rest_exchangeinfo_*.json"))
TWO_SYMBOLS = FIXTURES / "rest_exchangeinfo_btctry_aavetry_hummingbot_20220315.json"
SCALE_ZERO = FIXTURES / "rest_exchangeinfo_btctry_hummingbot_20220323.json"

BTC_TRY = Symbol("BTC", "TRY")
AAVE_TRY = Symbol("AAVE", "TRY")
D = Decimal


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def make_rules(**overrides: object) -> ExchangeRules:
    values: dict[str, object] = {
        "symbol": BTC_TRY,
        "tick_size": D("10"),
        "step_size": D("0.00000001"),
        "min_notional": D("99.91"),
        "min_price": D("58387.9"),
        "max_price": D("5838790"),
    }
    values.update(overrides)
    return ExchangeRules(**values)


# --- parsing recorded payloads -------------------------------------------------------------


def test_the_fixture_directory_holds_recorded_exchangeinfo_payloads() -> None:
    assert len(EXCHANGEINFO_FILES) >= 2


@pytest.mark.parametrize("path", EXCHANGEINFO_FILES, ids=lambda p: p.name)
def test_every_recorded_exchangeinfo_payload_parses_every_symbol(path: Path) -> None:
    payload = load(path)

    book = rules_from_exchangeinfo(payload)

    names = {s["nameNormalized"] for s in payload["data"]["symbols"]}
    assert {str(symbol) for symbol in book.rules} == names
    assert book.skipped == {}


@pytest.mark.parametrize("path", EXCHANGEINFO_FILES, ids=lambda p: p.name)
def test_the_data_part_alone_parses_like_the_envelope(path: Path) -> None:
    payload = load(path)

    assert rules_from_exchangeinfo(payload["data"]) == rules_from_exchangeinfo(payload)


@pytest.mark.parametrize(
    ("path", "symbol", "tick", "step", "min_notional", "min_price", "max_price"),
    [
        (TWO_SYMBOLS, BTC_TRY, "10", "0.00000001", "99.91", "58387.9", "5838790.0"),
        (TWO_SYMBOLS, AAVE_TRY, "0.01", "0.0001", "99.91", "180.198", "18019.8"),
        (SCALE_ZERO, BTC_TRY, "10", "0.00000001", "99.91", "63249.8", "6324980.0"),
    ],
    ids=["btctry-denominator-scale-2", "aavetry", "btctry-denominator-scale-0"],
)
def test_recorded_symbols_get_the_rules_the_reference_derives(
    path: Path,
    symbol: Symbol,
    tick: str,
    step: str,
    min_notional: str,
    min_price: str,
    max_price: str,
) -> None:
    rules = rules_from_exchangeinfo(load(path)).rules[symbol]

    assert rules.tick_size == D(tick)
    assert rules.step_size == D(step)
    assert rules.min_notional == D(min_notional)
    assert rules.min_price == D(min_price)
    assert rules.max_price == D(max_price)
    assert rules.trading
    assert rules.order_methods == {"MARKET", "LIMIT", "STOP_MARKET", "STOP_LIMIT"}


def test_btctry_prices_with_tick_10_and_two_decimals_are_written_with_two_decimals() -> None:
    rules = rules_from_exchangeinfo(load(TWO_SYMBOLS)).rules[BTC_TRY]

    price = quantize_price(D("1234567.89"), rules, Side.BUY)

    assert price == D("1234560")
    assert str(price) == "1234560.00"


@pytest.mark.parametrize(
    ("tick", "scale", "expected"),
    [
        ("10", 2, "10"),
        ("10", 0, "10"),
        ("0.01", 2, "0.01"),
        ("0.001", 2, "0.01"),
        ("0.005", 2, "0.01"),
        ("0.05", 2, "0.05"),
        ("0.25", 1, "0.5"),
        ("3", 0, "3"),
        (None, 2, "0.01"),
        (None, 0, "1"),
    ],
)
def test_the_effective_tick_satisfies_both_tick_size_and_denominator_scale(
    tick: str | None, scale: int, expected: str
) -> None:
    result = effective_tick(None if tick is None else D(tick), scale)

    assert result == D(expected)
    if tick is not None:
        assert result % D(tick) == 0
    assert result % D(1).scaleb(-scale) == 0


# --- malformed entries ---------------------------------------------------------------------


def _break_btctry(change) -> dict:
    payload = copy.deepcopy(load(TWO_SYMBOLS))
    btctry = next(s for s in payload["data"]["symbols"] if s["name"] == "BTCTRY")
    change(btctry)
    return payload


def _set_filter(field: str, value: object):
    def change(entry: dict) -> None:
        entry["filters"][0][field] = value

    return change


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e.pop("numeratorScale"), "numeratorScale"),
        (lambda e: e.update(numeratorScale="eight"), "numeratorScale"),
        (lambda e: e.update(denominatorScale=None), "denominatorScale"),
        (lambda e: e.update(denominatorScale=-1), "denominatorScale"),
        (_set_filter("tickSize", "ten"), "tickSize"),
        (_set_filter("tickSize", "0"), "tickSize"),
        (_set_filter("minExchangeValue", None), "minExchangeValue"),
        (_set_filter("minExchangeValue", "lots"), "minExchangeValue"),
        (_set_filter("tickSize", "1e9999999999"), "tickSize"),
        (_set_filter("tickSize", "1e-999999"), "tickSize"),
        (_set_filter("minExchangeValue", 10**5000), "minExchangeValue"),
        (lambda e: e.update(numeratorScale="9" * 5000), "numeratorScale"),
        (lambda e: e.update(filters=[]), "PRICE_FILTER"),
        (lambda e: e["filters"][0].update(filterType="LOT_SIZE"), "PRICE_FILTER"),
        (lambda e: e.pop("filters"), "filters"),
        (lambda e: e.pop("numerator"), "numerator"),
        (lambda e: e.update(maximumLimitOrderPrice="high"), "maximumLimitOrderPrice"),
        (lambda e: e.update(orderMethods="LIMIT"), "orderMethods"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_malformed_entry_is_skipped_with_a_reason_naming_the_field(change, field: str) -> None:
    book = rules_from_exchangeinfo(_break_btctry(change))

    assert BTC_TRY not in book.rules
    assert field in book.skipped["BTC_TRY"]
    assert book.rules[AAVE_TRY].tick_size == D("0.01")


def test_an_entry_that_is_not_an_object_is_skipped_by_position() -> None:
    payload = copy.deepcopy(load(TWO_SYMBOLS))
    payload["data"]["symbols"].insert(0, "BTCTRY")

    book = rules_from_exchangeinfo(payload)

    assert "symbols[0]" in book.skipped
    assert set(book.rules) == {BTC_TRY, AAVE_TRY}


@pytest.mark.parametrize("payload", [{}, {"data": None}, {"data": {"symbols": "x"}}, []])
def test_a_payload_without_a_symbols_list_raises(payload: object) -> None:
    with pytest.raises(RulesError, match="symbols"):
        rules_from_exchangeinfo(payload)


def test_a_symbol_that_is_not_trading_parses_with_its_status() -> None:
    payload = _break_btctry(lambda e: e.update(status="MAINTENANCE"))

    rules = rules_from_exchangeinfo(payload).rules[BTC_TRY]

    assert rules.status == "MAINTENANCE"
    assert not rules.trading


# --- quantization --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "side", "tick", "expected"),
    [
        ("1234567.89", Side.BUY, "10", "1234560"),
        ("1234567.89", Side.SELL, "10", "1234570"),
        ("1234560", Side.BUY, "10", "1234560"),
        ("1234560", Side.SELL, "10", "1234560"),
        ("231.456", Side.BUY, "0.01", "231.45"),
        ("231.451", Side.SELL, "0.01", "231.46"),
        ("231.45", Side.SELL, "0.01", "231.45"),
        ("0.123", Side.SELL, "0.05", "0.15"),
        ("0.123", Side.BUY, "0.05", "0.10"),
    ],
)
def test_quantize_price_rounds_buys_down_and_sells_up_to_the_tick(
    price: str, side: Side, tick: str, expected: str
) -> None:
    rules = make_rules(tick_size=D(tick))

    assert quantize_price(D(price), rules, side) == D(expected)


@pytest.mark.parametrize(
    ("quantity", "step", "expected"),
    [
        ("0.123456789", "0.00000001", "0.12345678"),
        ("0.12345678", "0.00000001", "0.12345678"),
        ("1.99999", "0.0001", "1.9999"),
        ("7.9", "1", "7"),
    ],
)
def test_quantize_quantity_rounds_down_to_the_step(quantity: str, step: str, expected: str) -> None:
    rules = make_rules(step_size=D(step))

    assert quantize_quantity(D(quantity), rules) == D(expected)


def test_a_positive_quantity_that_rounds_to_zero_raises_a_clear_error() -> None:
    rules = make_rules(step_size=D("0.0001"))

    with pytest.raises(QuantizationError) as excinfo:
        quantize_quantity(D("0.00005"), rules)

    message = str(excinfo.value)
    assert "BTC_TRY" in message
    assert "0.00005" in message
    assert "step size 0.0001" in message


def test_a_positive_buy_price_that_rounds_to_zero_raises_a_clear_error() -> None:
    rules = make_rules(tick_size=D("10"))

    with pytest.raises(QuantizationError) as excinfo:
        quantize_price(D("9.99"), rules, Side.BUY)

    assert "price 9.99 rounds to zero with tick size 10" in str(excinfo.value)


def test_zero_quantizes_to_zero_without_error() -> None:
    rules = make_rules()

    assert quantize_quantity(D(0), rules) == 0
    assert quantize_price(D(0), rules, Side.BUY) == 0


# --- order checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules_changes", "order", "code"),
    [
        (
            {},
            dict(order_type=OrderType.LIMIT, price=D("1000000"), notional=D("99.90")),
            "MIN_NOTIONAL",
        ),
        ({}, dict(order_type=OrderType.MARKET, price=None, notional=D("50")), "MIN_NOTIONAL"),
        (
            {},
            dict(order_type=OrderType.LIMIT, price=D("5838800"), notional=D("1000")),
            "PRICE_ABOVE_BAND",
        ),
        (
            {},
            dict(order_type=OrderType.LIMIT, price=D("58380"), notional=D("1000")),
            "PRICE_BELOW_BAND",
        ),
        (
            {"order_methods": frozenset({"LIMIT"})},
            dict(order_type=OrderType.MARKET, price=None, notional=D("1000")),
            "ORDER_METHOD_NOT_SUPPORTED",
        ),
        (
            {"status": "MAINTENANCE"},
            dict(order_type=OrderType.LIMIT, price=D("1000000"), notional=D("1000")),
            "SYMBOL_NOT_TRADING",
        ),
    ],
)
def test_check_order_returns_the_violated_rule(rules_changes: dict, order: dict, code: str) -> None:
    rules = make_rules(**rules_changes)

    violation = check_order(rules, side=Side.BUY, quantity=D("0.001"), **order)

    assert violation is not None
    assert violation.code == code
    assert violation.detail


@pytest.mark.parametrize(
    ("order_type", "price", "notional"),
    [
        (OrderType.LIMIT, D("1000000"), D("99.91")),
        (OrderType.LIMIT, D("5838790"), D("1000")),
        (OrderType.LIMIT, D("58387.9"), D("1000")),
        (OrderType.MARKET, None, D("100")),
        # the band applies to limit prices only
        (OrderType.MARKET, D("99999999"), D("100")),
    ],
)
def test_check_order_passes_orders_inside_every_rule(
    order_type: OrderType, price: Decimal | None, notional: Decimal
) -> None:
    violation = check_order(
        make_rules(),
        side=Side.SELL,
        order_type=order_type,
        quantity=D("0.001"),
        price=price,
        notional=notional,
    )

    assert violation is None


# --- properties ----------------------------------------------------------------------------

ticks = st.sampled_from([D("10"), D("1"), D("0.01"), D("0.05"), D("0.25"), D("0.0001"), D("3")])
steps = st.sampled_from([D("1"), D("0.1"), D("0.0001"), D("0.00000001")])
amounts = st.decimals(min_value=D("0.01"), max_value=D("10000000"), places=8)


@settings(derandomize=True)
@given(price=amounts, tick=ticks, side=st.sampled_from(list(Side)))
def test_a_quantized_price_is_on_the_grid_and_never_worse_than_asked(
    price: Decimal, tick: Decimal, side: Side
) -> None:
    rules = make_rules(tick_size=tick)
    try:
        result = quantize_price(price, rules, side)
    except QuantizationError:
        assert side is Side.BUY and price < tick
        return

    assert result % tick == 0
    assert abs(result - price) < tick
    if side is Side.BUY:
        assert result <= price
    else:
        assert result >= price


@settings(derandomize=True)
@given(quantity=amounts, step=steps)
def test_a_quantized_quantity_is_on_the_step_grid_and_never_above_the_input(
    quantity: Decimal, step: Decimal
) -> None:
    rules = make_rules(step_size=step)
    try:
        result = quantize_quantity(quantity, rules)
    except QuantizationError:
        assert quantity < step
        return

    assert result % step == 0
    assert result <= quantity
    assert quantity - result < step
