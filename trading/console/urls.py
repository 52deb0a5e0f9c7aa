"""The console's URLs, included at ``/admin/`` before the admin's own (``meva.urls``): the
dashboard answers ``/admin/`` (so ``admin:index`` is the dashboard), the rest lives under
``/admin/console/``. Every view goes through ``admin.site.admin_view`` (staff login, CSRF)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from trading.console import views
from trading.console.actions import ACCOUNT, ALERT, CONTROL, PARAMS, POSITION

app_name = "console"

wrap = admin.site.admin_view

urlpatterns = [
    path("", wrap(views.dashboard), name="dashboard"),
    path("console/accounts/<slug:name>/", wrap(views.account_page), name="account"),
    path(
        "console/control/<slug:key>/",
        wrap(views.action),
        {"scope": CONTROL},
        name="control-action",
    ),
    path(
        "console/accounts/<slug:name>/actions/<slug:key>/",
        wrap(views.action),
        {"scope": ACCOUNT},
        name="account-action",
    ),
    path(
        "console/accounts/<slug:name>/positions/<str:symbol>/<slug:key>/",
        wrap(views.action),
        {"scope": POSITION},
        name="position-action",
    ),
    path(
        "console/accounts/<slug:name>/params/<int:version>/<slug:key>/",
        wrap(views.action),
        {"scope": PARAMS},
        name="params-action",
    ),
    path(
        "console/alerts/<int:pk>/<slug:key>/",
        wrap(views.action),
        {"scope": ALERT},
        name="alert-action",
    ),
]
