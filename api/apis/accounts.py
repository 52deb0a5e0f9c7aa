"""Accounts and their state: list, detail, status (gate, risk mode, last cycle), ledger
balances and positions."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.fields import DecimalString, EpochMsField
from api.selectors import marks_latest, status
from api.serializers import READ_ERRORS, CycleSummarySerializer, error_responses
from ledger.selectors import ledger_balances, position_list
from trading.domain.decimals import decimal_trim
from trading.models import Account
from trading.services.account_state import balances_from_json

ACCOUNT_ERRORS = error_responses(401, 403, 404)


def account_or_404(name: str) -> Account:
    return get_object_or_404(Account, name=name)


class AccountSerializer(serializers.ModelSerializer):
    """An account's configuration and carried state (fees in basis points, intervals in
    seconds, ``initial_balances`` asset -> decimal string)."""

    fee_maker_bps = DecimalString()
    fee_taker_bps = DecimalString()
    risk_mode = serializers.SerializerMethodField()
    last_cycle_clock = EpochMsField(source="last_cycle_ms", allow_null=True)

    class Meta:
        model = Account
        fields = [
            "name", "mode", "strategy", "params", "risk", "symbols", "bar_interval_s",
            "cycle_interval_s", "reconcile_interval_s", "balances_check_interval_s", "enabled",
            "stop_entries", "initial_balances", "fee_maker_bps", "fee_taker_bps", "fill_model",
            "risk_mode", "last_cycle_clock", "reconciled_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_risk_mode(self, account: Account) -> str:
        return (account.risk_state or {}).get("mode", "NORMAL")


class AccountListApi(APIView):
    """Every account, by name."""

    @extend_schema(
        operation_id="accounts_list",
        responses={200: AccountSerializer(many=True), **READ_ERRORS},
        tags=["accounts"],
    )
    def get(self, request: Request) -> Response:
        rows = Account.objects.order_by("name")
        return Response(AccountSerializer(rows, many=True).data)


class AccountDetailApi(APIView):
    """One account by name."""

    @extend_schema(
        operation_id="accounts_retrieve",
        responses={200: AccountSerializer, **ACCOUNT_ERRORS},
        tags=["accounts"],
    )
    def get(self, request: Request, name: str) -> Response:
        return Response(AccountSerializer(account_or_404(name)).data)


class GateReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    text = serializers.CharField()


class GateDecisionSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    summary = serializers.CharField()
    reasons = GateReasonSerializer(many=True)


class GateSerializer(serializers.Serializer):
    submit = GateDecisionSerializer()
    cancel = GateDecisionSerializer()


class ControlSerializer(serializers.Serializer):
    """The operator's switches (last change only; the history is the audit trail)."""

    armed = serializers.BooleanField()
    armed_by = serializers.CharField(source="armed_by.username", allow_null=True, default=None)
    armed_at = serializers.DateTimeField(allow_null=True)
    kill_switch = serializers.BooleanField()
    kill_switch_by = serializers.CharField(
        source="kill_switch_by.username", allow_null=True, default=None
    )
    kill_switch_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()


class AccountStatusSerializer(serializers.Serializer):
    name = serializers.CharField()
    mode = serializers.CharField()
    enabled = serializers.BooleanField()
    stop_entries = serializers.BooleanField()
    risk_mode = serializers.CharField()
    risk_reasons = serializers.ListField(child=serializers.CharField())
    reconciled_at = serializers.DateTimeField(allow_null=True)
    open_alerts = serializers.IntegerField()
    last_cycle = CycleSummarySerializer(allow_null=True)


class StatusApi(APIView):
    """The safety gate for submits and cancels with every reason, the trading control row,
    and per account its switches, risk mode with reasons, open alerts and last cycle."""

    class OutputSerializer(serializers.Serializer):
        gate = GateSerializer()
        control = ControlSerializer()
        accounts = AccountStatusSerializer(many=True)

    @extend_schema(
        operation_id="status",
        responses={200: OutputSerializer, **READ_ERRORS},
        tags=["accounts"],
    )
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(status()).data)


class BalancesApi(APIView):
    """The ledger's balance per asset: the opening balances plus every fill's entries."""

    class BalanceSerializer(serializers.Serializer):
        asset = serializers.CharField()
        amount = DecimalString()

    @extend_schema(
        operation_id="accounts_balances",
        responses={200: BalanceSerializer(many=True), **ACCOUNT_ERRORS},
        tags=["accounts"],
    )
    def get(self, request: Request, name: str) -> Response:
        account = account_or_404(name)
        opening = balances_from_json(account.initial_balances, field="initial_balances")
        balances = ledger_balances(account=account.name, opening=opening)
        rows = [{"asset": asset, "amount": amount} for asset, amount in balances.items()]
        return Response(self.BalanceSerializer(rows, many=True).data)


class PositionsApi(APIView):
    """Positions from the ledger (average cost), valued at the newest mark: the last completed
    cycle's, else the last stored candle's close. Open positions only unless
    ``include_flat=true`` (flat rows carry realized PnL)."""

    class InputSerializer(serializers.Serializer):
        include_flat = serializers.BooleanField(required=False, default=False)

    class OutputSerializer(serializers.Serializer):
        symbol = serializers.CharField()
        quantity = DecimalString()
        average_cost = DecimalString()
        cost_basis = DecimalString()
        realized_pnl = DecimalString()
        fees_paid = DecimalString()
        mark_price = DecimalString(allow_null=True)
        mark_at = serializers.DateTimeField(allow_null=True)
        market_value = DecimalString(allow_null=True)
        unrealized_pnl = DecimalString(allow_null=True)
        updated_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="accounts_positions",
        parameters=[InputSerializer],
        responses={200: OutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
        tags=["accounts"],
    )
    def get(self, request: Request, name: str) -> Response:
        account = account_or_404(name)
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows = position_list(account=account.name)
        if not params.validated_data["include_flat"]:
            rows = rows.filter(quantity__gt=0)
        marks = marks_latest(account)
        data = [self._row(row, marks.get(row.symbol)) for row in rows]
        return Response(self.OutputSerializer(data, many=True).data)

    @staticmethod
    def _row(row, mark: tuple | None) -> dict[str, object]:
        quantity, cost_basis = decimal_trim(row.quantity), decimal_trim(row.cost_basis)
        price, at = mark if mark is not None else (None, None)
        value = None if price is None else quantity * price
        return {
            "symbol": row.symbol,
            "quantity": quantity,
            "average_cost": row.average_cost,
            "cost_basis": cost_basis,
            "realized_pnl": row.realized_pnl,
            "fees_paid": row.fees_paid,
            "mark_price": price,
            "mark_at": at,
            "market_value": value,
            "unrealized_pnl": None if value is None else value - cost_basis,
            "updated_at": row.updated_at,
        }
