from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class TradingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "trading"

    def ready(self) -> None:
        """With the full app set (``MEVA_APP_SET=all``: web, workers, beat, maintenance
        commands) load Meva's Celery application, so that ``celery.current_app`` is Meva's
        (django-celery-beat's task list in the admin reads it). The batch commands skip it:
        they send no task unless asked to, and the tasks import the application themselves."""
        if settings.APP_SET == "all":
            import meva.celery  # noqa: F401 - makes Meva's application the current one
