"""Shared admin building blocks."""

from __future__ import annotations

from types import MethodType

from django.contrib import admin
from django.db import models
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest

from trading.templatetags.meva_numbers import format_money, format_qty


class ReadOnlyAdmin(admin.ModelAdmin):
    """List and inspect only: no add, change or delete, for anyone (superusers included).

    On the detail page every Decimal field shows through a ``<field>_shown`` display (the list
    column of that name when the admin defines one, else trailing zeros dropped, at most 8
    places) instead of the stored 20 decimal places.
    """

    class Media:
        css = {"all": ("console/console.css",)}  # right-aligned number columns

    def __init__(self, model: type[models.Model], admin_site: admin.AdminSite) -> None:
        super().__init__(model, admin_site)
        self.decimal_shown: dict[str, str] = {}
        for field in model._meta.concrete_fields:
            if isinstance(field, models.DecimalField):
                name = f"{field.name}_shown"
                if not hasattr(self, name):
                    column = decimal_column(field.name, description=field.verbose_name)
                    setattr(self, name, MethodType(column, self))
                self.decimal_shown[field.name] = name

    def _shown(self, entry: object) -> object:
        if isinstance(entry, list | tuple):
            return type(entry)(self._shown(item) for item in entry)
        return self.decimal_shown.get(entry, entry) if isinstance(entry, str) else entry

    def get_fields(self, request: HttpRequest, obj: object = None) -> list:
        seen: list = []
        for entry in super().get_fields(request, obj):
            shown = self._shown(entry)
            if shown not in seen:
                seen.append(shown)
        return seen

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list:
        return [*super().get_readonly_fields(request, obj), *self.decimal_shown.values()]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """An inline that shows rows only."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def decimal_column(
    field: str,
    *,
    kind: str = "qty",
    places: int = 2,
    step: str | None = None,
    description: str | None = None,
):
    """A list column showing the Decimal ``field`` at meaningful precision, never padded to the
    stored 20 places (``trading.templatetags.meva_numbers``): ``kind="money"`` quote amounts at
    ``places``; ``"percent"`` a value already in percent (0..100) with `` %``; ``"qty"``
    quantities and prices, quantized to the row's attribute ``step`` (a tick or step size
    annotated by :class:`InstrumentStepsMixin`) when it has one, else trimmed (at most 8
    places). Sorts by ``field``."""

    def show(modeladmin: admin.ModelAdmin, obj: object) -> str:
        value = getattr(obj, field)
        if kind == "money":
            return format_money(value, places)
        if kind == "percent":
            return "—" if value is None else f"{format_money(value, places)} %"
        return format_qty(value, getattr(obj, step, None) if step else None)

    show.__name__ = f"{field}_shown"
    return admin.display(description=description or field.replace("_", " "), ordering=field)(show)


class InstrumentStepsMixin:
    """Annotates each row with its instrument's ``_tick`` and ``_step`` (one subquery each,
    matched on the row's ``symbol`` field) for :func:`decimal_column`."""

    def get_queryset(self, request: HttpRequest):
        from trading.models import Instrument

        instrument = Instrument.objects.filter(symbol=OuterRef("symbol"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                _tick=Subquery(instrument.values("tick_size")[:1]),
                _step=Subquery(instrument.values("step_size")[:1]),
            )
        )
