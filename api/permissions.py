"""Who may call what: reads need a staff user; control endpoints need a staff user holding the
operator console's permission the view names in ``required_permission`` (e.g.
``trading.arm_trading``, ``trading.kill_switch``, ``trading.operate_orders``)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission


class ConsolePermission(BasePermission):
    """Staff with the Django permission ``view.required_permission``."""

    message = "You need the operator console permission for this action."

    def has_permission(self, request, view) -> bool:
        user = request.user
        perm = getattr(view, "required_permission", None)
        if not perm:
            raise AssertionError(f"{type(view).__name__} names no required_permission")
        return bool(user and user.is_active and user.is_staff and user.has_perm(perm))
