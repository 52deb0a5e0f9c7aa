"""``GET /api/v1/health/``: the only endpoint that needs no credentials."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.selectors import health
from api.serializers import CycleSummarySerializer


class HealthCheckSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "error", "not configured"])
    detail = serializers.CharField()


class AccountHealthSerializer(serializers.Serializer):
    name = serializers.CharField()
    mode = serializers.CharField()
    enabled = serializers.BooleanField()
    last_cycle = CycleSummarySerializer(allow_null=True)


class HealthApi(APIView):
    """Database and Redis reachability (Redis without ``REDIS_URL``: "not configured", not an
    error) and each account's last cycle. 200 when healthy, 503 when degraded."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["ok", "degraded"])
        database = HealthCheckSerializer()
        redis = HealthCheckSerializer()
        accounts = AccountHealthSerializer(many=True)

    @extend_schema(
        operation_id="health",
        auth=[],
        responses={200: OutputSerializer, 503: OutputSerializer},
        tags=["health"],
    )
    def get(self, request: Request) -> Response:
        data = health()
        code = status.HTTP_200_OK if data["status"] == "ok" else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(self.OutputSerializer(data).data, status=code)
