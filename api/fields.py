"""Serializer fields for the API's conventions: money and quantities are exact decimal strings
without padding (``"100.5"``, ``"0.00000001"``), times ISO-8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

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
