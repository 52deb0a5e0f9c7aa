"""Order state machine and client order ids (DESIGN.md section 5, reference 4.7)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.domain.orders import (
    ALLOWED_TRANSITIONS,
    CLIENT_ORDER_ID_MAX,
    TERMINAL_STATUSES,
    InvalidTransition,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    client_order_id,
    order_transition,
)
from trading.domain.symbols import Symbol

S = OrderStatus

# The transitions DESIGN.md section 5 describes, written out independently of the module so
# that a change to ALLOWED_TRANSITIONS has to be made on purpose in both places.
EXPECTED_ALLOWED = {
    (S.NEW, S.SUBMITTED),
    (S.NEW, S.REJECTED),
    (S.NEW, S.UNKNOWN),
    *((S.SUBMITTED, s) for s in (S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED)),
    (S.SUBMITTED, S.UNKNOWN),
    *((S.OPEN, s) for s in (S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.UNKNOWN)),
    *((S.PARTIALLY_FILLED, s) for s in (S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.UNKNOWN)),
    *((S.UNKNOWN, s) for s in (S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED)),
    (S.UNKNOWN, S.UNKNOWN),
}
ALL_PAIRS = list(itertools.product(OrderStatus, repeat=2))
ALLOWED_PAIRS = [pair for pair in ALL_PAIRS if pair in EXPECTED_ALLOWED]
DISALLOWED_PAIRS = [pair for pair in ALL_PAIRS if pair not in EXPECTED_ALLOWED]


def test_the_transition_table_covers_every_status() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(OrderStatus)
    assert len(ALLOWED_PAIRS) + len(DISALLOWED_PAIRS) == len(OrderStatus) ** 2


def test_the_module_table_is_the_documented_state_machine() -> None:
    actual = {(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets}

    assert actual == EXPECTED_ALLOWED


@pytest.mark.parametrize(("current", "new"), ALLOWED_PAIRS, ids=lambda s: s.value)
def test_every_allowed_transition_returns_the_new_status(
    current: OrderStatus, new: OrderStatus
) -> None:
    assert order_transition(current, new) is new


@pytest.mark.parametrize(("current", "new"), DISALLOWED_PAIRS, ids=lambda s: s.value)
def test_every_disallowed_transition_raises_naming_both_states(
    current: OrderStatus, new: OrderStatus
) -> None:
    with pytest.raises(InvalidTransition) as excinfo:
        order_transition(current, new)

    assert str(current) in str(excinfo.value)
    assert str(new) in str(excinfo.value)


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
def test_terminal_states_have_no_exits(terminal: OrderStatus) -> None:
    assert ALLOWED_TRANSITIONS[terminal] == frozenset()
    for new in OrderStatus:
        with pytest.raises(InvalidTransition):
            order_transition(terminal, new)


def test_the_terminal_states_are_filled_canceled_and_rejected() -> None:
    assert {S.FILLED, S.CANCELED, S.REJECTED} == TERMINAL_STATUSES


def test_every_non_terminal_state_can_reach_a_terminal_state() -> None:
    for start in set(OrderStatus) - TERMINAL_STATUSES:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in ALLOWED_TRANSITIONS[frontier.pop()] - seen:
                seen.add(nxt)
                frontier.append(nxt)
        assert seen & TERMINAL_STATUSES, start


# --- client order ids ----------------------------------------------------------------------

BASE = {
    "account": "live-main",
    "cycle_ms": 1_700_000_000_000,
    "symbol": Symbol("BTC", "TRY"),
    "side": Side.BUY,
    "key": "sma_cross:0",
}


def test_the_same_inputs_give_the_same_client_order_id() -> None:
    assert client_order_id(**BASE) == client_order_id(**dict(BASE))


def test_the_client_order_id_has_a_readable_prefix() -> None:
    coid = client_order_id(**BASE)

    assert coid.startswith("mv-BTCTRY-b-")
    assert len(coid) <= CLIENT_ORDER_ID_MAX


@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("account", "live-other"),
        ("account", "backtest-17"),
        ("cycle_ms", 1_700_000_000_001),
        ("cycle_ms", 0),
        ("symbol", Symbol("ETH", "TRY")),
        ("symbol", Symbol("BTC", "USDT")),
        ("side", Side.SELL),
        ("key", "sma_cross:1"),
        ("key", ""),
    ],
)
def test_the_client_order_id_differs_when_any_input_differs(field: str, other: object) -> None:
    changed = {**BASE, field: other}

    assert client_order_id(**changed) != client_order_id(**BASE)


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_:", max_size=40)
pairs = st.sampled_from(
    [
        Symbol("BTC", "TRY"),
        Symbol("ETH", "TRY"),
        Symbol("USDT", "TRY"),
        Symbol("BTC", "USDT"),
        Symbol("VERYLONGTOKEN", "USDT"),
    ]
)
inputs = st.fixed_dictionaries(
    {
        "account": names,
        "cycle_ms": st.integers(min_value=-(10**60), max_value=10**60),
        "symbol": pairs,
        "side": st.sampled_from(list(Side)),
        "key": names,
    }
)


@settings(derandomize=True)
@given(a=inputs, b=inputs)
def test_client_order_ids_are_short_and_collide_only_for_equal_inputs(a: dict, b: dict) -> None:
    coid_a, coid_b = client_order_id(**a), client_order_id(**b)

    assert len(coid_a) <= CLIENT_ORDER_ID_MAX
    assert coid_a.isascii()
    assert (coid_a == coid_b) == (a == b)


@settings(derandomize=True)
@given(a=inputs, field=st.sampled_from(sorted(BASE)), data=st.data())
def test_changing_one_input_always_changes_the_id(a: dict, field: str, data) -> None:
    b = {**a, field: data.draw(inputs)[field]}

    assert (client_order_id(**a) == client_order_id(**b)) == (a == b)


# --- order requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_kwargs", "notional"),
    [
        ({"order_type": OrderType.LIMIT, "quantity": "0.5", "price": "1000000"}, "500000"),
        ({"order_type": OrderType.MARKET, "quantity": "0", "quote_amount": "250"}, "250"),
        ({"order_type": OrderType.MARKET, "quantity": "0.1"}, "0"),
    ],
)
def test_an_order_request_reports_its_quote_notional(request_kwargs: dict, notional: str) -> None:
    values = {
        k: Decimal(v) if k in {"quantity", "price", "quote_amount"} else v
        for k, v in request_kwargs.items()
    }
    request = OrderRequest(
        client_order_id="c", symbol=Symbol("BTC", "TRY"), side=Side.BUY, **values
    )

    assert request.notional == Decimal(notional)


@settings(derandomize=True, max_examples=300)
@given(cycle_ms=st.one_of(st.integers(min_value=0, max_value=2**63), st.sampled_from([1295, 1296])))
def test_the_client_order_id_carries_the_cycle_time_in_base_36(cycle_ms: int) -> None:
    coid = client_order_id(**dict(BASE, symbol=Symbol("BTC", "TRY"), cycle_ms=cycle_ms))
    digits = coid.split("-")[3]
    assert int(digits, 36) == cycle_ms
    assert digits == "0" or not digits.startswith("0")  # no leading zeros
