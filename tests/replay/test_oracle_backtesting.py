"""Oracle cross-check: ``manage.py backtest`` against backtesting.py on the same bars.

``sma_cross`` (fast 10, slow 30) runs with ``--fill-model next_open``, one symbol (the bundled
``data/sample/usdt-5m/candles/BTC_USDT.csv``, 26208 five-minute bars, copied alone into a
dataset under ``tmp_path``), a fixed 10 bps fee (maker = taker) and all-in sizing; the same
strategy runs in backtesting.py 0.6.6 (``backtesting.lib.FractionalBacktest``, a dev
dependency used only here). Every buy fill must sit on the bar where backtesting.py enters
and every sell on the bar where it exits (equal epoch milliseconds), at the same open price,
for the same number of 1e-8 steps, and both final equities must agree within 0.1 %. The file
yields 522 closed round trips and one position still open at the end.

Conventions bridged (docs/oracle.md explains each one):

- Time: our cycle runs when bar ``t`` closes and its market order fills at the open of the
  next bar, stamped with that bar's open time; backtesting.py calls ``next()`` on bar ``i``'s
  close and fills at bar ``i+1``'s ``Open`` with ``EntryTime``/``ExitTime`` = that bar's
  index. The DataFrame index is the candle's open time (ms UTC), so both stamps compare as
  equal epoch milliseconds.
- Averages: the oracle's SMA is ``math.fsum(window) / n`` over the unscaled closes, the
  arithmetic of ``SmaCross``, NaN for the first ``n - 1`` bars, so backtesting.py's warm-up
  (first ``next()`` on bar ``slow``) equals ours (``slow + 1`` closed bars) and both compare
  bit-identical averages with the same strict ``crossover``. Not pandas' rolling mean nor
  ``self.data.Close`` (which FractionalBacktest has multiplied by ``fractional_unit``): both
  differ from ``fsum`` in the last bit on about a fifth / two fifths of the bars, harmless
  on this file (the averages are never exactly equal) but able to flip a tie elsewhere.
- Prices are parsed with Python's ``float`` (correctly rounded), the same doubles the replay
  loader produces (integer / 10**scale).
- Sizing: ``cash_reserve_pct`` 0 and every cap at 100 % of equity make our buy notional
  ``cash / (1 + fee)``, converted at the next open and rounded down to the 1e-8 step;
  backtesting.py's default ``size`` (all of equity but one epsilon) buys
  ``floor(equity / (open * (1 + fee)))`` units of ``fractional_unit`` = 1e-8. Same formula,
  same step: every entry buys the same number of steps.
- Fees: backtesting.py's ``commission=0.001``, charged on entry value and again on exit
  value, is our 10 bps taker fee per fill on ``price * quantity``.
- End of data: ``finalize_trades=False``; the last position stays open and both engines value
  it at the last close with no exit fee (``finalize_trades=True`` would sell it at the last
  bar's open and charge the fee, which our engine never does). Its entry comes from
  ``stats["_strategy"].trades`` (still in FractionalBacktest's scaled units). The summary
  JSON rounds ``final_equity`` to cents, so the comparison reads ``BacktestRun.final_equity``.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from backtesting import Strategy
from backtesting.lib import FractionalBacktest, crossover
from django.core.management import call_command

from replay.models import BacktestFill, BacktestRun, BacktestTrade

FAST = 10
SLOW = 30
FEE_BPS = Decimal(10)
INITIAL_CASH = Decimal(100_000)
STEP = Decimal("0.00000001")  # our default quantity step (trading.domain.rules.default_rules)
FRACTIONAL_UNIT = float(STEP)
SOURCE = "usdt-5m/candles/BTC_USDT.csv"
ALL_IN = {
    "cash_reserve_pct": 0,
    "max_order_pct": 1,
    "max_cycle_pct": 1,
    "max_position_pct": 1,
    "max_order_notional": None,
    "max_cycle_notional": None,
    "max_position_notional": None,
    "cooldown_ms": 0,
    "reduce_drawdown_pct": 1,
    "observe_drawdown_pct": 1,
    "daily_loss_pct": 1,
    "order_ttl_ms": 3_600_000,
}


def fsum_sma(values: np.ndarray, n: int) -> np.ndarray:
    """``math.fsum(window) / n`` per bar (the arithmetic of ``SmaCross``); NaN until ``n`` bars."""
    out = np.full(len(values), np.nan)
    for i in range(n - 1, len(values)):
        out[i] = math.fsum(values[i - n + 1 : i + 1]) / n
    return out


class OracleSmaCross(Strategy):
    """The sma_cross rule in backtesting.py: long only, all in, close on the cross back down."""

    fast = FAST
    slow = SLOW
    closes: np.ndarray = np.empty(0)  # unscaled closes, set by run_oracle

    def init(self) -> None:
        self.sma_fast = self.I(fsum_sma, self.closes, self.fast, name="fast")
        self.sma_slow = self.I(fsum_sma, self.closes, self.slow, name="slow")

    def next(self) -> None:
        if crossover(self.sma_fast, self.sma_slow) and not self.position:
            self.buy()
        elif crossover(self.sma_slow, self.sma_fast) and self.position:
            self.position.close()


def copy_bundled_file(sample_dir: Path, root: Path) -> Path:
    """A one-symbol dataset at ``root``: the bundled BTC_USDT candles, byte for byte."""
    target = root / "candles" / "BTC_USDT.csv"
    target.parent.mkdir(parents=True)
    shutil.copyfile(sample_dir / SOURCE, target)
    return root


def oracle_frame(dataset: Path) -> pd.DataFrame:
    """OHLCV indexed by bar open time (naive UTC), floats parsed by Python's ``float``."""
    with (dataset / "candles" / "BTC_USDT.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    index = pd.to_datetime([int(r["ts"]) for r in rows], unit="ms")
    columns = {
        "Open": "open",
        "High": "high",
        "Low": "low",
        "Close": "close",
        "Volume": "volume",
    }
    return pd.DataFrame({k: [float(r[v]) for r in rows] for k, v in columns.items()}, index=index)


def run_oracle(frame: pd.DataFrame) -> pd.Series:
    strategy = type("OracleRun", (OracleSmaCross,), {"closes": frame["Close"].to_numpy()})
    backtest = FractionalBacktest(
        frame,
        strategy,
        cash=float(INITIAL_CASH),
        commission=float(FEE_BPS / 10_000),
        fractional_unit=FRACTIONAL_UNIT,
        trade_on_close=False,
        exclusive_orders=False,
        finalize_trades=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Some trades remain open": intended, see docstring
        return backtest.run()


def run_meva(dataset: Path) -> tuple[dict, BacktestRun, list[BacktestFill]]:
    """Import ``dataset`` and run ``manage.py backtest ... --json``; the summary, run, fills."""
    call_command("import_dataset", str(dataset), "--name", "oracle-btc-usdt", stdout=StringIO())
    out = StringIO()
    call_command(
        "backtest",
        "--dataset=oracle-btc-usdt",
        "--strategy=sma_cross",
        f"--params={json.dumps({'fast': FAST, 'slow': SLOW})}",
        f"--risk={json.dumps(ALL_IN)}",
        "--fill-model=next_open",
        f"--fee-maker-bps={FEE_BPS}",
        f"--fee-taker-bps={FEE_BPS}",
        "--max-volume-share=0",
        f"--initial-cash={INITIAL_CASH}",
        "--json",
        stdout=out,
    )
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    run = BacktestRun.objects.get(pk=summary["run_id"])
    fills = list(BacktestFill.objects.filter(run=run).order_by("ts", "id"))
    return summary, run, fills


def epoch_ms(moment: datetime | pd.Timestamp) -> int:
    if isinstance(moment, pd.Timestamp):
        return round(moment.tz_localize(UTC).timestamp() * 1000)
    return round(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Compared:
    """Both runs over the same file: the oracle's stats and our run, summary and fills."""

    stats: pd.Series
    summary: dict
    run: BacktestRun
    buys: list[BacktestFill]
    sells: list[BacktestFill]

    @property
    def closed(self) -> pd.DataFrame:
        return self.stats["_trades"].sort_values("EntryTime")

    @property
    def still_open(self) -> list:
        return self.stats["_strategy"].trades


@pytest.fixture
def compared(sample_dir: Path, tmp_path: Path, db) -> Compared:
    dataset = copy_bundled_file(sample_dir, tmp_path / "btc-usdt-5m")
    stats = run_oracle(oracle_frame(dataset))
    summary, run, fills = run_meva(dataset)
    return Compared(
        stats=stats,
        summary=summary,
        run=run,
        buys=[f for f in fills if f.side == "buy"],
        sells=[f for f in fills if f.side == "sell"],
    )


def test_sma_cross_enters_and_exits_on_the_same_bars_as_backtesting_py(compared):
    closed, still_open = compared.closed, compared.still_open
    oracle_entries = [epoch_ms(t) for t in closed["EntryTime"]]
    oracle_entries += [epoch_ms(t.entry_time) for t in still_open]
    oracle_exits = [epoch_ms(t) for t in closed["ExitTime"]]

    assert len(closed) >= 20, "the file must hold enough crossings to be a meaningful check"
    assert len(still_open) == 1, "the file ends with a position open (end-of-data convention)"
    assert {f.symbol for f in compared.buys + compared.sells} == {"BTC_USDT"}
    assert [epoch_ms(f.ts) for f in compared.buys] == oracle_entries
    assert [epoch_ms(f.ts) for f in compared.sells] == oracle_exits
    round_trips = BacktestTrade.objects.filter(run=compared.run).count()
    assert compared.summary["trades"] == round_trips == len(closed)


def test_sma_cross_fills_at_the_same_opens_sizes_and_fees_as_backtesting_py(compared):
    closed, still_open = compared.closed, compared.still_open
    buys, sells = compared.buys, compared.sells
    # Open trades keep FractionalBacktest's scaled units: price * unit, size in units.
    entry_prices = list(closed["EntryPrice"]) + [
        t.entry_price / FRACTIONAL_UNIT for t in still_open
    ]
    entry_units = [round(size / FRACTIONAL_UNIT) for size in closed["Size"]]
    entry_units += [round(t.size) for t in still_open]

    assert [float(f.price) for f in buys] == pytest.approx(entry_prices, rel=1e-12)
    assert [float(f.price) for f in sells] == pytest.approx(list(closed["ExitPrice"]), rel=1e-12)
    assert [int(f.quantity / STEP) for f in buys] == entry_units
    assert [f.quantity for f in sells] == [f.quantity for f in buys[: len(sells)]]
    # 10 bps of price * quantity per fill, the commission backtesting.py charges per side.
    fee_errors = [abs(f.fee - f.price * f.quantity * FEE_BPS / 10_000) for f in buys + sells]
    assert max(fee_errors) <= Decimal("1e-12")  # the row keeps 12 decimals


def test_final_equity_agrees_with_backtesting_py_within_a_tenth_of_a_percent(compared):
    ours = compared.run.final_equity
    theirs = Decimal(repr(float(compared.stats["Equity Final [$]"])))
    relative = abs(ours - theirs) / theirs

    assert compared.summary["final_equity"] == str(ours.quantize(Decimal("0.01")))
    assert ours != compared.run.initial_cash
    assert relative < Decimal("0.001"), f"final equity {ours} vs backtesting.py {theirs}"
