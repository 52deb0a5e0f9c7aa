"""Orders, fills and cycles: filtered (django-filter, ``api.filters``) and cursor-paginated
lists, newest first; one cycle with its decisions."""

from __future__ import annotations

from django.db.models import F, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.fields import DecimalString
from api.filters import CycleFilter, FillFilter, OrderFilter
from api.pagination import NewestFirst
from api.serializers import (
    CycleDecisionSerializer,
    CycleSummarySerializer,
    error_responses,
)
from ledger.models import LedgerFill
from trading.models import Cycle, Order

LIST_ERRORS = error_responses(400, 401, 403, 404)
ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="row id (>= 1)")


class OrderListApi(ListAPIView):
    """Orders we sent or intended to send (``Order`` rows), newest first. Prices quote per base
    unit, quantities base units, ``quote_amount`` the quote a market buy spends."""

    class OutputSerializer(serializers.ModelSerializer):
        price = DecimalString(allow_null=True)
        quantity = DecimalString()
        quote_amount = DecimalString(allow_null=True)
        filled_quantity = DecimalString()
        cycle = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

        class Meta:
            model = Order
            fields = [
                "id", "account", "cycle", "client_order_id", "exchange_order_id", "symbol",
                "side", "order_type", "price", "quantity", "quote_amount", "filled_quantity",
                "status", "reject_code", "strategy", "reason", "submitted_at", "created_at",
                "updated_at",
            ]  # fmt: skip
            read_only_fields = fields

    queryset = Order.objects.all()
    serializer_class = OutputSerializer
    filterset_class = OrderFilter
    pagination_class = NewestFirst

    @extend_schema(
        operation_id="orders_list",
        responses={200: OutputSerializer(many=True), **LIST_ERRORS},
        tags=["trading"],
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class FillListApi(ListAPIView):
    """Trade-level fills booked in the ledger, newest first. ``fee`` in ``fee_asset``,
    ``fee_quote`` that fee in the quote asset at fill time; ``ts`` the execution time."""

    class OutputSerializer(serializers.ModelSerializer):
        price = DecimalString()
        quantity = DecimalString()
        notional = DecimalString(source="notional_value")
        fee = DecimalString()
        fee_quote = DecimalString()

        class Meta:
            model = LedgerFill
            fields = [
                "id", "account", "trade_id", "client_order_id", "symbol", "side", "price",
                "quantity", "notional", "fee", "fee_asset", "fee_quote", "liquidity", "ts",
            ]  # fmt: skip
            read_only_fields = fields

    serializer_class = OutputSerializer
    filterset_class = FillFilter
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[LedgerFill]:
        return LedgerFill.objects.annotate(notional_value=F("price") * F("quantity"))

    @extend_schema(
        operation_id="fills_list",
        responses={200: OutputSerializer(many=True), **LIST_ERRORS},
        tags=["trading"],
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class CycleListApi(ListAPIView):
    """Cycles of the paper and live accounts, newest first, without their decisions."""

    queryset = Cycle.objects.all()
    serializer_class = CycleSummarySerializer
    filterset_class = CycleFilter
    pagination_class = NewestFirst

    @extend_schema(
        operation_id="cycles_list",
        responses={200: CycleSummarySerializer(many=True), **LIST_ERRORS},
        tags=["trading"],
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class CycleDetailApi(APIView):
    """One cycle with what the market looked like, the gate it saw and every decision."""

    class OutputSerializer(CycleSummarySerializer):
        decisions = CycleDecisionSerializer(many=True, read_only=True)

        class Meta(CycleSummarySerializer.Meta):
            fields = [*CycleSummarySerializer.Meta.fields, "market", "gate", "decisions"]
            read_only_fields = fields

    @extend_schema(
        operation_id="cycles_retrieve",
        parameters=[ID],
        responses={200: OutputSerializer, **error_responses(401, 403, 404)},
        tags=["trading"],
    )
    def get(self, request: Request, id: int) -> Response:
        cycle = get_object_or_404(Cycle.objects.prefetch_related("decisions"), pk=id)
        return Response(self.OutputSerializer(cycle).data)
