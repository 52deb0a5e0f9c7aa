"""``export_dataset``: what a paper or live session saw, written as a replay dataset.

Layout (README "Replay datasets"): ``candles/<BASE>_<QUOTE>.csv`` with every stored bar of the
account's symbols and bar interval from the warm-up before its first cycle to its last cycle
(``ts,open,high,low,close,volume``, ``ts`` epoch ms open time, exact decimals);
``book/<BASE>_<QUOTE>.csv`` with the best bid and ask each completed cycle saw, stamped with
the cycle clock (``ts,bid,ask``; cycles without both sides are left out); ``exchangeinfo.json``
in BTCTurk's shape, from the ``Instrument`` rows, so the backtest gets the same rules; and
``session.json`` with the account's strategy, params, risk overrides, fees, opening balances
and cycle range, to backtest "with the same parameters".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from meva.errors import ApplicationError
from trading.domain.decimals import decimal_trim
from trading.domain.strategies.registry import build_strategy
from trading.models import Account, Candle, Cycle, CycleStatus, Instrument
from trading.services.market import EXTRA_HISTORY_BARS


@dataclass(frozen=True, slots=True)
class ExportResult:
    """Where it went and how much: bars and book rows per symbol, the cycle clock range."""

    out: Path
    bars: dict[str, int]
    book_rows: dict[str, int]
    first_cycle_ms: int
    last_cycle_ms: int


def dataset_export(*, account: Account, out: Path) -> ExportResult:
    """Write ``account``'s session to ``out`` (module docstring).

    Raises ``ApplicationError`` when the account has no completed cycle, or when ``out``
    exists and is not an empty directory (nothing is overwritten).
    """
    cycles = list(
        Cycle.objects.filter(account=account.name, status=CycleStatus.COMPLETED)
        .exclude(now_ms=None)
        .order_by("now_ms")
        .values_list("now_ms", "market")
    )
    if not cycles:
        raise ApplicationError(f"account {account.name} has no completed cycle to export")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ApplicationError(f"--out {out}: exists and is not an empty directory")
    interval_ms = account.bar_interval_s * 1000
    warmup = build_strategy(account.strategy, account.params).warmup_bars() + EXTRA_HISTORY_BARS
    first, last = cycles[0][0], cycles[-1][0]
    (out / "candles").mkdir(parents=True, exist_ok=True)
    (out / "book").mkdir(exist_ok=True)
    bars, books = {}, {}
    for symbol in account.symbol_list:
        name = symbol.pair_normalized
        bars[name] = _candles_write(
            out / "candles" / f"{name}.csv",
            Candle.objects.filter(
                symbol=name,
                interval_s=account.bar_interval_s,
                ts_ms__gte=first - (warmup + 1) * interval_ms,
                ts_ms__lte=last - interval_ms,
            ).order_by("ts_ms"),
        )
        books[name] = _book_write(out / "book" / f"{name}.csv", name, cycles)
    _exchangeinfo_write(out / "exchangeinfo.json", [s.pair_normalized for s in account.symbol_list])
    _session_write(out / "session.json", account, first, last)
    return ExportResult(out, bars, books, first, last)


def _t(value: Decimal) -> str:
    return str(decimal_trim(value))


def _candles_write(path: Path, rows) -> int:
    lines = ["ts,open,high,low,close,volume"]
    lines += [
        f"{c.ts_ms},{_t(c.open)},{_t(c.high)},{_t(c.low)},{_t(c.close)},{_t(c.volume)}"
        for c in rows
    ]
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def _book_write(path: Path, name: str, cycles: list[tuple[int, dict]]) -> int:
    lines = ["ts,bid,ask"]
    for now_ms, market in cycles:
        seen = (market or {}).get(name) or {}
        if seen.get("bid") and seen.get("ask"):
            lines.append(f"{now_ms},{seen['bid']},{seen['ask']}")
    if len(lines) == 1:
        return 0
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def _exchangeinfo_write(path: Path, names: list[str]) -> None:
    entries = []
    for row in Instrument.objects.filter(symbol__in=names).order_by("symbol"):
        tick, step = decimal_trim(row.tick_size), decimal_trim(row.step_size)
        price_filter = {
            "filterType": "PRICE_FILTER",
            "tickSize": str(tick),
            "minExchangeValue": _t(row.min_notional),
        }
        if row.min_price is not None:
            price_filter["minPrice"] = _t(row.min_price)
        if row.max_price is not None:
            price_filter["maxPrice"] = _t(row.max_price)
        entries.append(
            {
                "name": row.pair,
                "nameNormalized": row.symbol,
                "status": row.status,
                "numerator": row.base,
                "denominator": row.quote,
                "numeratorScale": max(0, -step.as_tuple().exponent),
                "denominatorScale": max(0, -tick.as_tuple().exponent),
                "filters": [price_filter],
                "orderMethods": [str(m).upper() for m in row.order_methods] or ["MARKET", "LIMIT"],
            }
        )
    path.write_text(json.dumps({"data": {"symbols": entries}}, indent=1) + "\n")


def _session_write(path: Path, account: Account, first: int, last: int) -> None:
    session = {
        "account": account.name,
        "mode": account.mode,
        "strategy": account.strategy,
        "params": account.params,
        "risk": account.risk,
        "symbols": account.symbols,
        "bar_interval_s": account.bar_interval_s,
        "fee_maker_bps": _t(account.fee_maker_bps),
        "fee_taker_bps": _t(account.fee_taker_bps),
        "fill_model": account.fill_model,
        "initial_balances": account.initial_balances,
        "first_cycle_ms": first,
        "last_cycle_ms": last,
    }
    path.write_text(json.dumps(session, indent=1) + "\n")
