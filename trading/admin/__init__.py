"""Trading admin, one module per sub-domain (registration happens on import).

``control``: instruments and the control panel; ``accounts``: accounts (changed through
``trading.services.accounts``); ``audit``: the read-only audit trail and alerts (acknowledge
action); ``records``: orders, cycles with their decisions, candles and paper venue rows, all
read-only (services write them).
"""

from __future__ import annotations

from trading.admin import accounts, audit, control, records

__all__ = ["accounts", "audit", "control", "records"]

from django.contrib import admin  # noqa: E402

admin.site.site_header = "Meva console"
admin.site.site_title = "Meva"
admin.site.index_title = "Control panel"
# "View site" opens the operator console's dashboard (the admin's index, trading.console)
admin.site.site_url = "/admin/"
