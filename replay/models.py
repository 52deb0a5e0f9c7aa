"""Replay datasets and backtest results.

A :class:`Dataset` registers a validated directory of candle files; a :class:`BacktestRun` is
one run of the cycle pipeline over it, with a status lifecycle (pending -> running ->
completed | failed). Results are written in bulk when the run ends: fills, round-trip trades,
one :class:`BacktestCycle` row per cycle that decided something, and the equity curve of every
cycle in one compact :class:`BacktestSeries` row.
Money and quantities are ``DecimalField``; the quote currency is the dataset's.
"""

from __future__ import annotations

from django.db import models

from replay.domain.series import EncodedSeries
from replay.domain.sweeps import SweepMetric

MONEY = {"max_digits": 36, "decimal_places": 12}


class Dataset(models.Model):
    """A replay dataset directory (README "Replay datasets"), validated at import.

    ``fingerprint`` is the sha256 over the dataset's files; a backtest refuses to run when
    the files on disk no longer match it.
    """

    name = models.SlugField(max_length=100, unique=True)
    path = models.CharField(max_length=1000)
    fingerprint = models.CharField(max_length=64)
    quote_asset = models.CharField(max_length=16)
    interval_ms = models.BigIntegerField(help_text="bar length in milliseconds")
    first_ts = models.DateTimeField()
    last_ts = models.DateTimeField()
    bar_count = models.PositiveIntegerField(help_text="bars over all symbols")
    has_book = models.BooleanField(default=False)
    rules_source = models.CharField(max_length=32, help_text="exchangeinfo.json or defaults")
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DatasetSeries(models.Model):
    """One symbol's candle file in a dataset: its range, size, gaps and effective rules."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="series")
    symbol = models.CharField(max_length=32, help_text="BASE_QUOTE")
    first_ts = models.DateTimeField()
    last_ts = models.DateTimeField()
    bars = models.PositiveIntegerField()
    gap_count = models.PositiveIntegerField(default=0)
    missing_bars = models.PositiveIntegerField(default=0)
    gaps = models.JSONField(default=list, help_text="[[first missing ISO, missing bars], ...]")
    rules = models.JSONField(default=dict, help_text="tick/step/min notional/band and source")

    class Meta:
        ordering = ["dataset", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "symbol"], name="uniq_dataset_symbol")
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name}:{self.symbol}"


class RunStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class BacktestRun(models.Model):
    """One backtest: inputs, lifecycle, timings and summary metrics.

    Percentages are percent (``12.5`` = 12.5 %); money in the dataset's quote currency;
    ``fingerprint`` is the sha256 over canonical decisions and ledger (same inputs, same value).
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="runs")
    dataset_fingerprint = models.CharField(max_length=64)
    strategy = models.CharField(max_length=64)
    params = models.JSONField(default=dict)
    risk_limits = models.JSONField(default=dict)
    universe = models.JSONField(
        default=dict,
        blank=True,
        help_text="universe governance settings (as an account's; {} = off)",
    )
    adaptation = models.JSONField(
        default=dict,
        blank=True,
        help_text="parameter adaptation settings (as an account's; {} = off); the versions "
        "are the run's ParamSet rows",
    )
    fill_model = models.CharField(max_length=16)
    fee_maker_bps = models.DecimalField(max_digits=10, decimal_places=4)
    fee_taker_bps = models.DecimalField(max_digits=10, decimal_places=4)
    initial_cash = models.DecimalField(**MONEY)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    elapsed_s = models.FloatField(null=True, blank=True, help_text="engine time, seconds")
    persist_s = models.FloatField(null=True, blank=True, help_text="bulk write time, seconds")
    progress_pct = models.PositiveSmallIntegerField(
        default=0,
        help_text="percent of the run's cycles simulated (0-100), written about every 1 % "
        "while it runs; 100 while results are stored",
    )
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="refreshed with the progress while it runs; a running run whose heartbeat "
        "is older than BACKTEST_STALE_AFTER_S is swept to failed (trading.services.stale_work)",
    )
    sweep = models.ForeignKey(
        "Sweep",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        help_text="the parameter sweep this run is one combination of, if any",
    )

    cycles = models.PositiveIntegerField(default=0)
    symbols = models.JSONField(default=list)
    bars = models.PositiveIntegerField(default=0)
    trades = models.PositiveIntegerField(default=0, help_text="closed round trips")
    fills = models.PositiveIntegerField(default=0)
    fees = models.DecimalField(default=0, **MONEY)
    final_equity = models.DecimalField(null=True, blank=True, **MONEY)
    return_pct = models.DecimalField(null=True, blank=True, max_digits=20, decimal_places=6)
    max_drawdown_pct = models.DecimalField(null=True, blank=True, max_digits=20, decimal_places=6)
    sharpe = models.FloatField(null=True, blank=True)
    win_rate = models.FloatField(null=True, blank=True, help_text="winning trades / trades")
    cycles_per_s = models.FloatField(null=True, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in RunStatus]),
                name="backtest_status_valid",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} {self.strategy} on {self.dataset_id} ({self.status})"


class BacktestFill(models.Model):
    """One simulated execution of a run (unique per run on the venue's trade id)."""

    # no index of its own: the (run, trade_id) unique constraint's index serves lookups by
    # run, and one index less makes every stored fill cheaper to write
    run = models.ForeignKey(
        BacktestRun, on_delete=models.CASCADE, related_name="fill_rows", db_index=False
    )
    trade_id = models.CharField(max_length=64)
    client_order_id = models.CharField(max_length=50)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    price = models.DecimalField(**MONEY)
    quantity = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY)
    fee_asset = models.CharField(max_length=16)
    liquidity = models.CharField(max_length=8)
    ts = models.DateTimeField()

    class Meta:
        ordering = ["run", "ts", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "trade_id"], name="uniq_backtest_trade_id")
        ]


