"""Trading reads (STYLE.md rule 2): rules from instrument rows, accounts, open orders."""

from __future__ import annotations

from collections.abc import Iterable

from meva.errors import ApplicationError
from trading.domain.decimals import decimal_trim
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol
from trading.models import Account, Instrument


def account_get(*, name: str) -> Account:
    """The account called ``name``; raises ``ApplicationError`` listing the known names."""
    account = Account.objects.filter(name=name).first()
    if account is None:
        known = ", ".join(Account.objects.values_list("name", flat=True)) or "none"
        raise ApplicationError(f"no account named {name!r} (known: {known})")
    return account


def instrument_rules(symbols: Iterable[Symbol]) -> dict[Symbol, ExchangeRules]:
    """Exchange rules of ``symbols`` from their ``Instrument`` rows (synced from
    ``exchangeinfo``); symbols without a row are left out (the universe then skips them)."""
    wanted = {symbol.pair_normalized: symbol for symbol in symbols}
    rules = {}
    for row in Instrument.objects.filter(symbol__in=wanted):
        symbol = wanted[row.symbol]
        rules[symbol] = ExchangeRules(
            symbol=symbol,
            tick_size=decimal_trim(row.tick_size),
            step_size=decimal_trim(row.step_size),
            min_notional=decimal_trim(row.min_notional),
            min_price=None if row.min_price is None else decimal_trim(row.min_price),
            max_price=None if row.max_price is None else decimal_trim(row.max_price),
            status=row.status,
            order_methods=frozenset(str(m).upper() for m in row.order_methods),
        )
    return rules
