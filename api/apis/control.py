"""Operator controls: arm, disarm, kill switch, stop entries, cancel all, force exit.

Each needs a staff user with the console's permission for it (``trading.arm_trading``,
``trading.kill_switch``, ``trading.change_account``, ``trading.operate_orders``), takes a typed
``reason``, calls one service and answers with the changed state. Every service writes its
``AuditEvent`` (the user, the reason, before/after) in the transaction of the change.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.apis.accounts import AccountSerializer, ControlSerializer
from api.permissions import ConsolePermission
from api.serializers import error_responses
from trading.models import Account
from trading.services.accounts import account_stop_entries_set
from trading.services.audit import actor_for_user
from trading.services.control import (
    control_arm,
    control_disarm,
    kill_switch_engage,
    kill_switch_release,
)
from trading.services.operator_actions import orders_cancel_all, position_force_exit

ERRORS = error_responses(400, 401, 403)
REASON = {"max_length": 500, "help_text": "why (typed by the operator; kept in the audit trail)"}


class ControlApi(APIView):
    permission_classes = [ConsolePermission]


class ArmApi(ControlApi):
    """Set the arm flag, one of the safety gate's conditions. ``acknowledgement`` must be
    exactly ``I_UNDERSTAND``."""

    required_permission = "trading.arm_trading"

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(**REASON)
        acknowledgement = serializers.CharField(max_length=64)

    @extend_schema(
        operation_id="control_arm",
        request=InputSerializer,
        responses={200: ControlSerializer, **ERRORS},
        tags=["control"],
    )
    def post(self, request: Request) -> Response:
        data = _input(self.InputSerializer, request)
        control = control_arm(user=request.user, **data)
        return Response(ControlSerializer(control).data)


class DisarmApi(ControlApi):
    """Clear the arm flag: live submits and cancels are blocked."""

    required_permission = "trading.arm_trading"

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(**REASON)

    @extend_schema(
        operation_id="control_disarm",
        request=InputSerializer,
        responses={200: ControlSerializer, **ERRORS},
        tags=["control"],
    )
    def post(self, request: Request) -> Response:
        data = _input(self.InputSerializer, request)
        return Response(ControlSerializer(control_disarm(user=request.user, **data)).data)


class KillSwitchApi(ControlApi):
    """Engage (``engaged: true``, blocks every live submit and cancel) or release the database
    kill switch. Releasing does not arm trading."""

    required_permission = "trading.kill_switch"

    class InputSerializer(serializers.Serializer):
        engaged = serializers.BooleanField()
        reason = serializers.CharField(**REASON)

    @extend_schema(
        operation_id="control_kill_switch",
        request=InputSerializer,
        responses={200: ControlSerializer, **ERRORS},
        tags=["control"],
    )
    def post(self, request: Request) -> Response:
        data = _input(self.InputSerializer, request)
        service = kill_switch_engage if data["engaged"] else kill_switch_release
        return Response(ControlSerializer(service(user=request.user, reason=data["reason"])).data)


class StopEntriesApi(ControlApi):
    """Set an account's ``stop_entries``: when true it places only exposure-reducing orders
    and cancels."""

    required_permission = "trading.change_account"

    class InputSerializer(serializers.Serializer):
        account = serializers.SlugField(max_length=64)
        stop = serializers.BooleanField()
        reason = serializers.CharField(**REASON)

    @extend_schema(
        operation_id="control_stop_entries",
        request=InputSerializer,
        responses={200: AccountSerializer, **error_responses(400, 401, 403, 404)},
        tags=["control"],
    )
    def post(self, request: Request) -> Response:
        data = _input(self.InputSerializer, request)
        account = get_object_or_404(Account, name=data["account"])
        changed = account_stop_entries_set(
            account=account,
            stop=data["stop"],
            actor=actor_for_user(request.user),
            user=request.user,
            reason=data["reason"],
        )
        return Response(AccountSerializer(changed).data)


class DenialSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    symbol = serializers.CharField()


class CancelFailureSerializer(serializers.Serializer):
    client_order_id = serializers.CharField()
    code = serializers.CharField()


class OperatorActionSerializer(serializers.Serializer):
    """What an operator action did (``trading.services.operator_actions``): cancels accepted,
    refused or uncertain, orders submitted or uncertain (``UNKNOWN``, left to reconciliation),
    denials (``GATE_BLOCKED``: the safety gate refused; nothing was sent), and the action's
    audit event."""

    action = serializers.CharField()
    account = serializers.CharField()
    symbol = serializers.CharField()
    canceled = serializers.ListField(child=serializers.CharField())
    cancel_failed = CancelFailureSerializer(many=True)
    cancel_uncertain = serializers.ListField(child=serializers.CharField())
    submitted = serializers.ListField(child=serializers.CharField())
    uncertain = serializers.ListField(child=serializers.CharField())
    denials = DenialSerializer(many=True)
    position_quantity = serializers.CharField(allow_null=True, help_text="decimal, base units")
    quantity = serializers.CharField(allow_null=True, help_text="decimal, base units offered")
    audit_event_id = serializers.IntegerField(allow_null=True)


OPERATOR_ERRORS = error_responses(400, 401, 403, 404, 409)


class CancelAllApi(ControlApi):
    """Cancel every open order the account placed (of ``symbol`` only, when given), through
    the execution service and, for a live account, the safety gate. 409 while a cycle of the
    account runs."""

    required_permission = "trading.operate_orders"

    class InputSerializer(serializers.Serializer):
        account = serializers.SlugField(max_length=64)
        symbol = serializers.CharField(max_length=32, required=False, help_text="BTC_TRY")
        reason = serializers.CharField(**REASON)

    @extend_schema(
        operation_id="control_cancel_all",
        request=InputSerializer,
        responses={200: OperatorActionSerializer, **OPERATOR_ERRORS},
        tags=["control"],
    )
    def post(self, request: Request) -> Response:
        data = _input(self.InputSerializer, request)
        account = get_object_or_404(Account, name=data["account"])
        result = orders_cancel_all(
            account_name=account.name,
            symbol=data.get("symbol"),
            user=request.user,
            reason=data["reason"],
        )
        return Response(OperatorActionSerializer(result.as_dict()).data)


class ForceExitApi(ControlApi):
    """Sell the account's whole position of ``symbol`` now, reduce-only: its open orders of
    the symbol are canceled first, then one market sell (a marketable limit when the pair has
    no market orders) goes through the execution service and, for a live account, the safety
    gate. 409 while a cycle of the account runs."""

    required_permission = "trading.operate_orders"

    class InputSerializer(serializers.Serializer):
        account = serializers.SlugField(max_length=64)
        symbol = serializers.CharField(max_length=32, help_text="BTC_TRY")
        reason = serializers.CharField(**REASON)

    @extend_schema(
        operation_id="control_force_exit",
        request=InputSerializer,
        responses={200: OperatorActionSerializer, **OPERATOR_ERRORS},
        tags=["control"],
    )
    def post(self, request: Request) -> Response:
        data = _input(self.InputSerializer, request)
        account = get_object_or_404(Account, name=data["account"])
        result = position_force_exit(
            account_name=account.name,
            symbol=data["symbol"],
            user=request.user,
            reason=data["reason"],
        )
        return Response(OperatorActionSerializer(result.as_dict()).data)


def _input(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    form = serializer_class(data=request.data)
    form.is_valid(raise_exception=True)
    return dict(form.validated_data)
