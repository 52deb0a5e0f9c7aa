"""Celery application (cookiecutter-django wiring). Tasks are discovered in installed apps."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meva.settings")

app = Celery("meva")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
