"""Ledger tables: fills, their balance entries, positions and equity snapshots.

Fills are trade-level and unique per account on the exchange trade id (DESIGN.md section 5);
entries and positions are derived from them by :func:`ledger.services.fill_record`. ``account``
names a live account or a paper/backtest run. Money and quantities are ``DecimalField``
(40 digits, 20 decimal places, so a venue's fees are kept exactly); prices and PnL are in the symbol's quote asset (TRY), quantities
in base units, timestamps UTC.
"""

from __future__ import annotations

from django.db import models

MONEY = {"max_digits": 40, "decimal_places": 20}


class LedgerFill(models.Model):
    """One trade-level execution, as reported by the venue; the only input of the ledger.

    Unique on ``(account, trade_id)``, which makes recording a fill twice impossible.
    ``fee`` is in ``fee_asset``; ``fee_quote`` is that fee valued in the quote asset at fill
    time (the conversion the position used).
    """

    class Side(models.TextChoices):
        BUY = "buy"
        SELL = "sell"

    class Liquidity(models.TextChoices):
        MAKER = "maker"
        TAKER = "taker"

    account = models.CharField(max_length=64)
    trade_id = models.CharField(max_length=64, help_text="exchange trade id")
    client_order_id = models.CharField(max_length=64, blank=True)
    symbol = models.CharField(max_length=32, help_text="BASE_QUOTE")
    side = models.CharField(max_length=4, choices=Side.choices)
    price = models.DecimalField(**MONEY, help_text="quote per base unit")
    quantity = models.DecimalField(**MONEY, help_text="base units")
    fee = models.DecimalField(**MONEY, help_text="units of fee_asset")
    fee_asset = models.CharField(max_length=16)
    fee_quote = models.DecimalField(**MONEY, help_text="fee valued in quote at fill time")
    liquidity = models.CharField(max_length=5, choices=Liquidity.choices)
    ts = models.DateTimeField(help_text="execution time, UTC")
    recorded_at = models.DateTimeField(auto_now_add=True)
    # Booked by the realized PnL book (ledger.realized), not by fill_record: NULL until then.
    realized_pnl = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="realized PnL this fill booked, quote"
    )
    trading_day = models.DateField(
        null=True, blank=True, help_text="local date of TRADING_DAY_TIME_ZONE at ts"
    )

    class Meta:
        ordering = ["ts", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "trade_id"], name="uniq_ledger_fill_account_trade"
            )
        ]
        indexes = [
            models.Index(fields=["account", "symbol", "ts"]),
            # the API's filtered list, newest first (id order), without a scan of every fill
            models.Index(fields=["account", "symbol", "id"], name="fill_account_symbol_id"),
            # the PnL report's days cut by its time range: their fills in the range
            models.Index(fields=["account", "trading_day", "ts"], name="fill_account_day_ts"),
            # fills the realized PnL book has not booked yet (a handful once it is caught up)
            models.Index(
                fields=["account", "id"],
                name="fill_unbooked",
                condition=models.Q(realized_pnl__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.side} {self.quantity} {self.symbol} @ {self.price}"


class LedgerEntry(models.Model):
    """An append-only balance movement derived from a fill (never edited or deleted).

    ``amount`` is signed units of ``asset``: a buy adds base and removes quote, a sell the
    reverse, a fee removes its own asset. ``entry_id`` is ``<trade id>:base|quote|fee``.
    """

    class Kind(models.TextChoices):
        TRADE = "TRADE"
        FEE = "FEE"

    fill = models.ForeignKey(LedgerFill, on_delete=models.PROTECT, related_name="entries")
    entry_id = models.CharField(max_length=80)
    asset = models.CharField(max_length=16)
    amount = models.DecimalField(**MONEY, help_text="signed units of asset")
    kind = models.CharField(max_length=5, choices=Kind.choices)
    ts = models.DateTimeField(help_text="fill time, UTC")

    class Meta:
        ordering = ["ts", "id"]
        constraints = [
            models.UniqueConstraint(fields=["fill", "entry_id"], name="uniq_ledger_entry_fill")
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.entry_id} {self.amount} {self.asset}"


class LedgerBalance(models.Model):
    """Running balance of one asset in one account: the sum of every ``LedgerEntry`` of the
    account's fills in ``asset`` (signed units; opening balances are not included).

    Written only by :func:`ledger.services.fill_record`, in the transaction that appends the
    entries, so it always equals their sum; it lets a cycle read balances without summing
    the account's whole history. The entries stay the record: this row is derived from them.
    """

    account = models.CharField(max_length=64)
    asset = models.CharField(max_length=16, help_text="upper-case asset code")
    amount = models.DecimalField(**MONEY, default=0, help_text="signed units of asset")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "asset"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "asset"], name="uniq_ledger_balance_account_asset"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.amount} {self.asset}"


