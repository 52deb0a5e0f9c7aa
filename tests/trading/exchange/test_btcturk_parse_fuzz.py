"""Property tests: BTCTurk parsers fed broken payloads fail only with ``PayloadError``, and a
number means the same whether it arrives as a JSON number or a string.

Payloads start from the recorded fixtures (tests/fixtures/btcturk/) and are mutated by
hypothesis: fields deleted, values replaced by wrong types, bools, NaN/infinity spellings,
nested garbage and huge integers. Deterministic (``derandomize``) and fast.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from trading.domain.orders import OrderRequest, OrderType, Side
from trading.domain.symbols import Symbol
from trading.exchange.btcturk.parse import unwrap
from trading.exchange.btcturk.parse_account import (
    parse_balances,
    parse_open_orders,
    parse_order,
    parse_orders,
    parse_submit_ack,
    parse_user_trades,
)
from trading.exchange.btcturk.parse_market import (
    parse_exchange_info,
    parse_klines,
    parse_ohlcs,
    parse_order_book,
    parse_server_time,
    parse_tickers,
    parse_trades,
)
from trading.exchange.errors import ExchangeError, PayloadError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "btcturk"
BTC_TRY = Symbol("BTC", "TRY")
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
ACK_REQUEST = OrderRequest(
    "98e5c491-7ed9-462b-9666-93553180fb28",
    Symbol("BTC", "USDT"),
    Side.BUY,
    OrderType.LIMIT,
    Decimal("0.0002"),
    Decimal("56000"),
)


def load(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def data_of(name: str) -> object:
    """The ``data`` part of a fixture, so mutations never touch the envelope."""
    return unwrap(load(name), endpoint="fixture")


# (parser, bare payload) for every REST parser; the data part only, envelope checked elsewhere.
CASES: dict[str, tuple[Callable[[object], object], object]] = {
    "exchangeinfo": (
        parse_exchange_info,
        data_of("rest_exchangeinfo_btctry_aavetry_hummingbot_20220315.json"),
    ),
    "server_time": (parse_server_time, load("rest_server_time_outlier_20210214.json")),
    "tickers": (parse_tickers, data_of("rest_ticker_btcusdt_hummingbot_20220316.json")),
    "order_book": (
        lambda p: parse_order_book(p, BTC_TRY),
        data_of("rest_orderbook_btcusdt_hummingbot_20220317a.json"),
    ),
    "trades": (parse_trades, load("rest_trades_btctry_first_item_outlier_20210214.json")),
    "klines": (
        lambda p: parse_klines(p, BTC_TRY),
        load("rest_klines_history_first2_ccxt_comment_20220901.json"),
    ),
    "ohlcs": (parse_ohlcs, load("docs_graph_ohlcs_btctry.json")),
    "balances": (parse_balances, load("rest_balances_data_outlier_2021.json")),
    "open_orders": (parse_open_orders, data_of("docs_rest_open_orders_first_items.json")),
    "all_orders": (
        parse_orders,
        [
            load("rest_all_orders_item_ccxt_comment_20210420.json"),
            load("rest_open_orders_item_ccxt_comment_20210420.json"),
        ],
    ),
    "order": (parse_order, load("rest_all_orders_item_ccxt_comment_20210420.json")),
    "submit_ack": (
        lambda p: parse_submit_ack(p, ACK_REQUEST),
        load("rest_create_order_data_ccxt_comment_20210420.json"),
    ),
    "user_trades": (parse_user_trades, data_of("rest_user_trades_ccxt_comment_20210420.json")),
}


class _Huge:
    """Stands for a 5000-digit integer in draws (hypothesis cannot repr the int itself)."""

    def __repr__(self) -> str:
        return "10**5000"


HUGE = _Huge()


def materialized(value: object) -> object:
    if value is HUGE:
        return 10**5000
    if isinstance(value, list):
        return [materialized(item) for item in value]
    if isinstance(value, dict):
        return {key: materialized(item) for key, item in value.items()}
    return value


# Garbage never uses envelope keys, so a mutated bare payload cannot turn into an envelope.
GARBAGE_KEYS = st.sampled_from(["x", "price", "0", "bids", "s"])
GARBAGE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**60), max_value=10**60),
        st.just(HUGE),
        st.just(2**63),
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.sampled_from(
            [
                "NaN",
                "nan",
                "Infinity",
                "-inf",
                "1_000",
                "0x1F",
                "",
                " ",
                "1e999999",
                "1e-999999",
                "١٢٣",
                "--1",
                "1.2.3",
                "∞",
                "buy",
                "limit",
                "Untouched",
                "BTC_TRY",
                "BTCTRY",
                "ok",
            ]
        ),
        st.text(max_size=12),
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(GARBAGE_KEYS, children, max_size=3)
    ),
    max_leaves=6,
)


def paths(value: object, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path (tuple of keys/indices) in a JSON tree, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def mutated(payload: object, path: tuple, replacement: object, delete: bool) -> object:
    replacement = materialized(replacement)
    if not path:
        return None if delete else replacement
    result = copy.deepcopy(payload)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return result


@pytest.mark.parametrize("case", sorted(CASES))
@FUZZ
@given(data=st.data())
def test_a_mutated_payload_either_parses_or_raises_payload_error(
    case: str, data: st.DataObject
) -> None:
    parser, payload = CASES[case]
    every_path = list(paths(payload))
    path = data.draw(st.sampled_from(every_path), label="path")
    delete = data.draw(st.booleans(), label="delete")
    replacement = None if delete else data.draw(GARBAGE, label="replacement")
    broken = mutated(payload, path, replacement, delete)

    try:
        result = parser(broken)
    except PayloadError as exc:
        assert exc.endpoint  # every failure names the endpoint ...
        assert exc.field  # ... and the field
    else:
        assert type(result) is type(parser(payload))


@pytest.mark.parametrize("case", sorted(CASES))
@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_several_mutations_at_once_still_only_raise_payload_error(
    case: str, data: st.DataObject
) -> None:
    parser, broken = CASES[case]
    for _ in range(data.draw(st.integers(min_value=2, max_value=4), label="count")):
        path = data.draw(st.sampled_from(list(paths(broken))), label="path")
        delete = data.draw(st.booleans(), label="delete")
        broken = mutated(broken, path, None if delete else data.draw(GARBAGE), delete)

    try:
        result = parser(broken)
    except PayloadError as exc:
        assert exc.endpoint and exc.field
    else:
        assert type(result) is type(parser(CASES[case][1]))


ENVELOPE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2000, max_value=2000),
    st.sampled_from(["0", "1123", "1152", "x", "", "1037", "-1"]),
    st.text(max_size=30),
    st.sampled_from(
        ["FAILED_MIN_TOTAL_AMOUNT", "Unauthorized - Invalid Nonce", "NO_ORDER_MATCHES_YOUR_REQUEST"]
    ),
    st.lists(st.integers(), max_size=2),
)


@FUZZ
@given(
    success=ENVELOPE_VALUES,
    code=ENVELOPE_VALUES,
    message=ENVELOPE_VALUES,
    drop=st.sets(st.sampled_from(["success", "code", "message", "data"])),
)
def test_a_garbled_envelope_raises_only_exchange_errors(
    success: object, code: object, message: object, drop: set[str]
) -> None:
    payload = load("rest_user_trades_ccxt_comment_20210420.json")
    payload |= {"success": success, "code": code, "message": message}
    for key in drop:
        payload.pop(key, None)

    sent_success = None if "success" in drop else success
    error_envelope = sent_success is False or ("code" not in drop and not _means_zero(code))
    try:
        trades = parse_user_trades(payload)
    except ExchangeError as exc:
        assert exc.endpoint == "GET /api/v1/users/transactions/trade"
    else:  # an envelope that reports an error is never read as data
        assert not error_envelope
        assert sent_success in (True, None) and "data" not in drop
        assert len(trades) == 1


def _means_zero(code: object) -> bool:
    if code is None:
        return True
    if isinstance(code, str) and re.fullmatch(r"-?[0-9]{1,9}", code.strip()):
        return int(code.strip()) == 0
    return isinstance(code, int) and not isinstance(code, bool) and code == 0


# --- never a wrong number ------------------------------------------------------------------

_PLAIN = st.from_regex(r"\A-?[0-9]{1,9}(\.[0-9]{1,8})?\Z")


def numeric_paths(value: object, prefix: tuple = ()) -> Iterator[tuple]:
    """Paths of leaves that are numbers or plain numeric strings."""
    for path in paths(value, prefix):
        leaf = value
        for step in path:
            leaf = leaf[step]
        if isinstance(leaf, bool):
            continue
        if isinstance(leaf, int | float) or (isinstance(leaf, str) and _is_plain_number(leaf)):
            yield path


def _is_plain_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite() and text.strip() == text and "_" not in text
    except ArithmeticError:
        return False


def encodings(leaf: object) -> list[object]:
    """The same number in the other JSON spellings the parser must read identically.

    Integers and integral strings (ids, timestamps, scales) swap between ``int`` and string;
    fractional values between string, ``Decimal`` (``parse_float=Decimal``), and ``float``
    when the float holds the value exactly. (An id or a scale sent as ``2.0`` is a different
    type, refused on purpose, not a different number.)
    """
    if isinstance(leaf, int):
        return [str(leaf), leaf]
    if isinstance(leaf, str) and leaf.lstrip("-").isdigit():
        return [leaf, int(leaf)]
    exact = Decimal(str(leaf))
    forms: list[object] = [str(leaf), exact]
    if Decimal(repr(float(exact))) == exact:
        forms.append(float(exact))
    if isinstance(leaf, float) and exact == exact.to_integral_value():
        forms.append(int(exact))
    return forms


@pytest.mark.parametrize("case", sorted(CASES))
@FUZZ
@given(data=st.data())
def test_a_number_parses_the_same_as_json_number_or_string(case: str, data: st.DataObject) -> None:
    parser, payload = CASES[case]
    candidates = list(numeric_paths(payload))
    assume(candidates)
    path = data.draw(st.sampled_from(candidates), label="path")
    leaf = payload
    for step in path:
        leaf = leaf[step]
    form = data.draw(st.sampled_from(encodings(leaf)), label="form")

    assert parser(mutated(payload, path, form, False)) == parser(payload)


@FUZZ
@given(text=_PLAIN, form=st.sampled_from(["str", "decimal", "float", "int"]))
def test_a_generated_amount_is_parsed_to_exactly_its_value(text: str, form: str) -> None:
    exact = Decimal(text)
    if form == "float":
        assume(Decimal(repr(float(exact))) == exact)
        value: object = float(exact)
    elif form == "int":
        assume(exact == exact.to_integral_value())
        value = int(exact)
    else:
        value = text if form == "str" else exact
    payload = load("rest_balances_data_outlier_2021.json")
    payload[0]["locked"] = value

    assert parse_balances(payload)["BTC"].locked == exact


@FUZZ
@given(trade_id=st.integers(min_value=0, max_value=10**29))
def test_a_large_trade_id_survives_as_int_or_string(trade_id: int) -> None:
    payload = data_of("rest_user_trades_ccxt_comment_20210420.json")
    as_int = copy.deepcopy(payload)
    as_int[0]["id"] = trade_id
    as_text = copy.deepcopy(payload)
    as_text[0]["id"] = str(trade_id)

    assert parse_user_trades(as_int)[0].trade_id == str(trade_id)
    assert parse_user_trades(as_text) == parse_user_trades(as_int)
