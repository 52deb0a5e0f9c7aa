"""Serializer fields for the API's conventions: money and quantities are exact decimal strings
without padding (``"100.5"``, ``"0.00000001"``), times ISO-8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trading.domain.bounds import BoundError, instant
from trading.domain.decimals import decimal_trim


def decimal_text(value: Decimal | float | int | str | None) -> str | None:
    """``value`` as an exact, unpadded decimal string in fixed notation, ``None`` kept."""
    if value is None:
        return None
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return format(decimal_trim(number), "f")


class DecimalString(serializers.DecimalField):
    """A read-only Decimal rendered by :func:`decimal_text` (schema: string, format decimal)."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(max_digits=None, decimal_places=None, coerce_to_string=True, **kwargs)

    def to_representation(self, value: object) -> str | None:
        return decimal_text(value)  # type: ignore[arg-type]


@extend_schema_field(OpenApiTypes.DATETIME)
class EpochMsField(serializers.Field):
    """Epoch milliseconds (UTC) rendered as an ISO-8601 UTC time; ``None`` kept."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: int | None) -> str | None:
        if value is None:
            return None
        moment = datetime.fromtimestamp(value / 1000, tz=UTC)
        return moment.isoformat().replace("+00:00", "Z")


class InstantField(serializers.DateTimeField):
    """An input time (ISO-8601, UTC when no offset) checked by the shared time validator
    (:func:`trading.domain.bounds.instant`): 1970 up to 2200, returned as aware UTC. A time
    out of ``datetime``'s range (``9999-12-31T23:59-05:00``) is a 400, never a 500."""

    def to_internal_value(self, value: object) -> datetime:
        if isinstance(value, datetime):
            return super().to_internal_value(value)
        try:
            return instant(self.field_name or "time", value if isinstance(value, str) else "")
        except BoundError as exc:
            raise serializers.ValidationError(exc.problem) from None
