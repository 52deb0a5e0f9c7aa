"""Trading rows: instruments, the operator's trading control, orders and cycles.

Money and quantities are ``DecimalField`` (quote currency per base unit for prices, base units
for quantities, quote currency for notionals). Order states follow
:class:`trading.domain.orders.OrderStatus`; status changes go through
``trading.services.orders.order_transition_apply`` (compare-and-set), never ``save()``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from trading.domain.orders import OrderStatus, OrderType, Side

MONEY = {"max_digits": 36, "decimal_places": 12}


class Instrument(models.Model):
    """One BTCTurk pair and its exchange rules, synced from ``exchangeinfo``.

    ``symbol`` is ``BASE_QUOTE`` (``BTC_TRY``), ``pair`` the separator-less form (``BTCTRY``);
    ``tick_size``/``min_price``/``max_price`` quote per base unit (effective tick and band,
    reference/btcturk_api.md section 2.1), ``step_size`` base units, ``min_notional`` quote
    units; ``order_methods`` a list such as ``["MARKET", "LIMIT"]``.
    """

    symbol = models.CharField(max_length=32, unique=True, help_text="BASE_QUOTE, e.g. BTC_TRY")
    base = models.CharField(max_length=16)
    quote = models.CharField(max_length=16)
    pair = models.CharField(max_length=32, unique=True, help_text="BTCTurk pairSymbol, e.g. BTCTRY")
    status = models.CharField(max_length=16, default="TRADING")
    tick_size = models.DecimalField(**MONEY)
    step_size = models.DecimalField(**MONEY)
    min_notional = models.DecimalField(**MONEY)
    min_price = models.DecimalField(null=True, blank=True, **MONEY)
    max_price = models.DecimalField(null=True, blank=True, **MONEY)
    order_methods = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return self.symbol


class TradingControl(models.Model):
    """The operator's switches: one row (``pk=1``), changed only by ``trading.services.control``.

    ``armed`` must be true for live side effects; ``kill_switch`` true blocks them. ``*_by`` and
    ``*_at`` (UTC) record who last changed each switch and when, ``reason`` why the last change
    was made. Defaults (not armed) block.
    """

    SINGLETON_PK = 1

    armed = models.BooleanField(default=False)
    armed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="who last armed or disarmed",
    )
    armed_at = models.DateTimeField(null=True, blank=True, help_text="when, UTC")
    kill_switch = models.BooleanField(default=False)
    kill_switch_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="who last engaged or released the kill switch",
    )
    kill_switch_at = models.DateTimeField(null=True, blank=True, help_text="when, UTC")
    reason = models.TextField(blank=True, help_text="why the last change was made")

    class Meta:
        verbose_name = "trading control"
        verbose_name_plural = "trading control"
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="trading_control_singleton")
        ]

    def __str__(self) -> str:
        armed = "armed" if self.armed else "disarmed"
        kill = "kill switch ON" if self.kill_switch else "kill switch off"
        return f"trading control: {armed}, {kill}"

    @classmethod
    def load(cls) -> TradingControl:
        """Return the control row, creating it with blocking defaults if it does not exist."""
        control, _ = cls.objects.get_or_create(pk=cls.SINGLETON_PK)
        return control


class Order(models.Model):
    """One order we sent or intend to send, written before the exchange call.

    ``account`` names the live account or paper session; ``client_order_id`` is the
    deterministic id (at most 50 characters, unique); ``symbol`` is ``BASE_QUOTE``; ``price``
    quote per base unit (``None`` for market orders); ``quantity`` and ``filled_quantity``
    base units; ``quote_amount`` the quote to spend for a market buy. ``reject_code`` is the
    BTCTurk code or our own reason code when the order was rejected.
    """

    account = models.CharField(max_length=64)
    client_order_id = models.CharField(max_length=50)
    exchange_order_id = models.CharField(max_length=64, blank=True)
    symbol = models.CharField(max_length=32, help_text="BASE_QUOTE")
    side = models.CharField(max_length=4, choices=[(s.value, s.name) for s in Side])
    order_type = models.CharField(max_length=8, choices=[(t.value, t.name) for t in OrderType])
    price = models.DecimalField(null=True, blank=True, **MONEY)
    quantity = models.DecimalField(**MONEY)
    quote_amount = models.DecimalField(null=True, blank=True, **MONEY)
    filled_quantity = models.DecimalField(default=0, **MONEY)
    status = models.CharField(
        max_length=16,
        choices=[(s.value, s.name) for s in OrderStatus],
        default=OrderStatus.NEW.value,
    )
    reject_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["client_order_id"], name="uniq_order_client_order_id"),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in OrderStatus]),
                name="order_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(side__in=[s.value for s in Side]), name="order_side_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(order_type__in=[t.value for t in OrderType]),
                name="order_type_valid",
            ),
        ]
        indexes = [models.Index(fields=["account", "status"], name="order_account_status")]

    def __str__(self) -> str:
        return f"{self.client_order_id} {self.side} {self.symbol} ({self.status})"


class CycleStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class CycleMode(models.TextChoices):
    BACKTEST = "backtest"
    PAPER = "paper"
    LIVE = "live"


class Cycle(models.Model):
    """One run of the trading cycle for an account, with its lifecycle and timings.

    ``universe`` is the list of ``BASE_QUOTE`` symbols traded this cycle; ``counts`` maps a
    stage to a count (``{"intents": 3, "orders": 1, "denials": 2}``); ``timings_ms`` maps a
    step name to milliseconds; ``no_trade_reason`` says why no order was placed (empty if
    some were); ``error`` holds the failure text of a failed cycle.
    """

    account = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=CycleStatus.choices, default=CycleStatus.PENDING
    )
    mode = models.CharField(max_length=16, choices=CycleMode.choices)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    universe = models.JSONField(default=list, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    timings_ms = models.JSONField(default=dict, blank=True)
    no_trade_reason = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=CycleStatus.values), name="cycle_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(mode__in=CycleMode.values), name="cycle_mode_valid"
            ),
        ]
        indexes = [models.Index(fields=["account", "-started_at"], name="cycle_account_started")]

    def __str__(self) -> str:
        return f"cycle {self.pk} {self.account} {self.mode} ({self.status})"
