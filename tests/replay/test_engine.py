"""The backtest engine, pure and in memory: determinism, balances that move and reconcile with
the venue, drawdown, no look-ahead, the start/end window, gaps and stale data, round trips.

Hand-made datasets use 5-minute bars from 2024-01-01T00:00Z with default rules (tick from the
price decimals, step 1e-8, min notional 10). In a cycle at bar ``k`` (``now`` = close of bar
``k``) a strategy sees ``k + 1`` closed bars; an order it places fills at the earliest against
bar ``k + 1``. The realistic cases run on a slice of ``data/sample/usdt-5m``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest

from ledger.domain.drawdown import drawdown_update
from replay.domain.dataset import ReplayDataset, load_dataset
from replay.domain.engine import BacktestConfig, BacktestError, BacktestResult
from replay.domain.engine import run_backtest as engine_run
from trading.domain.intents import Intent, PricePolicy
from trading.domain.orders import Side
from trading.domain.planner import CyclePlan
from trading.domain.risk import RiskLimits
from trading.domain.strategies.base import StrategyContext
from trading.domain.strategies.registry import build_strategy
from trading.domain.symbols import Symbol
from trading.domain.venue import FillModel
from trading.exchange.errors import OrderRejected
from trading.exchange.simulated import SimulatedExchange
from trading.services.execution import ExecutionResult, plan_execute

# The engine executes through the same service and port as paper cycles (injected).
run_backtest = partial(engine_run, execute=plan_execute, port=SimulatedExchange)

D = Decimal
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
STEP = 300_000
BTC, ETH = Symbol("BTC", "TRY"), Symbol("ETH", "TRY")
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "usdt-5m"
WIDE_OPEN = RiskLimits(
    cash_reserve_pct=D(0), max_order_pct=D(1), max_cycle_pct=D(1), max_position_pct=D(1)
)

Bar = tuple[object, object, object, object]  # open, high, low, close


def flat(*prices: object) -> list[Bar]:
    """Bars that open, trade and close at one price each."""
    return [(p, p, p, p) for p in prices]


def write_candles(root: Path, series: Mapping[str, Mapping[int, Bar]]) -> ReplayDataset:
    """``series[PAIR][bar index] = (open, high, low, close)``; missing indexes are gaps."""
    for pair, bars in series.items():
        lines = ["ts,open,high,low,close,volume"]
        lines += [
            f"{T0 + i * STEP},{o},{h},{lo},{c},1000" for i, (o, h, lo, c) in sorted(bars.items())
        ]
        path = root / "candles" / f"{pair}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return load_dataset(root)


def dataset(root: Path, **pairs: list[Bar]) -> ReplayDataset:
    return write_candles(root, {pair: dict(enumerate(bars)) for pair, bars in pairs.items()})


Script = Callable[[StrategyContext], Intent | None]


@dataclass
class Scripted:
    """A strategy whose decision is a function of the context; records what it saw."""

    script: Script = lambda ctx: None
    seen: list[tuple[Symbol, int, int]] = field(default_factory=list)
    name: str = "scripted"
    params: Mapping[str, object] = field(default_factory=dict)

    def warmup_bars(self) -> int:
        return 1

    def evaluate(self, ctx: StrategyContext) -> Intent | None:
        self.seen.append((ctx.symbol, ctx.bars.count, ctx.bars.last_ts()))
        return self.script(ctx)


def market(side: Side, symbol: Symbol, notional: str | None = None) -> Intent:
    return Intent(
        "scripted", symbol, side, PricePolicy.MARKET, side.value,
        notional=None if notional is None else D(notional),
    )  # fmt: skip


def at_counts(plan: Mapping[int, Intent]) -> Script:
    """Return ``plan[n]`` when the strategy sees ``n`` closed bars."""
    return lambda ctx: plan.get(ctx.bars.count)


def config(strategy: object, **overrides: object) -> BacktestConfig:
    base = BacktestConfig(
        strategy=strategy,
        limits=RiskLimits(),
        fee_maker_bps=D("10"),
        fee_taker_bps=D("20"),
        initial_cash=D("100000"),
    )
    return replace(base, **overrides)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> ReplayDataset:
    """The first 1,500 bars (about 5 days) of BTC_USDT and ETH_USDT from the bundled sample."""
    root = tmp_path_factory.mktemp("usdt-5m-slice")
    for pair in ("BTC_USDT", "ETH_USDT"):
        with (SAMPLE / "candles" / f"{pair}.csv").open() as source:
            head = [next(source) for _ in range(1501)]
        (root / "candles").mkdir(exist_ok=True)
        (root / "candles" / f"{pair}.csv").write_text("".join(head))
    return load_dataset(root)


def reconcile(result: BacktestResult, data: ReplayDataset) -> None:
    """Ledger, venue and equity agree at the end of a run."""
    cash = result.portfolio.cash
    last = result.cycles[-1].now_ms - data.interval_ms
    marks = {}
    for symbol, series in data.series.items():
        index = max(i for i, ts in enumerate(series.ts) if ts <= last)
        marks[symbol] = series.close_decimal(index)
    held = {s: p.quantity for s, p in result.portfolio.positions.items() if p.quantity}
    assert result.final_equity == cash + sum(q * marks[s] for s, q in held.items())
    assert result.final_equity == result.cycles[-1].equity
    assert result.venue_balances[result.quote_asset] == cash
    for symbol in data.series:
        assert result.venue_balances.get(symbol.base, D(0)) == held.get(symbol, D(0))


# --- determinism -----------------------------------------------------------------------------


def test_the_same_dataset_and_config_give_the_same_fingerprint(sample: ReplayDataset) -> None:
    cfg = config(build_strategy("sma_cross", {"fast": 5, "slow": 20}))

    first = run_backtest(sample, cfg)
    second = run_backtest(sample, cfg)

    assert first.fingerprint == second.fingerprint
    assert len(first.fingerprint) == 64
    assert (first.final_equity, len(first.fills)) == (second.final_equity, len(second.fills))
    assert first.fills


@pytest.mark.parametrize(
    "change",
    [
        {"strategy": build_strategy("sma_cross", {"fast": 6, "slow": 20})},
        {"fee_taker_bps": D("25")},
        {"limits": replace(RiskLimits(), max_order_pct=D("0.05"))},
        {"initial_cash": D("50000")},
    ],
)
def test_different_inputs_give_a_different_fingerprint(
    sample: ReplayDataset, change: dict[str, object]
) -> None:
    cfg = config(build_strategy("sma_cross", {"fast": 5, "slow": 20}))

    base = run_backtest(sample, cfg)
    other = run_backtest(sample, replace(cfg, **change))

    assert other.fingerprint != base.fingerprint


def test_the_fill_model_changes_the_fingerprint_of_a_limit_order_strategy(
    sample: ReplayDataset,
) -> None:
    cfg = config(build_strategy("mean_reversion", {}))

    bar = run_backtest(sample, cfg)
    next_open = run_backtest(sample, replace(cfg, fill_model=FillModel.NEXT_OPEN))

    assert bar.fingerprint != next_open.fingerprint


# --- balances ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "fill_model", "share"),
    [
        ("sma_cross", FillModel.BAR, None),
        ("mean_reversion", FillModel.BAR, D("0.10")),
        ("mean_reversion", FillModel.NEXT_OPEN, None),
        ("profit_take", FillModel.BAR, D("0.01")),
    ],
)
def test_balances_move_and_reconcile_with_the_venue(
    sample: ReplayDataset, strategy: str, fill_model: FillModel, share: Decimal | None
) -> None:
    cfg = config(build_strategy(strategy, {}), fill_model=fill_model, max_volume_share=share)

    result = run_backtest(sample, cfg)

    assert result.fills, "the scenario must trade"
    assert result.fees > 0
    assert result.fees == sum(f.fee for f in result.fills)
    assert result.portfolio.cash != cfg.initial_cash
    reconcile(result, sample)


def test_a_hand_made_round_trip_moves_cash_by_exactly_its_pnl_and_fees(tmp_path: Path) -> None:
    # buy 1,000 TRY at 100 (10 BTC, 1 % fee = 10), sell at 110 (1,100, fee 11): +79
    # buy again at 100 (fee 10), sell at 90 (900, fee 9): -119
    data = dataset(tmp_path, BTC_TRY=flat(100, 100, 100, 105, 110, 105, 100, 95, 90, 90, 90))
    plan = {
        2: market(Side.BUY, BTC, "1000"),
        4: market(Side.SELL, BTC),
        6: market(Side.BUY, BTC, "1000"),
        8: market(Side.SELL, BTC),
    }
    cfg = config(Scripted(at_counts(plan)), fee_maker_bps=D("50"), fee_taker_bps=D("100"))

    result = run_backtest(data, cfg)

    assert [(f.side, f.price, f.quantity, f.fee) for f in result.fills] == [
        (Side.BUY, D("100"), D("10"), D("10")),
        (Side.SELL, D("110"), D("10"), D("11")),
        (Side.BUY, D("100"), D("10"), D("10")),
        (Side.SELL, D("90"), D("10"), D("9")),
    ]
    assert [t.pnl for t in result.trades] == [D("79"), D("-119")]
    assert [(t.entry_price, t.exit_price, t.fees) for t in result.trades] == [
        (D("100"), D("110"), D("21")),
        (D("100"), D("90"), D("19")),
    ]
    assert result.win_rate == 0.5
    assert result.fees == D("40")
    assert result.portfolio.cash == D("99960")
    assert result.final_equity == D("99960")
    assert result.return_pct == D("-0.04")
    reconcile(result, data)


def test_a_small_market_exit_is_valued_by_the_venue_at_the_current_price(
    tmp_path: Path,
) -> None:
    # 0.12 BTC bought at 100 in a bar that closes at 50; the price is back at 100 when the
    # exit is placed, so the sale is worth 12 TRY (min notional 10), not 6.
    bars = [(100, 100, 100, 100), (100, 100, 50, 50)] + [(100, 100, 100, 100)] * 4
    data = dataset(tmp_path, BTC_TRY=bars)
    plan = {1: market(Side.BUY, BTC, "12"), 4: market(Side.SELL, BTC)}

    result = run_backtest(data, config(Scripted(at_counts(plan))))

    assert [d.code for r in result.cycles for d in r.denials] == []
    assert [(f.side, f.price, f.quantity) for f in result.fills] == [
        (Side.BUY, D("100"), D("0.12")),
        (Side.SELL, D("100"), D("0.12")),
    ]
    reconcile(result, data)


# --- drawdown ------------------------------------------------------------------------------


def test_drawdown_follows_the_equity_curve_when_prices_fall(tmp_path: Path) -> None:
    # all-in at 100 (10 BTC, no fees), then closes 100, 80, 50, 75: equity 1000, 1000, 800, 500, 750
    data = dataset(tmp_path, BTC_TRY=[(100, 100, 100, 100)] * 2 + flat(80, 50, 75))
    cfg = config(
        Scripted(at_counts({1: market(Side.BUY, BTC)})),
        limits=WIDE_OPEN,
        fee_maker_bps=D(0),
        fee_taker_bps=D(0),
        initial_cash=D("1000"),
    )

    result = run_backtest(data, cfg)

    assert [r.equity for r in result.cycles] == [D(1000), D(1000), D(800), D(500), D(750)]
    assert [r.drawdown_pct for r in result.cycles] == [D(0), D(0), D(20), D(50), D(25)]
    assert result.drawdown.max_drawdown_pct == D(50)
    assert result.portfolio.cash == D(0)


def test_the_reported_max_drawdown_is_the_worst_fall_of_the_equity_curve(
    sample: ReplayDataset,
) -> None:
    result = run_backtest(sample, config(build_strategy("sma_cross", {"fast": 5, "slow": 20})))

    state = None
    for record in result.cycles:
        state = drawdown_update(state, record.equity)
    assert result.drawdown.max_drawdown_pct == state.max_drawdown_pct
    assert result.drawdown.max_drawdown_pct > 0
    assert max(r.drawdown_pct for r in result.cycles) == state.max_drawdown_pct


def test_the_daily_loss_resets_at_istanbul_midnight_not_utc_midnight(tmp_path: Path) -> None:
    # bars from 2024-01-10T20:00Z; all-in at 100, then a 6 % fall: a daily loss, not a 10 %
    # drawdown. Istanbul's new day starts at 21:00Z, when the loss stops counting.
    start = 1_704_916_800_000  # 2024-01-10T20:00:00Z
    lines = ["ts,open,high,low,close,volume"]
    for i in range(16):
        price = 100 if i < 2 else 94
        lines.append(f"{start + i * STEP},{price},{price},{price},{price},1000")
    (tmp_path / "candles").mkdir()
    (tmp_path / "candles" / "BTC_TRY.csv").write_text("\n".join(lines) + "\n")
    cfg = config(
        Scripted(at_counts({1: market(Side.BUY, BTC)})),
        limits=replace(WIDE_OPEN, mode_cooldown_ms=0),
        fee_maker_bps=D(0),
        fee_taker_bps=D(0),
        initial_cash=D("1000"),
    )

    result = run_backtest(load_dataset(tmp_path), cfg)

    observe = [r for r in result.cycles if r.mode == "OBSERVE_ONLY"]
    assert [r.now_ms for r in observe] == [start + k * STEP for k in range(3, 12)]
    assert all(r.mode_reasons == ("DAILY_LOSS",) for r in observe)
    assert result.cycles[11].now_ms == start + 12 * STEP  # 21:00Z, Istanbul midnight
    assert result.cycles[11].mode == "NORMAL"


# --- no look-ahead -------------------------------------------------------------------------


def test_a_market_order_fills_at_the_next_bars_open_never_at_the_bar_already_closed(
    tmp_path: Path,
) -> None:
    # the order is placed once bar 1 (open 50, close 60) has closed; bar 2 opens at 100
    data = dataset(tmp_path, BTC_TRY=[(50, 50, 50, 50), (50, 60, 50, 60), (100, 100, 100, 100)])
    cfg = config(Scripted(at_counts({2: market(Side.BUY, BTC, "1000")})))

    result = run_backtest(data, cfg)

    assert [(f.price, f.ts_ms) for f in result.fills] == [(D("100"), T0 + 2 * STEP)]


def test_a_limit_order_never_fills_against_the_bar_that_had_closed_when_it_was_placed(
    tmp_path: Path,
) -> None:
    # bar 1 dips to 40 and closes at 60; a limit buy at the 60 mark is placed after it closed.
    # Every later bar trades above 60, so only look-ahead could fill it.
    bars = [(70, 70, 70, 70), (70, 70, 40, 60)] + [(90, 95, 90, 95)] * 3
    data = dataset(tmp_path, BTC_TRY=bars)

    def limit_at_mark(ctx: StrategyContext) -> Intent | None:
        if ctx.bars.count != 2:
            return None
        return Intent(
            "scripted", BTC, Side.BUY, PricePolicy.LIMIT, "dip",
            notional=D("600"), limit_price=ctx.market.mark_price,
        )  # fmt: skip

    result = run_backtest(data, config(Scripted(limit_at_mark)))

    assert [o.price for r in result.cycles for o in r.orders] == [D("60")]
    assert result.fills == []
    assert result.venue_balances["TRY"] == D("100000")


def test_strategies_see_exactly_the_bars_closed_at_each_cycle(tmp_path: Path) -> None:
    data = dataset(tmp_path, BTC_TRY=flat(*range(100, 110)))
    strategy = Scripted()

    result = run_backtest(data, config(strategy))

    assert len(strategy.seen) == len(result.cycles) == 10
    for (symbol, count, last_ts), record in zip(strategy.seen, result.cycles, strict=True):
        assert symbol == BTC
        assert count == record.seq + 1
        assert last_ts + STEP == record.now_ms


# --- window, gaps, stale data ------------------------------------------------------------------


def test_start_and_end_restrict_the_cycles(tmp_path: Path) -> None:
    data = dataset(tmp_path, BTC_TRY=flat(*range(100, 112)))
    strategy = Scripted()

    result = run_backtest(data, config(strategy, start_ms=T0 + 3 * STEP, end_ms=T0 + 8 * STEP))

    assert [r.now_ms for r in result.cycles] == [T0 + k * STEP for k in range(4, 9)]
    assert result.bars == 5
    # bars before the start are history the strategy may use, not cycles
    assert strategy.seen[0][1] == 4


@pytest.mark.parametrize(
    ("start", "end"),
    [(T0 + 50 * STEP, None), (None, T0), (T0 + 3 * STEP, T0 + 3 * STEP), (T0 + 5 * STEP, T0)],
)
def test_an_empty_window_raises_a_backtest_error(
    tmp_path: Path, start: int | None, end: int | None
) -> None:
    data = dataset(tmp_path, BTC_TRY=flat(*range(100, 110)))

    with pytest.raises(BacktestError):
        run_backtest(data, config(Scripted(), start_ms=start, end_ms=end))


def test_a_gap_in_one_symbol_makes_it_stale_and_drops_it_from_the_universe(tmp_path: Path) -> None:
    # ETH misses bars 5..14; with a 15-minute max data age it is stale from bar 8 to bar 14
    btc = {i: (100, 100, 100, 100) for i in range(20)}
    eth = {i: (10, 10, 10, 10) for i in range(20) if not 5 <= i <= 14}
    data = write_candles(tmp_path, {"BTC_TRY": btc, "ETH_TRY": eth})
    buy_eth = lambda ctx: market(Side.BUY, ETH, "100") if ctx.symbol == ETH else None  # noqa: E731

    result = run_backtest(
        data, config(Scripted(buy_eth), limits=replace(RiskLimits(), cooldown_ms=0))
    )

    assert len(result.cycles) == 20
    with_eth = [r.seq for r in result.cycles if ETH in r.universe]
    assert with_eth == [*range(0, 8), *range(15, 20)]
    assert all(BTC in r.universe for r in result.cycles)
    assert not any(o.symbol == ETH for r in result.cycles[8:15] for o in r.orders)
    reconcile(result, data)


def test_a_symbol_whose_data_starts_later_joins_the_universe_when_its_first_bar_closes(
    tmp_path: Path,
) -> None:
    btc = {i: (100, 100, 100, 100) for i in range(8)}
    eth = {i: (10, 10, 10, 10) for i in range(4, 8)}
    data = write_candles(tmp_path, {"BTC_TRY": btc, "ETH_TRY": eth})

    result = run_backtest(data, config(Scripted()))

    assert [ETH in r.universe for r in result.cycles] == [False] * 4 + [True] * 4


# --- scale ----------------------------------------------------------------------------------


def test_doubling_the_bars_doubles_the_cycles(tmp_path: Path) -> None:
    prices = [100 + (i % 7) - (i % 3) for i in range(400)]
    short = dataset(tmp_path / "short", BTC_TRY=flat(*prices[:200]), ETH_TRY=flat(*prices[:200]))
    long = dataset(tmp_path / "long", BTC_TRY=flat(*prices), ETH_TRY=flat(*prices))
    strategy = build_strategy("sma_cross", {"fast": 3, "slow": 8})

    small = run_backtest(short, config(strategy))
    big = run_backtest(long, config(strategy))

    assert (len(small.cycles), small.bars) == (200, 400)
    assert (len(big.cycles), big.bars) == (400, 800)


def test_progress_is_reported_through_the_last_cycle(tmp_path: Path) -> None:
    data = dataset(tmp_path, BTC_TRY=flat(*range(100, 125)))
    calls: list[tuple[int, int]] = []

    run_backtest(
        data,
        config(Scripted()),
        progress=lambda done, total: calls.append((done, total)),
        progress_every=10,
    )

    assert calls == [(0, 25), (10, 25), (20, 25), (25, 25)]


# --- execution: the same service and port as paper and live ----------------------------------


def test_orders_go_through_the_injected_executor_on_a_port_over_the_runs_venue(
    tmp_path: Path,
) -> None:
    data = dataset(tmp_path, BTC_TRY=flat(*range(100, 110)))
    ports: list[SimulatedExchange] = []
    calls: list[tuple[int, list[str], list[str]]] = []

    def port(venue: object, *, clock: Callable[[], int]) -> SimulatedExchange:
        ports.append(SimulatedExchange(venue, clock=clock))
        return ports[-1]

    def execute(plan: CyclePlan, *, port: object, now_ms: int) -> ExecutionResult:
        result = plan_execute(plan, port=port, now_ms=now_ms)
        calls.append(
            (now_ms, [o.client_order_id for o in plan.orders], [a.order_id for _, a in result.acks])
        )
        return result

    strategy = Scripted(at_counts({3: market(Side.BUY, BTC, "1000")}))
    result = engine_run(data, config(strategy), execute=execute, port=port)

    [(now, [coid], order_ids)] = calls  # only cycles with something to send reach it
    assert now == T0 + 3 * STEP and order_ids == ["1"]
    [order] = ports[0].all_orders(BTC)
    assert (order.client_order_id, order.created_ms) == (coid, now)  # the replay clock
    assert [f.client_order_id for f in result.fills] == [coid]


def test_a_port_reject_is_recorded_as_a_venue_denial_in_the_cycle(tmp_path: Path) -> None:
    data = dataset(tmp_path, BTC_TRY=flat(*range(100, 110)))

    class Refusing:
        """A port that refuses every order the way the simulated exchange does."""

        def __init__(self, venue: object, *, clock: Callable[[], int]) -> None:
            self.clock = clock

        def submit_order(self, request: object) -> None:
            raise OrderRejected("FAILED_ORDER_WITH_OPEN_ORDERS", reason="INSUFFICIENT_BALANCE")

        def cancel_order(self, order_id: str) -> None:
            raise AssertionError("nothing to cancel")

    strategy = Scripted(at_counts({3: market(Side.BUY, BTC, "1000")}))
    result = engine_run(data, config(strategy), execute=plan_execute, port=Refusing)

    [record] = [r for r in result.cycles if r.orders]
    assert [d.code for d in record.denials] == ["VENUE_INSUFFICIENT_BALANCE"]
    assert (record.denials[0].symbol, record.denials[0].strategy) == (BTC, "scripted")
    assert result.fills == []


# --- the cyclic collector is paused for a run and restored as it was -------------------------


def test_the_collector_is_paused_inside_and_restored_as_it_was_even_after_an_error() -> None:
    import gc

    from replay.domain.engine import collector_paused

    was = gc.isenabled()
    try:
        gc.enable()
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled()
        with pytest.raises(RuntimeError), collector_paused():
            raise RuntimeError("boom")
        assert gc.isenabled()
        gc.disable()  # paused by the caller already: left paused
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
