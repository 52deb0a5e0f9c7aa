"""Symbols: both BTCTurk spellings parse to the same pair (reference/btcturk_api.md 1)."""

from __future__ import annotations

import pytest

from trading.domain.symbols import Symbol, SymbolError, parse_symbol


@pytest.mark.parametrize(
    ("text", "base", "quote"),
    [
        ("BTCTRY", "BTC", "TRY"),
        ("BTC_TRY", "BTC", "TRY"),
        ("btc_try", "BTC", "TRY"),
        ("BTC/TRY", "BTC", "TRY"),
        ("BTC-TRY", "BTC", "TRY"),
        ("  btctry ", "BTC", "TRY"),
        ("BTCUSDT", "BTC", "USDT"),
        ("BTCUSD", "BTC", "USD"),
        ("USDTTRY", "USDT", "TRY"),
        ("USDTRY", "USD", "TRY"),
        ("ETHBTC", "ETH", "BTC"),
        ("AAVETRY", "AAVE", "TRY"),
        ("XLM_USDT", "XLM", "USDT"),
    ],
)
def test_it_parses_every_pair_spelling_into_base_and_quote(
    text: str, base: str, quote: str
) -> None:
    assert parse_symbol(text) == Symbol(base, quote)


def test_usdt_suffix_wins_over_usd_when_there_is_no_separator() -> None:
    symbol = parse_symbol("ARPAUSDT")

    assert (symbol.base, symbol.quote) == ("ARPA", "USDT")


@pytest.mark.parametrize(
    ("symbol", "pair", "normalized"),
    [
        (Symbol("BTC", "TRY"), "BTCTRY", "BTC_TRY"),
        (Symbol("USDT", "TRY"), "USDTTRY", "USDT_TRY"),
        (Symbol("XLM", "USDT"), "XLMUSDT", "XLM_USDT"),
    ],
)
def test_it_formats_both_btcturk_spellings(symbol: Symbol, pair: str, normalized: str) -> None:
    assert symbol.pair == pair
    assert symbol.pair_normalized == normalized
    assert str(symbol) == normalized


@pytest.mark.parametrize(
    "text", ["BTC_TRY", "BTCTRY", "USDTTRY", "ETH_BTC", "AAVETRY", "XLMUSDT", "ARPA_USDT"]
)
def test_formatting_and_parsing_round_trip(text: str) -> None:
    symbol = parse_symbol(text)

    assert parse_symbol(symbol.pair) == symbol
    assert parse_symbol(symbol.pair_normalized) == symbol


@pytest.mark.parametrize(
    "text", ["", "BTC", "TRY", "BTCXYZ", "BTC_", "_TRY", "BTC_T-RY", "BT C_TRY", "BTC$TRY"]
)
def test_unparseable_text_raises_an_error_that_names_the_text(text: str) -> None:
    with pytest.raises(SymbolError) as excinfo:
        parse_symbol(text)

    assert repr(text) in str(excinfo.value)


def test_a_custom_quote_list_is_used_for_pairs_without_separator() -> None:
    assert parse_symbol("BTCXYZ", quotes=("XYZ",)) == Symbol("BTC", "XYZ")
    with pytest.raises(SymbolError):
        parse_symbol("BTCTRY", quotes=("USDT",))
