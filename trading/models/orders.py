"""Orders, cycles and the decisions of each cycle.

Money and quantities are ``DecimalField`` (quote currency per base unit for prices, base units
for quantities, quote currency for notionals). Order states follow
:class:`trading.domain.orders.OrderStatus`; status changes go through
``trading.services.orders.order_transition_apply`` (compare-and-set), never ``save()``.
Accounts are referred to by their (immutable) name, as the ledger does.

One order, one row per layer: the planner builds an ``OrderRequest``, the venue port reports
an ``OrderReport``, and this :class:`Order` is the platform's record of it.
"""

from __future__ import annotations

from django.db import models

from trading.domain.orders import OrderStatus, OrderType, Side
from trading.models.fields import EXACT, MONEY


class Order(models.Model):
    """One order we sent or intend to send, written before the exchange call.

    ``account`` names the account; ``client_order_id`` is the deterministic id (at most 50
    characters, unique: a second submit of the same intent is impossible); ``symbol`` is
    ``BASE_QUOTE``; ``price`` quote per base unit (``None`` for market orders); ``quantity``
    and ``filled_quantity`` base units; ``quote_amount`` the quote to spend for a market buy.
    ``reject_code`` is the BTCTurk code or our own reason code when the order was rejected.
    ``probe_count``/``last_probe_at`` track reconciliation probes of an UNKNOWN order;
    ``cycle`` is the cycle that planned it (``None`` for orders adopted by reconciliation).
    """

    account = models.CharField(max_length=64)
    cycle = models.ForeignKey(
        "trading.Cycle", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    client_order_id = models.CharField(max_length=50)
    exchange_order_id = models.CharField(max_length=64, blank=True)
    symbol = models.CharField(max_length=32, help_text="BASE_QUOTE")
    side = models.CharField(max_length=4, choices=[(s.value, s.name) for s in Side])
    order_type = models.CharField(max_length=8, choices=[(t.value, t.name) for t in OrderType])
    price = models.DecimalField(null=True, blank=True, **MONEY)
    quantity = models.DecimalField(**MONEY)
    quote_amount = models.DecimalField(null=True, blank=True, **MONEY)
    filled_quantity = models.DecimalField(default=0, **EXACT)
    status = models.CharField(
        max_length=16,
        choices=[(s.value, s.name) for s in OrderStatus],
        default=OrderStatus.NEW.value,
    )
    reject_code = models.CharField(max_length=64, blank=True)
    strategy = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=200, blank=True, help_text="the intent's reason")
    submitted_at = models.DateTimeField(null=True, blank=True, help_text="when sent, UTC")
    probe_count = models.PositiveIntegerField(default=0)
    last_probe_at = models.DateTimeField(null=True, blank=True)
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
        indexes = [
            models.Index(fields=["account", "status"], name="order_account_status"),
            # venue reports name orders by exchange id (reconcile.order_ids)
            models.Index(fields=["account", "exchange_order_id"], name="order_account_exchange_id"),
            # the API's filtered list, newest first (id order), without a scan of every order
            models.Index(fields=["account", "symbol", "id"], name="order_account_symbol_id"),
        ]

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

    ``now_ms`` is the cycle clock (epoch ms UTC) the planner saw; ``universe`` the list of
    ``BASE_QUOTE`` symbols traded this cycle; ``counts`` maps a stage to a count
    (``{"intents": 3, "orders": 1, "denials": 2, "fills": 1}``); ``timings_ms`` maps a step
    name to milliseconds; ``risk_mode``/``mode_reasons`` the risk mode after the cycle and why;
    ``equity`` quote currency after this cycle's fills; ``market`` per symbol what the cycle
    saw (``{"BTC_TRY": {"mark": "...", "bid": ..., "ask": ..., "age_ms": 0, "bar_ts": ...}}``);
    ``gate`` the safety gate's summary and reasons (live accounts); ``no_trade_reason`` why no
    order was placed (empty if some were), or why the cycle was skipped; ``error`` the failure
    text of a failed cycle. ``heartbeat_at`` is refreshed while the cycle runs. ``health`` the
    exchange's health as this cycle saw it, written at its end
    (:func:`trading.services.cycle_health.cycle_health`): ``clock_offset_ms`` (server - local,
    ``null`` if never measured), ``last_ok_at`` (ISO UTC of this process's last successful
    exchange call), ``ws_age_s`` (oldest websocket quote used, ``null`` if none),
    ``rate_limit_wait_ms``, ``requests`` and ``errors`` (during this cycle).
    """

    account = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=CycleStatus.choices, default=CycleStatus.PENDING
    )
    mode = models.CharField(max_length=16, choices=CycleMode.choices)
    now_ms = models.BigIntegerField(null=True, blank=True, help_text="cycle clock, epoch ms")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    universe = models.JSONField(default=list, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    timings_ms = models.JSONField(default=dict, blank=True)
    risk_mode = models.CharField(max_length=24, blank=True)
    mode_reasons = models.JSONField(default=list, blank=True)
    equity = models.DecimalField(null=True, blank=True, **EXACT)
    market = models.JSONField(default=dict, blank=True)
    gate = models.JSONField(default=dict, blank=True)
    no_trade_reason = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    health = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=CycleStatus.values), name="cycle_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(mode__in=CycleMode.values), name="cycle_mode_valid"
            ),
            # One completed cycle per account and clock: a replayed cycle cannot plan twice.
            models.UniqueConstraint(
                fields=["account", "now_ms"],
                condition=models.Q(status="completed"),
                name="uniq_cycle_account_clock_completed",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "-started_at"], name="cycle_account_started"),
            # an account's newest cycle by id (status, health) and its newest-first API list,
            # without a backward scan of every account's cycles
            models.Index(fields=["account", "id"], name="cycle_account_id"),
        ]

    def __str__(self) -> str:
        return f"cycle {self.pk} {self.account} {self.mode} ({self.status})"


class DecisionKind(models.TextChoices):
    INTENT = "intent"
    ORDER = "order"
    CANCEL = "cancel"
    DENIAL = "denial"
    FILL = "fill"


class CycleDecision(models.Model):
    """One decision of a cycle, in the order it was made.

    ``kind`` intent/order/cancel/denial/fill; ``code`` the reason code of a denial or cancel
    (``MIN_NOTIONAL``, ``GATE_BLOCKED``, ``ORDER_TTL``...) or the intent's price policy;
    ``detail`` the words; ``payload`` the decision's numbers as strings (quantity, price,
    notional, trade id...). Written with its cycle, in the cycle's record transaction.
    """

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="decisions")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=DecisionKind.choices)
    symbol = models.CharField(max_length=32, blank=True)
    side = models.CharField(max_length=4, blank=True)
    strategy = models.CharField(max_length=64, blank=True)
    code = models.CharField(max_length=64, blank=True)
    detail = models.TextField(blank=True)
    client_order_id = models.CharField(max_length=50, blank=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["cycle", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "seq"], name="uniq_cycle_decision_seq"),
            models.CheckConstraint(
                condition=models.Q(kind__in=DecisionKind.values), name="cycle_decision_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.symbol} {self.code}".strip()
