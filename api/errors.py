"""Error answers of the reports API: always JSON ``{"detail": "..."}`` (validation errors map
each field to its messages, as DRF does).

A service's :class:`~meva.errors.ApplicationError` (a rule the request broke, its message safe
to show) is a 400; :class:`~trading.services.operator_actions.OperatorActionBusy` (a cycle of
the account holds its lock) a 409. Anything else is DRF's own handling.
"""

from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from meva.errors import ApplicationError
from trading.services.operator_actions import OperatorActionBusy


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER`` (module docstring)."""
    if isinstance(exc, OperatorActionBusy):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ApplicationError):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
