"""Parameter sweeps: list, and one sweep with its runs ranked by a metric (read only; sweeps are
started with ``manage.py backtest_sweep``).

Percentages are percent (``12.5`` = 12.5 %); money in the dataset's quote asset.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.fields import DecimalString
from api.filters import SweepFilter
from api.pagination import NewestFirst
from api.serializers import error_responses
from replay.domain.sweeps import SweepMetric
from replay.models import RunStatus, Sweep
from replay.sweep_selectors import sweep_ranking

METRICS = [m.value for m in SweepMetric]


class SweepSerializer(serializers.ModelSerializer):
    """A sweep: inputs (grid, base parameters, risk overrides), lifecycle (pending -> running
    -> completed | failed) and run counts."""

    dataset = serializers.CharField(source="dataset.name")
    max_volume_share = DecimalString(allow_null=True)

    class Meta:
        model = Sweep
        fields = [
            "id", "dataset", "strategy", "grid", "base_params", "risk", "max_volume_share",
            "metric", "executor", "status", "error", "total", "completed", "failed", "actor",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class SweepListApi(ListAPIView):
    """Sweeps, newest first (filters: dataset, strategy, status, created range)."""

    queryset = Sweep.objects.select_related("dataset")
    serializer_class = SweepSerializer
    filterset_class = SweepFilter
    pagination_class = NewestFirst

    @extend_schema(
        operation_id="sweeps_list",
        responses={200: SweepSerializer(many=True), **error_responses(400, 401, 403, 404)},
        tags=["backtests"],
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class RankedRunSerializer(serializers.Serializer):
    """One combination: its rank (from 1), the grid's parameters it ran with (``params``),
    the run's full strategy parameters (``run_params``), status, error and metrics (``None``
    unless completed)."""

    rank = serializers.IntegerField()
    params = serializers.DictField()
    run_params = serializers.DictField(source="run.params")
    run_id = serializers.IntegerField(source="run.pk")
    status = serializers.ChoiceField(source="run.status", choices=RunStatus.choices)
    error = serializers.CharField(source="run.error")
    return_pct = DecimalString(source="run.return_pct", allow_null=True)
    sharpe = serializers.FloatField(source="run.sharpe", allow_null=True)
    max_drawdown_pct = DecimalString(source="run.max_drawdown_pct", allow_null=True)
    win_rate = serializers.FloatField(source="run.win_rate", allow_null=True)
    final_equity = DecimalString(source="run.final_equity", allow_null=True)
    trades = serializers.IntegerField(source="run.trades")
    fills = serializers.IntegerField(source="run.fills")
    fingerprint = serializers.CharField(source="run.fingerprint")


class SweepDetailApi(APIView):
    """One sweep with every run ranked by ``metric`` (default: the sweep's own): return and
    sharpe highest first, max_drawdown lowest first; runs without a value last, ties by id."""

    class InputSerializer(serializers.Serializer):
        metric = serializers.ChoiceField(choices=METRICS, required=False)

    class OutputSerializer(SweepSerializer):
        ranked_by = serializers.CharField()
        runs = RankedRunSerializer(source="runs_ranked", many=True)

        class Meta(SweepSerializer.Meta):
            fields = [*SweepSerializer.Meta.fields, "ranked_by", "runs"]
            read_only_fields = fields

    @extend_schema(
        operation_id="sweeps_retrieve",
        parameters=[
            OpenApiParameter("id", int, OpenApiParameter.PATH, description="sweep id"),
            InputSerializer,
        ],
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 404)},
        tags=["backtests"],
    )
    def get(self, request: Request, id: int) -> Response:
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        sweep = get_object_or_404(Sweep.objects.select_related("dataset"), pk=id)
        sweep.ranked_by = query.validated_data.get("metric", sweep.metric)
        sweep.runs_ranked = sweep_ranking(sweep=sweep, metric=sweep.ranked_by)
        data = self.OutputSerializer(sweep).data
        return Response(data)
