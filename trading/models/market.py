"""Market data a session saw: closed candles fetched from the exchange's graph API."""

from __future__ import annotations

from django.db import models

from trading.models.fields import EXACT


class Candle(models.Model):
    """One closed OHLCV candle of ``symbol`` (``BASE_QUOTE``) and ``interval_s`` seconds.

    ``ts_ms`` is the open time (epoch ms UTC); prices quote per base unit, ``volume`` base
    units. Unique per symbol, interval and open time: each cycle fetches only the bars it lacks
    (``trading.services.market``). Never edited once closed.
    """

    symbol = models.CharField(max_length=32, help_text="BASE_QUOTE")
    interval_s = models.PositiveIntegerField()
    ts_ms = models.BigIntegerField(help_text="open time, epoch ms UTC")
    open = models.DecimalField(**EXACT)
    high = models.DecimalField(**EXACT)
    low = models.DecimalField(**EXACT)
    close = models.DecimalField(**EXACT)
    volume = models.DecimalField(**EXACT)
    fetched_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["symbol", "interval_s", "ts_ms"]
        constraints = [
            models.UniqueConstraint(
                fields=["symbol", "interval_s", "ts_ms"], name="uniq_candle_symbol_interval_ts"
            )
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.interval_s}s @{self.ts_ms}"
