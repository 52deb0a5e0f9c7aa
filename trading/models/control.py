"""Instruments (exchange rules per pair) and the operator's trading control row."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from trading.models.fields import MONEY


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
    was made. Defaults (not armed) block. These fields show only the last change: the history
    of every change (who, when, why, before/after) is the audit trail, ``AuditEvent`` rows with
    actions ``control.arm``, ``control.disarm``, ``control.kill_switch_engage`` and
    ``control.kill_switch_release``, written in the same transaction as the change.
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
        # The operator console's permissions (admin actions and the reports API's control
        # endpoints check them): arming and the kill switch each need their own.
        permissions = [
            ("arm_trading", "Can arm and disarm live trading"),
            ("kill_switch", "Can engage and release the kill switch"),
            ("operate_orders", "Can cancel all open orders and force-exit positions"),
        ]
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
