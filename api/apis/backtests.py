"""Backtest runs: list, detail (with its equity curve), create (queued as the Celery task
``replay.backtest_run``) and a side-by-side comparison of several runs.

Percentages are percent (``12.5`` = 12.5 %); money in the dataset's quote asset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.fields import DecimalString, InstantField
from api.filters import BacktestRunFilter
from api.pagination import NewestFirst
from api.permissions import ConsolePermission
from api.serializers import error_responses
from replay.models import BacktestRun, Dataset, RunStatus
from replay.selectors import backtest_curve
from replay.services.backtests import BacktestRequest, backtest_queue
from trading.domain.strategies.registry import STRATEGY_REGISTRY
from trading.domain.venue import FillModel
from trading.models import ParamSet

DEFAULT_POINTS = 500
MAX_POINTS = 10_000


class BacktestRunSerializer(serializers.ModelSerializer):
    """A run: inputs, lifecycle (pending -> running -> completed | failed), timings (seconds),
    summary metrics (``None`` until completed) and the id of the sweep it is part of, if any."""

    title = serializers.SerializerMethodField()
    dataset = serializers.CharField(source="dataset.name")
    fee_maker_bps = DecimalString()
    fee_taker_bps = DecimalString()
    initial_cash = DecimalString()
    fees = DecimalString()
    final_equity = DecimalString(allow_null=True)
    return_pct = DecimalString(allow_null=True)
    max_drawdown_pct = DecimalString(allow_null=True)

    class Meta:
        model = BacktestRun
        fields = [
            "id", "title", "dataset", "dataset_fingerprint", "strategy", "params", "risk_limits",
            "fill_model", "fee_maker_bps", "fee_taker_bps", "initial_cash", "start", "end",
            "status", "error", "created_at", "started_at", "finished_at", "elapsed_s",
            "persist_s", "cycles", "symbols", "bars", "trades", "fills", "fees", "final_equity",
            "return_pct", "max_drawdown_pct", "sharpe", "win_rate", "cycles_per_s", "fingerprint",
            "sweep", "universe", "adaptation",
        ]  # fmt: skip
        read_only_fields = fields

    def get_title(self, run: BacktestRun) -> str:
        return f"run {run.pk}: {run.strategy} on {run.dataset.name}"


class BacktestPointSerializer(serializers.Serializer):
    ts = serializers.DateTimeField()
    equity = DecimalString()
    drawdown_pct = DecimalString()


class ParamVersionSerializer(serializers.ModelSerializer):
    """One parameter version of an adapting run (``params`` field -> decimal string)."""

    parent = serializers.IntegerField(source="parent.version", allow_null=True, default=None)

    class Meta:
        model = ParamSet
        fields = ["version", "parent", "status", "reason", "created_ms", "params"]
        read_only_fields = fields


class BacktestCurveSerializer(BacktestRunSerializer):
    cycles_total = serializers.IntegerField(source="curve_total", read_only=True)
    equity = BacktestPointSerializer(source="curve", many=True, read_only=True)
    param_versions = serializers.SerializerMethodField()

    class Meta(BacktestRunSerializer.Meta):
        fields = [*BacktestRunSerializer.Meta.fields, "cycles_total", "equity", "param_versions"]
        read_only_fields = fields

    @extend_schema_field(ParamVersionSerializer(many=True))
    def get_param_versions(self, run: BacktestRun) -> list[dict]:
        """The run's parameter versions, oldest first (``[]`` without ``adaptation``)."""
        sets = ParamSet.objects.filter(backtest_run=run).select_related("parent")
        return ParamVersionSerializer(sets.order_by("version"), many=True).data


def _with_curve(run: BacktestRun, points: int) -> BacktestRun:
    """Attach the run's per-cycle equity, downsampled to ``points`` (first and last kept; each
    point with the worst drawdown of the cycles it stands for: ``replay.selectors``)."""
    run.curve_total = run.cycles if run.status == RunStatus.COMPLETED else 0
    run.curve = [
        {"ts": _utc(p.ts_ms), "equity": p.equity, "drawdown_pct": p.drawdown_pct}
        for p in backtest_curve(run=run, max_points=points)
    ]
    return run


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class PointsSerializer(serializers.Serializer):
    points = serializers.IntegerField(
        required=False, default=DEFAULT_POINTS, min_value=2, max_value=MAX_POINTS
    )


