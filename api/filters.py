"""Query filters of the list endpoints (django-filter).

Every list takes ``account`` (exact name) and a time range ``since`` (inclusive) / ``until``
(exclusive), ISO-8601 (UTC when no offset is given), on the row's own time: an order's
``created_at``, a fill's ``ts`` (execution time), a cycle's ``started_at``, an audit event's
``created_at``, an alert's ``last_seen``. ``symbol`` accepts ``BTC_TRY`` or ``BTCTRY``; a
symbol that cannot be parsed matches nothing. Malformed values are a 400 naming the field.
"""

from __future__ import annotations

import datetime as dt

import django_filters as df
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField

from ledger.models import LedgerFill
from replay.models import BacktestRun, RunStatus, Sweep
from trading.domain.bounds import BoundError, instant
from trading.domain.orders import OrderStatus, Side
from trading.domain.symbols import SymbolError, parse_symbol
from trading.models import Alert, AlertSeverity, AuditEvent, Cycle, CycleMode, CycleStatus, Order

SIDES = [(s.value, s.value) for s in Side]


def _symbol(queryset: QuerySet, name: str, value: str) -> QuerySet:
    try:
        return queryset.filter(**{name: parse_symbol(value).pair_normalized})
    except SymbolError:
        return queryset.none()


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO-8601 time converted to UTC: any offset the syntax allows (``+20:01``) becomes
    one the database accepts; a time that leaves the calendar in UTC is a validation error."""

    def to_python(self, value: object) -> dt.datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return instant("time", moment)
        except BoundError as exc:
            raise ValidationError(exc.problem, code="overflow") from None


class UtcIsoDateTimeFilter(df.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


def _range(field: str) -> tuple[UtcIsoDateTimeFilter, UtcIsoDateTimeFilter]:
    return (
        UtcIsoDateTimeFilter(field_name=field, lookup_expr="gte", label=f"{field} >= (ISO-8601)"),
        UtcIsoDateTimeFilter(field_name=field, lookup_expr="lt", label=f"{field} < (ISO-8601)"),
    )


class OrderFilter(df.FilterSet):
    account = df.CharFilter()
    symbol = df.CharFilter(method=_symbol)
    status = df.MultipleChoiceFilter(choices=[(s.value, s.value) for s in OrderStatus])
    side = df.ChoiceFilter(choices=SIDES)
    client_order_id = df.CharFilter()
    since, until = _range("created_at")

    class Meta:
        model = Order
        fields = ["account", "symbol", "status", "side", "client_order_id", "since", "until"]


class FillFilter(df.FilterSet):
    account = df.CharFilter()
    symbol = df.CharFilter(method=_symbol)
    side = df.ChoiceFilter(choices=SIDES)
    client_order_id = df.CharFilter()
    since, until = _range("ts")

    class Meta:
        model = LedgerFill
        fields = ["account", "symbol", "side", "client_order_id", "since", "until"]


class CycleFilter(df.FilterSet):
    account = df.CharFilter()
    status = df.MultipleChoiceFilter(choices=CycleStatus.choices)
    mode = df.ChoiceFilter(choices=CycleMode.choices)
    since, until = _range("started_at")

    class Meta:
        model = Cycle
        fields = ["account", "status", "mode", "since", "until"]


class AlertFilter(df.FilterSet):
    account = df.CharFilter()
    kind = df.CharFilter()
    severity = df.ChoiceFilter(choices=AlertSeverity.choices)
    open = df.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", label="open (not acknowledged)"
    )
    since, until = _range("last_seen")

    class Meta:
        model = Alert
        fields = ["account", "kind", "severity", "open", "since", "until"]


class AuditEventFilter(df.FilterSet):
    account = df.CharFilter()
    action = df.CharFilter()
    actor = df.CharFilter()
    object_type = df.CharFilter()
    object_id = df.CharFilter()
    since, until = _range("created_at")

    class Meta:
        model = AuditEvent
        fields = ["account", "action", "actor", "object_type", "object_id", "since", "until"]


class BacktestRunFilter(df.FilterSet):
    dataset = df.CharFilter(field_name="dataset__name", label="dataset name")
    strategy = df.CharFilter()
    status = df.MultipleChoiceFilter(choices=RunStatus.choices)
    sweep = df.NumberFilter(field_name="sweep_id", label="sweep id")
    since, until = _range("created_at")

    class Meta:
        model = BacktestRun
        fields = ["dataset", "strategy", "status", "sweep", "since", "until"]


class SweepFilter(df.FilterSet):
    dataset = df.CharFilter(field_name="dataset__name", label="dataset name")
    strategy = df.CharFilter()
    status = df.MultipleChoiceFilter(choices=RunStatus.choices)
    since, until = _range("created_at")

    class Meta:
        model = Sweep
        fields = ["dataset", "strategy", "status", "since", "until"]
