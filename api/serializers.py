"""Output shapes shared by several endpoints (each endpoint keeps its own otherwise).

Field names are the rows' and the field's standard terms; money and quantities are exact
decimal strings (:class:`~api.fields.DecimalString`), times ISO-8601 UTC; a cycle's clock
(``now_ms``, epoch ms) is also given as ``clock`` (ISO-8601 UTC).
"""

from __future__ import annotations

from rest_framework import serializers

from api.fields import DecimalString, EpochMsField
from trading.models import Cycle, CycleDecision


class CycleSummarySerializer(serializers.ModelSerializer):
    """A cycle row without its decisions: lifecycle, clock, risk mode, counts, timings (ms)."""

    clock = EpochMsField(source="now_ms", allow_null=True)
    equity = DecimalString(allow_null=True)

    class Meta:
        model = Cycle
        fields = [
            "id", "account", "mode", "status", "now_ms", "clock", "started_at", "finished_at",
            "risk_mode", "mode_reasons", "equity", "universe", "counts", "timings_ms",
            "no_trade_reason", "error",
        ]  # fmt: skip
        read_only_fields = fields


class CycleDecisionSerializer(serializers.ModelSerializer):
    """One decision of a cycle in order: ``kind`` intent/order/cancel/denial/fill, ``code`` a
    reason code or price policy, ``payload`` its numbers as strings."""

    class Meta:
        model = CycleDecision
        fields = [
            "seq", "kind", "symbol", "side", "strategy", "code", "detail", "client_order_id",
            "payload",
        ]  # fmt: skip
        read_only_fields = fields


class DetailSerializer(serializers.Serializer):
    """An error answer: ``{"detail": "..."}``."""

    detail = serializers.CharField()


_ERROR_WORDS = {
    400: "invalid input: each field with its messages, or a rule the request broke",
    401: "no or invalid credentials",
    403: "not staff, or the console permission is missing",
    404: "no such row",
    409: "a cycle of the account is running (its lock is held)",
}


def error_responses(*codes: int) -> dict[int, object]:
    """Documented error answers for ``extend_schema(responses=...)``."""
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiResponse

    return {
        code: OpenApiResponse(
            response=OpenApiTypes.OBJECT if code == 400 else DetailSerializer,
            description=_ERROR_WORDS[code],
        )
        for code in codes
    }


READ_ERRORS = error_responses(401, 403)
