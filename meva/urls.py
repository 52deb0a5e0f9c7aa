from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    # the operator console's dashboard is the admin's index
    path("", RedirectView.as_view(pattern_name="console:dashboard", permanent=False), name="home"),
    # before the admin's own URLs: "/admin/" is the console's dashboard (see trading.console.urls)
    path("admin/", include("trading.console.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("metrics", include("meva.metrics")),  # Prometheus; access rules in meva.metrics
    # the schema's first address, kept working
    path("api/schema/", RedirectView.as_view(pattern_name="api:schema"), name="schema"),
]