class BacktestTrade(models.Model):
    """A round trip: a position opened from flat and closed back to flat."""

    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="trade_rows")
    symbol = models.CharField(max_length=32)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField()
    quantity = models.DecimalField(**MONEY, help_text="largest base quantity held")
    entry_price = models.DecimalField(**MONEY, help_text="average buy price")
    exit_price = models.DecimalField(**MONEY, help_text="average sell price")
    pnl = models.DecimalField(**MONEY, help_text="realized PnL after fees")
    fees = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["run", "closed_at", "id"]


class BacktestCycle(models.Model):
    """One cycle's decisions and its point on the equity curve.

    Stored for the cycles worth a row (``replay.domain.cycle_log.CycleLog.row_seqs``): the
    first cycle, every cycle with an intent, order, cancel, denial or fill, and every cycle
    whose risk mode, mode reasons or universe changed. Any other cycle repeats the row before
    it, except for its time, equity, cash and drawdown, which :class:`BacktestSeries` holds.

    ``intents``/``orders``/``denials`` are lists of small objects (symbol, side, quantity,
    price, reason); ``drawdown_pct`` is percent below the running equity peak. ``universe``
    lists the symbols the strategies were asked about; it is empty on a quiet cycle (no
    resting order, no new fill, no strategy signal), where the engine skipped steps 5-9
    because they could not produce anything (README "Fast path").
    """

    # no index of its own: the (run, seq) unique constraint's index serves lookups by run
    # (about a third less time to insert a run's rows on SQLite)
    run = models.ForeignKey(
        BacktestRun, on_delete=models.CASCADE, related_name="cycle_rows", db_index=False
    )
    seq = models.PositiveIntegerField()
    ts = models.DateTimeField()
    mode = models.CharField(max_length=20)
    mode_reasons = models.JSONField(default=list, blank=True)
    equity = models.DecimalField(**MONEY)
    cash = models.DecimalField(**MONEY)
    drawdown_pct = models.DecimalField(max_digits=20, decimal_places=6)
    universe = models.JSONField(default=list, blank=True)
    intents = models.JSONField(default=list, blank=True)
    orders = models.JSONField(default=list, blank=True)
    denials = models.JSONField(default=list, blank=True)
    fills = models.PositiveIntegerField(default=0)
    events = models.JSONField(
        default=list,
        blank=True,
        help_text="governed universe and parameter adaptation events, as text",
    )

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="uniq_run_cycle")]


class BacktestSeries(models.Model):
    """Every cycle's time, equity, cash, drawdown and risk mode of a run, compressed
    (``replay.domain.series``: the encoding, and :func:`~replay.domain.series.series_curve`
    to read it downsampled). ``points`` is the run's cycle count."""

    run = models.OneToOneField(
        BacktestRun, on_delete=models.CASCADE, primary_key=True, related_name="series"
    )
    points = models.PositiveIntegerField()
    now_ms = models.BinaryField(help_text="int64 little-endian deltas of epoch ms, zlib")
    equity = models.BinaryField(help_text="decimal texts, newline-separated, zlib")
    cash = models.BinaryField(help_text="decimal texts, newline-separated, zlib")
    drawdown_pct = models.BinaryField(help_text="6-place decimal texts, newline-separated, zlib")
    modes = models.BinaryField(help_text="one byte per cycle: index into mode_names, zlib")
    mode_names = models.JSONField(default=list)

    class Meta:
        verbose_name_plural = "backtest series"

    def __str__(self) -> str:
        return f"series of run {self.run_id} ({self.points} cycles)"

    def encoded(self) -> EncodedSeries:
        """The stored columns as a :class:`replay.domain.series.EncodedSeries`."""
        return EncodedSeries(
            points=self.points,
            now_ms=bytes(self.now_ms),
            equity=bytes(self.equity),
            cash=bytes(self.cash),
            drawdown_pct=bytes(self.drawdown_pct),
            modes=bytes(self.modes),
            mode_names=list(self.mode_names),
        )


class Sweep(models.Model):
    """A parameter sweep: one :class:`BacktestRun` per combination of ``grid`` (a JSON object
    of value lists) merged over ``base_params``, all on one dataset with one strategy, risk and
    fees (README "Parameter sweeps").

    Lifecycle pending -> running -> completed | failed: completed when every combination has
    ended and at least one completed; failed when every one failed or the sweep was
    interrupted (``error`` says so). A combination that fails fails alone: its run is failed
    with its error and counts in ``failed``. ``total``/``completed``/``failed`` count runs;
    ``metric`` is what the results are ranked by; ``actor`` who started it
    (``command:backtest_sweep``, ``user:<name>``, ``task:<name>``).
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="sweeps")
    strategy = models.CharField(max_length=64)
    grid = models.JSONField(help_text='{"param": [value, ...], ...}')
    base_params = models.JSONField(default=dict, blank=True)
    risk = models.JSONField(default=dict, blank=True, help_text="risk limit overrides")
    max_volume_share = models.DecimalField(
        null=True,
        blank=True,
        max_digits=9,
        decimal_places=8,
        help_text="share of a bar's volume one order may fill (null: no cap); every run's",
    )
    metric = models.CharField(max_length=16, choices=[(m.value, m.value) for m in SweepMetric])
    executor = models.CharField(max_length=32, help_text="'local, N workers' or 'celery'")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    error = models.TextField(blank=True)
    total = models.PositiveIntegerField(default=0, help_text="combinations (runs)")
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    actor = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in RunStatus]),
                name="sweep_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(metric__in=[m.value for m in SweepMetric]),
                name="sweep_metric_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"sweep {self.pk} {self.strategy} on {self.dataset_id} ({self.status})"