class BacktestListCreateApi(ListAPIView):
    """``GET``: runs, newest first (filters: dataset, strategy, status, created range).
    ``POST``: validate and queue a run (needs ``replay.add_backtestrun``); answers 202 with the
    pending run, whose status moves as the worker runs it."""

    class InputSerializer(serializers.Serializer):
        dataset = serializers.SlugField(help_text="an imported dataset's name")
        strategy = serializers.ChoiceField(choices=sorted(STRATEGY_REGISTRY))
        params = serializers.DictField(required=False, default=dict)
        risk = serializers.DictField(required=False, default=dict, help_text="RiskLimits overrides")
        fill_model = serializers.ChoiceField(
            choices=[m.value for m in FillModel], default=FillModel.BAR.value
        )
        fee_maker_bps = serializers.DecimalField(
            max_digits=10, decimal_places=4, min_value=Decimal(0), max_value=Decimal(1000),
            required=False,
        )  # fmt: skip
        fee_taker_bps = serializers.DecimalField(
            max_digits=10, decimal_places=4, min_value=Decimal(0), max_value=Decimal(1000),
            required=False,
        )  # fmt: skip
        initial_cash = serializers.DecimalField(
            max_digits=24, decimal_places=8, min_value=Decimal("0.00000001"), default=Decimal(100_000)
        )  # fmt: skip
        max_volume_share = serializers.DecimalField(
            max_digits=9, decimal_places=8, min_value=Decimal(0), max_value=Decimal(1),
            required=False, help_text="share of a bar's volume one order may fill; 0 = no cap",
        )  # fmt: skip
        start = InstantField(required=False, allow_null=True, default=None)
        end = InstantField(required=False, allow_null=True, default=None)
        universe = serializers.DictField(
            required=False, default=dict,
            help_text="universe governance settings, as an account's (given = enabled)",
        )  # fmt: skip
        adaptation = serializers.DictField(
            required=False, default=dict,
            help_text="parameter adaptation settings, as an account's (given = enabled)",
        )  # fmt: skip

        def validate_dataset(self, name: str) -> Dataset:
            dataset = Dataset.objects.filter(name=name).first()
            if dataset is None:
                raise serializers.ValidationError(f"no dataset named {name!r}")
            return dataset

    queryset = BacktestRun.objects.select_related("dataset")
    serializer_class = BacktestRunSerializer
    filterset_class = BacktestRunFilter
    pagination_class = NewestFirst

    def get_permissions(self) -> list:
        if self.request is not None and self.request.method == "POST":
            return [ConsolePermission()]
        return [IsAdminUser()]

    required_permission = "replay.add_backtestrun"

    @extend_schema(
        operation_id="backtests_list",
        responses={200: BacktestRunSerializer(many=True), **error_responses(400, 401, 403, 404)},
        tags=["backtests"],
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="backtests_create",
        request=InputSerializer,
        responses={202: BacktestRunSerializer, **error_responses(400, 401, 403)},
        tags=["backtests"],
    )
    def post(self, request: Request) -> Response:
        form = self.InputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        share = data.get("max_volume_share", settings.BACKTEST_MAX_VOLUME_SHARE)
        run = backtest_queue(
            request=BacktestRequest(
                dataset=data["dataset"],
                strategy=data["strategy"],
                params=data["params"],
                risk=data["risk"],
                fill_model=FillModel(data["fill_model"]),
                fee_maker_bps=data.get("fee_maker_bps", settings.BACKTEST_FEE_MAKER_BPS),
                fee_taker_bps=data.get("fee_taker_bps", settings.BACKTEST_FEE_TAKER_BPS),
                initial_cash=data["initial_cash"],
                max_volume_share=share if share > 0 else None,
                start=data["start"],
                end=data["end"],
                universe={"enabled": True, **data["universe"]} if data["universe"] else {},
                adaptation={"enabled": True, **data["adaptation"]} if data["adaptation"] else {},
            )
        )
        return Response(BacktestRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class BacktestDetailApi(APIView):
    """One run with its equity curve per cycle, downsampled to ``points`` (default 500)."""

    @extend_schema(
        operation_id="backtests_retrieve",
        parameters=[
            OpenApiParameter("id", int, OpenApiParameter.PATH, description="run id"),
            PointsSerializer,
        ],
        responses={200: BacktestCurveSerializer, **error_responses(400, 401, 403, 404)},
        tags=["backtests"],
    )
    def get(self, request: Request, id: int) -> Response:
        query = PointsSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        run = get_object_or_404(BacktestRun.objects.select_related("dataset"), pk=id)
        return Response(
            BacktestCurveSerializer(_with_curve(run, query.validated_data["points"])).data
        )


class BacktestCompareApi(APIView):
    """Several runs side by side (``ids=3,5,8``, at most 10, in that order): each run's
    metrics and its equity curve downsampled to ``points``, for overlaid charts."""

    class InputSerializer(PointsSerializer):
        ids = serializers.RegexField(
            r"^\d{1,18}(,\d{1,18}){0,9}$", help_text="comma-separated run ids, at most 10"
        )

        def validate_ids(self, text: str) -> list[int]:
            ids = list(dict.fromkeys(int(part) for part in text.split(",")))
            found = set(BacktestRun.objects.filter(pk__in=ids).values_list("pk", flat=True))
            missing = [i for i in ids if i not in found]
            if missing:
                raise serializers.ValidationError(f"no backtest runs {missing}")
            return ids

    class OutputSerializer(serializers.Serializer):
        runs = BacktestCurveSerializer(many=True)

    @extend_schema(
        operation_id="backtests_compare",
        parameters=[InputSerializer],
        responses={200: OutputSerializer, **error_responses(400, 401, 403)},
        tags=["backtests"],
    )
    def get(self, request: Request) -> Response:
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        ids, points = query.validated_data["ids"], query.validated_data["points"]
        runs = BacktestRun.objects.select_related("dataset").in_bulk(ids)
        data = {"runs": [_with_curve(runs[i], points) for i in ids]}
        return Response(self.OutputSerializer(data).data)
