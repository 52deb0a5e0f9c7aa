"""An account's governed universe and adaptive parameter versions (issue 11): read only.

Control (rollback, pin) is the console's (``trading.services.adaptive_actions``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.apis.accounts import ACCOUNT_ERRORS, account_or_404
from trading.adaptive_selectors import param_versions, universe_view

VERSIONS_MAX = 500


class FieldDiffSerializer(serializers.Serializer):
    name = serializers.CharField()
    before = serializers.CharField(allow_null=True)
    after = serializers.CharField(allow_null=True)


class ParamVersionSerializer(serializers.Serializer):
    """One version: parameters as decimal strings (``trading.domain.adaptation_bounds``
    names), ``status`` pending/good/bad, ``reason`` the code that created it, ``outcome`` the
    code of its last status change, ``diff`` the fields changed from ``parent``."""

    version = serializers.IntegerField(source="row.version")
    status = serializers.CharField(source="row.status")
    parent = serializers.IntegerField(source="parent_version", allow_null=True)
    reason = serializers.CharField(source="row.reason")
    outcome = serializers.CharField(source="row.outcome")
    params = serializers.DictField(source="row.params", child=serializers.CharField())
    diff = FieldDiffSerializer(many=True)
    active = serializers.BooleanField()
    created_ms = serializers.IntegerField(source="row.created_ms")
    created_at = serializers.DateTimeField(source="row.created_at")
    updated_at = serializers.DateTimeField(source="row.updated_at")


class ParamVersionListApi(APIView):
    """The account's parameter versions, newest first (at most 500), whether adaptation is
    on and whether an operator pinned the active version."""

    class OutputSerializer(serializers.Serializer):
        account = serializers.CharField()
        adaptation_enabled = serializers.BooleanField()
        pinned = serializers.BooleanField()
        active_version = serializers.IntegerField(allow_null=True)
        versions = ParamVersionSerializer(many=True)

    @extend_schema(
        operation_id="accounts_params_list",
        responses={200: OutputSerializer, **ACCOUNT_ERRORS},
        tags=["accounts"],
    )
    def get(self, request: Request, name: str) -> Response:
        account = account_or_404(name)
        versions = param_versions(account, limit=VERSIONS_MAX)
        active = next((v.row.version for v in versions if v.active), None)
        data = {
            "account": account.name,
            "adaptation_enabled": bool((account.adaptation or {}).get("enabled")),
            "pinned": account.params_pinned,
            "active_version": active,
            "versions": versions,
        }
        return Response(self.OutputSerializer(data).data)


class CooldownSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    until = serializers.DateTimeField()


class UniverseApi(APIView):
    """The governed universe as the last cycle left it: the set, the last outcome, removal
    and reject cooldowns (UTC ends), probation counts, the day's changes and the settings."""

    class OutputSerializer(serializers.Serializer):
        enabled = serializers.BooleanField()
        symbols = serializers.ListField(child=serializers.CharField())
        outcome = serializers.CharField()
        removal_cooldowns = CooldownSerializer(many=True)
        reject_cooldowns = CooldownSerializer(many=True)
        probation = serializers.DictField(child=serializers.IntegerField())
        day = serializers.CharField(allow_null=True)
        changes_today = serializers.IntegerField()
        max_changes_per_day = serializers.IntegerField()
        size = serializers.IntegerField()
        settings = serializers.DictField()

    @extend_schema(
        operation_id="accounts_universe",
        responses={200: OutputSerializer, **ACCOUNT_ERRORS},
        tags=["accounts"],
    )
    def get(self, request: Request, name: str) -> Response:
        return Response(self.OutputSerializer(universe_view(account_or_404(name))).data)
