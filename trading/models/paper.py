"""A paper account's simulated venue, kept as rows between cycles.

The venue (``trading.domain.venue.SimulatedVenue``) lives in memory during a cycle; before
the cycle's record commits its whole state is written here, and the next cycle (in any worker
process) restores it, so a restarted worker continues exactly where it stopped. Amounts use
``EXACT`` columns (20 decimals). Written only by ``trading.services.paper``.
"""

from __future__ import annotations

from django.db import models

from trading.models.fields import EXACT


class PaperVenue(models.Model):
    """Counters and cursors of one paper account's venue.

    ``next_order_id`` the venue's next order id; ``bar_cursor`` maps ``BASE_QUOTE`` to the open
    time (epoch ms) of the last bar already matched; ``last_prices`` maps ``BASE_QUOTE`` to the
    last price the venue saw (decimal string); ``revision`` a new random token at every save.
    """

    account = models.CharField(max_length=64, unique=True)
    next_order_id = models.PositiveBigIntegerField(default=1)
    bar_cursor = models.JSONField(default=dict, blank=True)
    last_prices = models.JSONField(default=dict, blank=True)
    revision = models.CharField(
        max_length=32,
        blank=True,
        help_text="changes at every save; a process reuses the orders and fills it read "
        "only while the revision is the one it saw (trading.services.paper)",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"paper venue {self.account}"


class PaperBalance(models.Model):
    """Free and locked amount of one asset in a paper venue."""

    account = models.CharField(max_length=64)
    asset = models.CharField(max_length=16)
    free = models.DecimalField(**EXACT)
    locked = models.DecimalField(**EXACT)

    class Meta:
        ordering = ["account", "asset"]
        constraints = [
            models.UniqueConstraint(fields=["account", "asset"], name="uniq_paper_balance_asset")
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.asset} {self.free}+{self.locked}"


class PaperOrder(models.Model):
    """One order of a paper venue, with its matching state.

    Sizes as in ``OrderRequest`` (base units; ``quote_amount`` for a market buy); ``filled``
    base units; ``quote_left`` the quote a market buy may still spend; ``lock`` what the order
    still holds (quote for a buy, base for a sell); ``status`` an ``OrderStatus`` value.
    """

    account = models.CharField(max_length=64)
    order_id = models.CharField(max_length=32)
    client_order_id = models.CharField(max_length=50)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    order_type = models.CharField(max_length=8)
    price = models.DecimalField(null=True, blank=True, **EXACT)
    quantity = models.DecimalField(**EXACT)
    quote_amount = models.DecimalField(null=True, blank=True, **EXACT)
    strategy = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    created_ms = models.BigIntegerField()
    status = models.CharField(max_length=16)
    filled = models.DecimalField(default=0, **EXACT)
    quote_left = models.DecimalField(default=0, **EXACT)
    lock = models.DecimalField(default=0, **EXACT)
    reject_code = models.CharField(max_length=64, blank=True)
    updated_ms = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["account", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "order_id"], name="uniq_paper_order_id")
        ]

    def __str__(self) -> str:
        return f"{self.account} #{self.order_id} {self.client_order_id} ({self.status})"


class PaperTrade(models.Model):
    """One fill of a paper venue, as its ``user_trades`` reports it (fees positive)."""

    account = models.CharField(max_length=64)
    seq = models.PositiveIntegerField(help_text="fill number in the venue, from 1")
    trade_id = models.CharField(max_length=64)
    order_id = models.CharField(max_length=32)
    client_order_id = models.CharField(max_length=50)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    price = models.DecimalField(**EXACT)
    quantity = models.DecimalField(**EXACT)
    fee = models.DecimalField(**EXACT)
    tax = models.DecimalField(default=0, **EXACT)
    fee_asset = models.CharField(max_length=16)
    ts_ms = models.BigIntegerField()
    liquidity = models.CharField(max_length=5, blank=True)

    class Meta:
        ordering = ["account", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["account", "trade_id"], name="uniq_paper_trade_id"),
            models.UniqueConstraint(fields=["account", "seq"], name="uniq_paper_trade_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.trade_id} {self.side} {self.quantity} {self.symbol}"
