"""Adaptive parameter versions (issue 11): one row per version of an account's (or a backtest
run's) adaptable parameters."""

from __future__ import annotations

from django.db import models


class ParamSetStatus(models.TextChoices):
    PENDING = "pending"
    GOOD = "good"
    BAD = "bad"


class ParamSet(models.Model):
    """One version of the adaptable parameters (``trading.domain.adaptation.ParamVersion``).

    Owned by an ``account`` (paper/live) or a ``backtest_run`` (set by the backtest engine's
    writer; nullable so either may be absent). ``version`` numbers from 1 per owner, unique;
    ``params`` field name -> decimal string (``trading.domain.adaptation_bounds`` names);
    ``parent`` the version it was derived from (``None`` for the first); ``status``
    ``pending`` (watched for a window), ``good`` (version 1, or confirmed over a healthy
    window) or ``bad`` (rolled back); ``reason`` the reason code that created it
    (``INITIAL``, ``HEALTHY_WINDOW_EXPAND`` ...); ``created_ms`` the cycle clock that created
    it (epoch ms UTC); ``outcome`` the reason code of its last status change
    (``HEALTHY_WINDOW_CONFIRMED``, ``DRAWDOWN_BREACH``, ``MANUAL_ROLLBACK`` ...). Written by
    ``trading.services.adaptive`` in the cycle's transaction, with an ``AuditEvent`` per
    change. Rows mirror the account's ``adaptation_state`` (the carried state).
    """

    account = models.ForeignKey(
        "trading.Account",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="param_sets",
    )
    backtest_run = models.ForeignKey(
        "replay.BacktestRun",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="param_sets",
    )
    version = models.PositiveIntegerField()
    params = models.JSONField(default=dict)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    status = models.CharField(max_length=8, choices=ParamSetStatus.choices)
    reason = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=64, blank=True)
    created_ms = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ParamSetStatus.values), name="param_set_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="param_set_version_1"),
            models.UniqueConstraint(
                fields=["account", "version"],
                condition=models.Q(account__isnull=False),
                name="uniq_param_set_account_version",
            ),
            models.UniqueConstraint(
                fields=["backtest_run", "version"],
                condition=models.Q(backtest_run__isnull=False),
                name="uniq_param_set_run_version",
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} ({self.status})"
