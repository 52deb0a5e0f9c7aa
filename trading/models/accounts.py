"""Trading accounts: a paper or live session of one strategy over a set of symbols."""

from __future__ import annotations

from django.db import models

from trading.domain.symbols import Symbol, parse_symbol
from trading.models.fields import EXACT


class AccountMode(models.TextChoices):
    PAPER = "paper"
    LIVE = "live"


class Account(models.Model):
    """One paper or live account and the state its cycles carry from one to the next.

    Configuration (changed only through ``trading.services.accounts``, which validates it and
    writes an ``AuditEvent``): ``name`` (a slug, immutable: orders, fills and audits refer to
    it); ``mode``; ``strategy`` and ``params`` (validated by the strategy registry); ``risk``
    (``RiskLimits`` overrides over the ``RISK_*`` settings); ``symbols`` (``["BTC_TRY", ...]``,
    one quote asset); ``bar_interval_s`` (candle length the strategy reads) and the task
    intervals in seconds; ``enabled`` (beat runs its tasks); ``stop_entries`` (only
    exposure-reducing orders and cancels). Paper accounts: ``initial_balances`` (asset ->
    decimal string), the simulated venue's fees (bps) and fill model. Live accounts use the
    ``BTCTURK_*`` settings; ``api_key_id`` is a hash prefix of that key, and at most one enabled
    live account may use a key (a partial unique constraint).

    State (written by the cycle and reconciliation services): ``risk_state`` (the planner's
    ``RiskState`` as JSON: mode, reasons, equity peak, trading-day start equity, cooldowns),
    ``trade_cursor_ms`` (user trades are read from here on), ``last_cycle_ms`` (the last
    completed cycle's clock), ``reconciled_at`` (last successful reconciliation, UTC).

    Issue 11 (both off by default, validated by ``trading.services.adaptive_config``):
    ``universe`` governs the universe among ``symbols`` (``{"enabled": true, "size": 3,
    "weights": {...}, "allow": [...], "deny": [...], ...}``) and ``adaptation`` adapts the
    bounded parameters (``{"enabled": true, "window_cycles": 5, ...}``). Their carried state:
    ``universe_state`` (``UniverseState.as_json()``), ``adaptation_state``
    (``AdaptationState.as_json()``), ``active_param_set`` the ``ParamSet`` in force and
    ``params_pinned`` (an operator pinned it: adaptation proposes and rolls back nothing).
    """

    name = models.SlugField(max_length=64, unique=True)
    mode = models.CharField(max_length=8, choices=AccountMode.choices)
    strategy = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    risk = models.JSONField(default=dict, blank=True, help_text="RiskLimits overrides")
    symbols = models.JSONField(default=list, help_text='["BTC_TRY", "ETH_TRY"]')
    bar_interval_s = models.PositiveIntegerField(default=60)
    cycle_interval_s = models.PositiveIntegerField(default=60)
    reconcile_interval_s = models.PositiveIntegerField(default=300)
    balances_check_interval_s = models.PositiveIntegerField(default=300)
    enabled = models.BooleanField(default=False)
    stop_entries = models.BooleanField(default=False)
    initial_balances = models.JSONField(default=dict, blank=True, help_text="paper only")
    fee_maker_bps = models.DecimalField(default=10, **EXACT)
    fee_taker_bps = models.DecimalField(default=20, **EXACT)
    fill_model = models.CharField(max_length=16, default="bar")
    api_key_id = models.CharField(max_length=16, blank=True)
    risk_state = models.JSONField(default=dict, blank=True)
    trade_cursor_ms = models.BigIntegerField(default=0)
    last_cycle_ms = models.BigIntegerField(null=True, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)
    universe = models.JSONField(default=dict, blank=True, help_text="universe governance")
    adaptation = models.JSONField(default=dict, blank=True, help_text="parameter adaptation")
    universe_state = models.JSONField(default=dict, blank=True)
    adaptation_state = models.JSONField(default=dict, blank=True)
    active_param_set = models.ForeignKey(
        "trading.ParamSet", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    params_pinned = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(mode__in=AccountMode.values), name="account_mode_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(cycle_interval_s__gte=1)
                & models.Q(bar_interval_s__gte=1)
                & models.Q(reconcile_interval_s__gte=1)
                & models.Q(balances_check_interval_s__gte=1),
                name="account_intervals_positive",
            ),
            models.UniqueConstraint(
                fields=["api_key_id"],
                condition=models.Q(enabled=True, mode="live"),
                name="uniq_enabled_live_account_per_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.mode})"

    @property
    def is_live(self) -> bool:
        return self.mode == AccountMode.LIVE

    @property
    def symbol_list(self) -> list[Symbol]:
        """``symbols`` parsed, in the stored order."""
        return [parse_symbol(text) for text in self.symbols]

    @property
    def quote_asset(self) -> str:
        """The quote asset all the account's symbols share (``TRY``)."""
        return self.symbol_list[0].quote
