"""Alerts, the audit trail, instruments (exchange rules) and replay datasets."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.fields import DecimalString
from api.filters import AlertFilter, AuditEventFilter
from api.pagination import NewestEventFirst, NewestFirst
from api.serializers import READ_ERRORS, error_responses
from replay.models import Dataset, DatasetSeries
from trading.models import Alert, AuditEvent, Instrument

LIST_ERRORS = error_responses(400, 401, 403, 404)


class AlertListApi(ListAPIView):
    """Alerts, newest first (``open=true``: not acknowledged). An open alert is deduplicated
    per account, kind and key: repeats bump ``count`` and ``last_seen``."""

    class OutputSerializer(serializers.ModelSerializer):
        acknowledged_by = serializers.CharField(
            source="acknowledged_by.username", allow_null=True, default=None
        )
        is_open = serializers.BooleanField()

        class Meta:
            model = Alert
            fields = [
                "id", "kind", "key", "severity", "account", "message", "first_seen",
                "last_seen", "count", "is_open", "acknowledged_at", "acknowledged_by",
            ]  # fmt: skip
            read_only_fields = fields

    queryset = Alert.objects.select_related("acknowledged_by")
    serializer_class = OutputSerializer
    filterset_class = AlertFilter
    pagination_class = NewestFirst

    @extend_schema(
        operation_id="alerts_list",
        responses={200: OutputSerializer(many=True), **LIST_ERRORS},
        tags=["records"],
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class AuditEventListApi(ListAPIView):
    """The append-only audit trail, newest first: who (``actor``: ``user:<name>``,
    ``task:<name>``, ``command:<name>``, ``system``), what (``action``), on which row, the
    state before and after, and why."""

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = AuditEvent
            fields = [
                "id", "created_at", "actor", "action", "account", "object_type", "object_id",
                "before", "after", "reason",
            ]  # fmt: skip
            read_only_fields = fields

    queryset = AuditEvent.objects.all()
    serializer_class = OutputSerializer
    filterset_class = AuditEventFilter
    pagination_class = NewestEventFirst

    @extend_schema(
        operation_id="audit_events_list",
        responses={200: OutputSerializer(many=True), **LIST_ERRORS},
        tags=["records"],
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class InstrumentListApi(APIView):
    """Exchange rules per pair, synced from BTCTurk ``exchangeinfo`` (reference 2.1): tick
    size and price band quote per base unit, step size base units, min notional quote."""

    class OutputSerializer(serializers.ModelSerializer):
        tick_size = DecimalString()
        step_size = DecimalString()
        min_notional = DecimalString()
        min_price = DecimalString(allow_null=True)
        max_price = DecimalString(allow_null=True)

        class Meta:
            model = Instrument
            fields = [
                "symbol", "pair", "base", "quote", "status", "tick_size", "step_size",
                "min_notional", "min_price", "max_price", "order_methods", "updated_at",
            ]  # fmt: skip
            read_only_fields = fields

    @extend_schema(
        operation_id="instruments_list",
        responses={200: OutputSerializer(many=True), **READ_ERRORS},
        tags=["records"],
    )
    def get(self, request: Request) -> Response:
        rows = Instrument.objects.order_by("symbol")
        return Response(self.OutputSerializer(rows, many=True).data)


class DatasetSeriesSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetSeries
        fields = ["symbol", "first_ts", "last_ts", "bars", "gap_count", "missing_bars", "rules"]
        read_only_fields = fields


class DatasetListApi(APIView):
    """Imported replay datasets with their series (one per symbol: range, bars, gaps, rules);
    ``interval_ms`` is the bar length."""

    class OutputSerializer(serializers.ModelSerializer):
        series = DatasetSeriesSerializer(many=True, read_only=True)

        class Meta:
            model = Dataset
            fields = [
                "id", "name", "fingerprint", "quote_asset", "interval_ms", "first_ts",
                "last_ts", "bar_count", "has_book", "rules_source", "imported_at", "series",
            ]  # fmt: skip
            read_only_fields = fields

    @extend_schema(
        operation_id="datasets_list",
        responses={200: OutputSerializer(many=True), **READ_ERRORS},
        tags=["records"],
    )
    def get(self, request: Request) -> Response:
        rows = Dataset.objects.order_by("name").prefetch_related("series")
        return Response(self.OutputSerializer(rows, many=True).data)
