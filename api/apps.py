from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The reports API (``/api/v1/``): interfaces over the trading, ledger and replay services
    and selectors. It owns no rows."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "api"
    verbose_name = "Reports API"
