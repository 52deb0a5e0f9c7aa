"""Allocation (buy sizing against cash, reserve, fee buffer and the caps) and order building
(quantization, dust, market-buy quote amount, rule denials, client order ids).

Numbers: equity 10,000 TRY; BTC_TRY tick 1 TRY, step 0.0001 BTC, min notional 10 TRY.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.domain.allocation import BuyBudget, OrderSpec, build_order, buy_notional, sell_quantity
from trading.domain.intents import Intent, PricePolicy
from trading.domain.orders import CLIENT_ORDER_ID_MAX, OrderRequest, OrderType, Side
from trading.domain.risk import Denial, RiskLimits
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol

D = Decimal
BTC_TRY = Symbol("BTC", "TRY")
RULES = ExchangeRules(
    symbol=BTC_TRY,
    tick_size=D("1"),
    step_size=D("0.0001"),
    min_notional=D("10"),
    min_price=D("100"),
    max_price=D("10000000"),
)
# Every cap wide open, no reserve, no fee: each test narrows the one it is about.
OPEN = RiskLimits(
    cash_reserve_pct=D(0),
    max_order_pct=D(1),
    max_cycle_pct=D(1),
    max_position_pct=D(1),
)
EQUITY = D("10000")


def buy_intent(
    *, notional: str | None = None, policy: PricePolicy = PricePolicy.MARKET, price: str = ""
) -> Intent:
    return Intent(
        strategy="s",
        symbol=BTC_TRY,
        side=Side.BUY,
        price_policy=policy,
        reason="test_entry",
        notional=None if notional is None else D(notional),
        limit_price=D(price) if price else None,
    )


def sell_intent(
    *,
    quantity: str | None = None,
    notional: str | None = None,
    policy: PricePolicy = PricePolicy.MARKET,
    price: str = "",
) -> Intent:
    return Intent(
        strategy="s",
        symbol=BTC_TRY,
        side=Side.SELL,
        price_policy=policy,
        reason="test_exit",
        quantity=None if quantity is None else D(quantity),
        notional=None if notional is None else D(notional),
        limit_price=D(price) if price else None,
    )


def budget(
    limits: RiskLimits = OPEN,
    *,
    cash: str = "10000",
    spent: str = "0",
    fee_bps: str = "0",
    equity: Decimal = EQUITY,
) -> BuyBudget:
    return BuyBudget(equity, D(cash), D(spent), D(fee_bps), limits)


def spec(*, mark: str = "1000", sequence: int = 0, rules: ExchangeRules = RULES) -> OrderSpec:
    return OrderSpec("acct", 1_704_067_200_000, sequence, D(mark), rules)


# --- position cap --------------------------------------------------------------------------


def test_it_shrinks_a_buy_to_the_room_left_under_the_position_cap() -> None:
    limits = replace(OPEN, max_position_pct=D("0.25"))  # 2,500 TRY per symbol

    size = buy_notional(buy_intent(), budget(limits), D("2000"), RULES)

    assert size == D("500")


def test_it_denies_a_buy_beyond_the_position_cap() -> None:
    limits = replace(OPEN, max_position_pct=D("0.25"))

    denial = buy_notional(buy_intent(), budget(limits), D("2495"), RULES)

    assert isinstance(denial, Denial)
    assert denial.code == "POSITION_CAP"
    assert (denial.symbol, denial.side, denial.strategy) == (BTC_TRY, Side.BUY, "s")


def test_it_denies_a_buy_when_the_position_is_already_above_the_cap() -> None:
    limits = replace(OPEN, max_position_pct=D("0.25"))

    denial = buy_notional(buy_intent(notional="100"), budget(limits), D("4000"), RULES)

    assert isinstance(denial, Denial) and denial.code == "POSITION_CAP"


# --- the smallest cap wins, with its code ------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "cash", "spent", "expected"),
    [
        # per-order: fraction 10 % = 1,000 vs absolute 600 / 5,000
        ({"max_order_pct": D("0.10")}, "10000", "0", D("1000")),
        ({"max_order_pct": D("0.10"), "max_order_notional": D("600")}, "10000", "0", D("600")),
        ({"max_order_pct": D("0.10"), "max_order_notional": D("5000")}, "10000", "0", D("1000")),
        # per-cycle: what is left of 20 % = 2,000 (or of the absolute cap) after 1,500 spent
        ({"max_cycle_pct": D("0.20")}, "10000", "1500", D("500")),
        ({"max_cycle_pct": D("0.20"), "max_cycle_notional": D("1800")}, "10000", "1500", D("300")),
        # per-symbol position: absolute 700 beats 25 % = 2,500
        ({"max_position_pct": D("0.25"), "max_position_notional": D("700")}, "10000", "0", D(700)),
        # cash above the reserve: 5 % of 10,000 = 500 reserved out of 1,200 free
        ({"cash_reserve_pct": D("0.05")}, "1200", "0", D("700")),
    ],
)
def test_it_sizes_a_buy_to_the_smallest_cap(
    changes: dict[str, Decimal], cash: str, spent: str, expected: Decimal
) -> None:
    size = buy_notional(
        buy_intent(), budget(replace(OPEN, **changes), cash=cash, spent=spent), D(0), RULES
    )

    assert size == expected


@pytest.mark.parametrize(
    ("changes", "cash", "spent", "code"),
    [
        ({"max_order_pct": D("0.0005")}, "10000", "0", "ORDER_CAP"),
        ({"max_order_notional": D("9")}, "10000", "0", "ORDER_CAP"),
        ({"max_cycle_pct": D("0.20")}, "10000", "1995", "CYCLE_CAP"),
        ({"max_cycle_notional": D("5")}, "10000", "0", "CYCLE_CAP"),
        ({"max_position_notional": D("8")}, "10000", "0", "POSITION_CAP"),
        ({"cash_reserve_pct": D("0.05")}, "505", "0", "CASH_RESERVE"),
        ({}, "5", "0", "CASH_RESERVE"),
    ],
)
def test_a_buy_below_min_notional_is_denied_with_the_code_of_the_binding_cap(
    changes: dict[str, Decimal], cash: str, spent: str, code: str
) -> None:
    denial = buy_notional(
        buy_intent(), budget(replace(OPEN, **changes), cash=cash, spent=spent), D(0), RULES
    )

    assert isinstance(denial, Denial)
    assert denial.code == code


def test_an_intent_notional_below_every_cap_is_used_as_is() -> None:
    assert buy_notional(buy_intent(notional="250"), budget(), D(0), RULES) == D("250")


def test_an_intent_notional_below_min_notional_is_denied_as_min_notional() -> None:
    denial = buy_notional(buy_intent(notional="9.99"), budget(), D(0), RULES)

    assert isinstance(denial, Denial) and denial.code == "MIN_NOTIONAL"


@pytest.mark.parametrize(
    ("policy", "price", "mark", "expected"),
    [(PricePolicy.LIMIT, "1000", None, D("500")), (PricePolicy.MARKET, "", "1200", D("600"))],
)
def test_a_buy_sized_in_base_units_asks_for_that_quantity_at_its_price(
    policy: PricePolicy, price: str, mark: str | None, expected: Decimal
) -> None:
    intent = Intent(
        "s", BTC_TRY, Side.BUY, policy, "test_entry",
        quantity=D("0.5"), limit_price=D(price) if price else None,
    )  # fmt: skip

    size = buy_notional(intent, budget(), D(0), RULES, mark_price=None if mark is None else D(mark))

    assert size == expected


def test_a_limit_buy_sized_in_base_units_never_buys_more_than_asked() -> None:
    # 0.5 BTC at 1,000.9 asks for 500.45 TRY; the price rounds down to 1,000 on the tick
    intent = Intent(
        "s", BTC_TRY, Side.BUY, PricePolicy.LIMIT, "test_entry",
        quantity=D("0.5"), limit_price=D("1000.9"),
    )  # fmt: skip
    size = buy_notional(intent, budget(), D(0), RULES)
    assert not isinstance(size, Denial)

    built = build_order(intent, size, D(0), spec())

    assert isinstance(built, OrderRequest)
    assert (built.quantity, built.price) == (D("0.5"), D("1000"))


def test_it_leaves_room_for_the_taker_fee_above_the_cash_reserve() -> None:
    limits = replace(OPEN, cash_reserve_pct=D("0.05"))

    size = buy_notional(buy_intent(), budget(limits, cash="1000", fee_bps="20"), D(0), RULES)

    assert size == D(500) / D("1.002")
    assert size * D("1.002") <= D("1000") - D("500")


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    cash=st.decimals(min_value=0, max_value=100_000, places=2),
    equity=st.decimals(min_value=1, max_value=100_000, places=2),
    reserve=st.decimals(min_value=0, max_value=1, places=3),
    order_pct=st.decimals(min_value=0, max_value=1, places=3),
    position_pct=st.decimals(min_value=0, max_value=1, places=3),
    held_value=st.decimals(min_value=0, max_value=100_000, places=2),
    spent=st.decimals(min_value=0, max_value=50_000, places=2),
    fee_bps=st.decimals(min_value=0, max_value=100, places=1),
)
def test_a_buy_never_spends_more_than_free_cash_nor_breaks_a_cap(
    cash: Decimal,
    equity: Decimal,
    reserve: Decimal,
    order_pct: Decimal,
    position_pct: Decimal,
    held_value: Decimal,
    spent: Decimal,
    fee_bps: Decimal,
) -> None:
    limits = RiskLimits(
        cash_reserve_pct=reserve,
        max_order_pct=order_pct,
        max_cycle_pct=D("0.5"),
        max_position_pct=position_pct,
    )
    b = BuyBudget(equity, cash, spent, fee_bps, limits)

    size = buy_notional(buy_intent(), b, held_value, RULES)

    if isinstance(size, Denial):
        assert size.code in {"CASH_RESERVE", "ORDER_CAP", "CYCLE_CAP", "POSITION_CAP"}
        return
    assert size >= RULES.min_notional
    assert size * (1 + fee_bps / 10000) <= cash - reserve * equity + D("1e-20")
    assert size <= order_pct * equity
    assert size <= D("0.5") * equity - spent
    assert held_value + size <= position_pct * equity


# --- sells ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "held", "expected"),
    [(None, "0.5", D("0.5")), ("0.2", "0.5", D("0.2")), ("0.9", "0.5", D("0.5"))],
)
def test_a_sell_is_sized_to_the_intent_but_never_above_the_position(
    quantity: str | None, held: str, expected: Decimal
) -> None:
    assert sell_quantity(sell_intent(quantity=quantity), D(held)) == expected


def test_a_sell_without_a_position_is_denied() -> None:
    denial = sell_quantity(sell_intent(), D(0))

    assert isinstance(denial, Denial) and denial.code == "NO_POSITION"


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    held=st.decimals(min_value="0.0001", max_value=1000, places=4),
    wanted=st.none() | st.decimals(min_value="0.0001", max_value=2000, places=6),
    price=st.decimals(min_value=100, max_value=100_000, places=0),
)
def test_a_built_sell_never_exceeds_the_position(
    held: Decimal, wanted: Decimal | None, price: Decimal
) -> None:
    intent = sell_intent(quantity=None if wanted is None else str(wanted))
    size = sell_quantity(intent, held)
    assert not isinstance(size, Denial)

    built = build_order(intent, size, held, spec(mark=str(price)))

    if isinstance(built, OrderRequest):
        assert 0 < built.quantity <= held
        assert built.quantity % RULES.step_size == 0
        left = held - built.quantity
        assert left == 0 or left * price >= RULES.min_notional or left < RULES.step_size
    else:
        assert built.code in {"MIN_NOTIONAL", "QUANTITY_ROUNDS_TO_ZERO"}


def test_a_sell_that_would_leave_dust_below_min_notional_sells_everything() -> None:
    # 0.95 of 1.0 BTC at 100 TRY would leave 0.05 BTC = 5 TRY, below the 10 TRY min notional
    built = build_order(sell_intent(quantity="0.95"), D("0.95"), D("1"), spec(mark="100"))

    assert isinstance(built, OrderRequest)
    assert built.quantity == D("1")


def test_a_sell_leaving_a_sellable_remainder_sells_only_what_was_asked() -> None:
    built = build_order(sell_intent(quantity="0.8"), D("0.8"), D("1"), spec(mark="100"))

    assert isinstance(built, OrderRequest)
    assert built.quantity == D("0.8")


def test_a_notional_sized_sell_converts_the_notional_at_the_price() -> None:
    intent = sell_intent(notional="300", policy=PricePolicy.LIMIT, price="1000")

    built = build_order(intent, D("1"), D("1"), spec(mark="990"))

    assert isinstance(built, OrderRequest)
    assert (built.quantity, built.price) == (D("0.3"), D("1000"))


# --- quantization ------------------------------------------------------------------------------


def test_a_limit_buy_rounds_its_price_down_and_its_quantity_down() -> None:
    intent = buy_intent(policy=PricePolicy.LIMIT, price="1000.9")

    built = build_order(intent, D("333"), D(0), spec(mark="1001"))

    assert isinstance(built, OrderRequest)
    assert built.order_type is OrderType.LIMIT
    assert built.price == D("1000")
    assert built.quantity == D("0.3330")  # 333 / 1000 = 0.333
    assert built.quote_amount is None
    assert built.price * built.quantity <= D("333")


def test_a_limit_sell_rounds_its_price_up() -> None:
    intent = sell_intent(policy=PricePolicy.LIMIT, price="1000.1")

    built = build_order(intent, D("0.12345"), D("0.12345"), spec(mark="1000"))

    assert isinstance(built, OrderRequest)
    assert built.price == D("1001")
    assert built.quantity == D("0.1234")


def test_a_market_buy_carries_the_quote_amount_to_spend() -> None:
    built = build_order(buy_intent(), D("123.456789012"), D(0), spec(mark="1000"))

    assert isinstance(built, OrderRequest)
    assert built.order_type is OrderType.MARKET
    assert built.price is None
    assert built.quote_amount == D("123.45678901")
    assert built.quantity == D("0.1234")
    assert built.notional == built.quote_amount


def test_a_quantity_that_rounds_to_zero_is_denied() -> None:
    built = build_order(sell_intent(quantity="0.00001"), D("0.00001"), D("0.00001"), spec())

    assert isinstance(built, Denial) and built.code == "QUANTITY_ROUNDS_TO_ZERO"


# --- exchange rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("intent", "size", "held", "code"),
    [
        (buy_intent(policy=PricePolicy.LIMIT, price="1000"), "9.5", "0", "MIN_NOTIONAL"),
        (buy_intent(), "9.99", "0", "MIN_NOTIONAL"),
        (sell_intent(policy=PricePolicy.LIMIT, price="1000"), "0.0050", "0.0050", "MIN_NOTIONAL"),
        (buy_intent(policy=PricePolicy.LIMIT, price="20000000"), "100000", "0", "PRICE_ABOVE_BAND"),
        (sell_intent(policy=PricePolicy.LIMIT, price="50"), "1", "1", "PRICE_BELOW_BAND"),
    ],
)
def test_an_order_breaking_an_exchange_rule_is_denied_with_the_rules_code(
    intent: Intent, size: str, held: str, code: str
) -> None:
    built = build_order(intent, D(size), D(held), spec())

    assert isinstance(built, Denial)
    assert built.code == code
    assert (built.symbol, built.side, built.strategy) == (BTC_TRY, intent.side, "s")


def test_an_order_method_the_symbol_does_not_support_is_denied() -> None:
    rules = replace(RULES, order_methods=frozenset({"LIMIT"}))

    built = build_order(buy_intent(), D("500"), D(0), spec(rules=rules))

    assert isinstance(built, Denial) and built.code == "ORDER_METHOD_NOT_SUPPORTED"


# --- client order ids --------------------------------------------------------------------------


def test_the_client_order_id_is_deterministic_and_fits_btcturks_limit() -> None:
    intent = buy_intent(policy=PricePolicy.LIMIT, price="1000")

    first = build_order(intent, D("500"), D(0), spec())
    again = build_order(intent, D("500"), D(0), spec())
    other = build_order(intent, D("500"), D(0), spec(sequence=1))

    assert isinstance(first, OrderRequest) and isinstance(again, OrderRequest)
    assert isinstance(other, OrderRequest)
    assert first.client_order_id == again.client_order_id
    assert other.client_order_id != first.client_order_id
    assert len(first.client_order_id) <= CLIENT_ORDER_ID_MAX
    assert (first.strategy, first.reason) == ("s", "test_entry")