class Position(models.Model):
    """Current weighted-average-cost position of one symbol in one account.

    ``quantity`` base units (never negative, enforced by a check constraint); ``average_cost``
    quote per base unit including buy fees; ``cost_basis`` quote paid for the units held;
    ``realized_pnl`` and ``fees_paid`` cumulative quote. A flat position keeps its row for its
    realized PnL. Written only by :func:`ledger.services.fill_record`.
    """

    account = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32, help_text="BASE_QUOTE")
    quantity = models.DecimalField(**MONEY, default=0, help_text="base units")
    average_cost = models.DecimalField(**MONEY, default=0, help_text="quote per base unit")
    cost_basis = models.DecimalField(**MONEY, default=0, help_text="quote")
    realized_pnl = models.DecimalField(**MONEY, default=0, help_text="quote")
    fees_paid = models.DecimalField(**MONEY, default=0, help_text="quote")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "symbol"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "symbol"], name="uniq_position_account_symbol"
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=0), name="position_quantity_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.quantity} {self.symbol}"


class EquitySnapshot(models.Model):
    """Equity of an account at one instant: ``equity = cash + sum(qty * mark)`` in quote.

    ``peak`` is the running (all-time) equity peak of the account up to and including this
    row and ``drawdown_pct`` the fall from it, percent 0..100; the next snapshot continues from
    the latest row's peak. One row per account and timestamp.
    """

    account = models.CharField(max_length=64)
    ts = models.DateTimeField(help_text="UTC")
    equity = models.DecimalField(**MONEY, help_text="quote")
    cash = models.DecimalField(**MONEY, help_text="quote")
    peak = models.DecimalField(**MONEY, default=0, help_text="running equity peak, quote")
    drawdown_pct = models.DecimalField(**MONEY, default=0, help_text="percent 0..100")

    class Meta:
        ordering = ["account", "ts"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "ts"], name="uniq_equity_snapshot_account_ts"
            )
        ]
        # the console's deepest drawdown per account without reading every snapshot
        indexes = [models.Index(fields=["account", "drawdown_pct"], name="equity_account_drawdown")]

    def __str__(self) -> str:
        return f"{self.account} {self.ts:%Y-%m-%d %H:%M} {self.equity}"


class RealizedPnlDay(models.Model):
    """Realized PnL of one symbol in one account over one trading day (local date of
    ``TRADING_DAY_TIME_ZONE``): the sums of its fills' booked ``realized_pnl``, ``fee_quote``
    and notional (price x quantity) by side, quote; ``fills`` how many; ``first_ts`` and
    ``last_ts`` the first and last execution time (UTC), which tell whether a report's time
    range holds the whole day. Written only by :func:`ledger.realized.realized_pnl_book`,
    under the account's book row lock; derived from the fills, never edited otherwise."""

    account = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32, help_text="BASE_QUOTE")
    day = models.DateField(help_text="trading day, local date")
    realized_pnl = models.DecimalField(**MONEY, default=0, help_text="quote")
    fees = models.DecimalField(**MONEY, default=0, help_text="quote")
    fills = models.PositiveIntegerField(default=0)
    buy_notional = models.DecimalField(**MONEY, default=0, help_text="quote")
    sell_notional = models.DecimalField(**MONEY, default=0, help_text="quote")
    first_ts = models.DateTimeField(help_text="first fill's execution time, UTC")
    last_ts = models.DateTimeField(help_text="last fill's execution time, UTC")

    class Meta:
        ordering = ["account", "day", "symbol"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "day", "symbol"], name="uniq_realized_pnl_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.day} {self.symbol} {self.realized_pnl}"


class RealizedPnlBook(models.Model):
    """How far the realized PnL book of one account has folded its fills (one row per
    account, locked while it books more).

    ``positions`` maps a symbol (``BTC_TRY``) to the average-cost position after the last
    fill booked (``fill_id``) as exact decimal strings (the fold's own values: no rounding to
    the columns' 20 places). ``time_zone`` is the zone the trading days were taken in.
    ``exact`` is false once a booked value did not fit the columns exactly; ``scale`` is the
    most decimal places of a booked value and ``magnitude`` the sum of their absolute values
    (quote): while ``magnitude < 10 ** (28 - scale)`` every sum of them is exact in Python's
    28-digit context, so sums in any order equal the fold's (:mod:`ledger.realized`).
    """

    account = models.CharField(max_length=64, unique=True)
    time_zone = models.CharField(max_length=64)
    positions = models.JSONField(default=dict)
    exact = models.BooleanField(default=True)
    scale = models.PositiveSmallIntegerField(default=0)
    magnitude = models.CharField(max_length=100, default="0", help_text="quote, exact")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account"]

    def __str__(self) -> str:
        return f"{self.account} realized PnL book"
