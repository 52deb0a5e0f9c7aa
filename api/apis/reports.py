"""PnL by trading period and by symbol, and the equity curve, of one account.

The trading day is local to ``TRADING_DAY_TIME_ZONE`` (``Europe/Istanbul``): a period's
``start`` is a local date and ``starts_at`` its local midnight in UTC. Realized PnL is net of
fees (average cost); ``fees`` are shown besides, not subtracted again.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.apis.accounts import account_or_404
from api.fields import DecimalString, InstantField
from api.selectors import equity_points_text, marks_latest
from api.serializers import error_responses
from ledger.domain.reports import Period, PnlRow
from ledger.reports import pnl_by_period, pnl_by_symbol, trading_time_zone
from ledger.selectors import position_list
from trading.domain.decimals import decimal_trim
from trading.services.account_state import balances_from_json

ERRORS = error_responses(400, 401, 403, 404)
MAX_POINTS = 10_000
# Without ``points`` a curve is downsampled to this many: 25k snapshots rendered one by one
# take ~100 ms of SQL, dicts and JSON, twice the list endpoints' 50 ms budget (issue 8).
DEFAULT_POINTS = 1_000


class RangeSerializer(serializers.Serializer):
    """``since`` (inclusive) and ``until`` (exclusive), ISO-8601, UTC when no offset."""

    since = InstantField(required=False)
    until = InstantField(required=False)

    def validate(self, attrs: dict) -> dict:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and until <= since:
            raise serializers.ValidationError({"until": "must be after since"})
        return attrs


def _query(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


class PnlSerializer(serializers.Serializer):
    realized_pnl = DecimalString()
    fees = DecimalString()
    fills = serializers.IntegerField()
    buy_notional = DecimalString()
    sell_notional = DecimalString()


class PnlPeriodSerializer(PnlSerializer):
    period = serializers.CharField(source="key", help_text="2024-01-31, 2024-W05 or 2024-01")
    start = serializers.DateField(help_text="first trading day (local date)")
    starts_at = serializers.SerializerMethodField(help_text="its local midnight, UTC")

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_starts_at(self, row: PnlRow) -> str:
        local = dt.datetime.combine(row.start, dt.time(0), tzinfo=trading_time_zone())
        return serializers.DateTimeField().to_representation(local.astimezone(dt.UTC))


class PnlApi(APIView):
    """Realized PnL per trading day, ISO week or month (``period``), oldest first; periods
    without fills in the range are left out. ``total`` sums the rows."""

    class InputSerializer(RangeSerializer):
        period = serializers.ChoiceField(choices=[p.value for p in Period], default="day")

    class OutputSerializer(serializers.Serializer):
        account = serializers.CharField()
        period = serializers.CharField()
        time_zone = serializers.CharField()
        rows = PnlPeriodSerializer(many=True)
        total = PnlSerializer()

    @extend_schema(
        operation_id="accounts_pnl",
        parameters=[InputSerializer],
        responses={200: OutputSerializer, **ERRORS},
        tags=["reports"],
    )
    def get(self, request: Request, name: str) -> Response:
        account = account_or_404(name)
        query = _query(self.InputSerializer, request)
        period = Period(query["period"])
        rows = pnl_by_period(
            account=account.name, period=period, since=query.get("since"), until=query.get("until")
        )
        data = {
            "account": account.name,
            "period": period.value,
            "time_zone": settings.TRADING_DAY_TIME_ZONE,
            "rows": rows,
            "total": _total(rows),
        }
        return Response(self.OutputSerializer(data).data)


class PnlSymbolSerializer(PnlSerializer):
    symbol = serializers.CharField(source="key")
    position_quantity = DecimalString(help_text="base units held now")
    mark_price = DecimalString(allow_null=True)
    unrealized_pnl = DecimalString(allow_null=True, help_text="now, at the mark; quote")


class PnlSymbolsApi(APIView):
    """Realized PnL per symbol over the range, with the position held now and its unrealized
    PnL at the newest mark (see positions). Symbols held but without fills in the range
    appear with zero realized PnL."""

    class InputSerializer(RangeSerializer):
        pass

    class OutputSerializer(serializers.Serializer):
        account = serializers.CharField()
        rows = PnlSymbolSerializer(many=True)
        total = PnlSerializer()

    @extend_schema(
        operation_id="accounts_pnl_symbols",
        parameters=[InputSerializer],
        responses={200: OutputSerializer, **ERRORS},
        tags=["reports"],
    )
    def get(self, request: Request, name: str) -> Response:
        account = account_or_404(name)
        query = _query(self.InputSerializer, request)
        rows = {
            row.key: row
            for row in pnl_by_symbol(
                account=account.name, since=query.get("since"), until=query.get("until")
            )
        }
        held = {p.symbol: p for p in position_list(account=account.name).filter(quantity__gt=0)}
        marks = marks_latest(account)
        out = []
        for symbol in sorted(set(rows) | set(held)):
            row = rows.get(symbol) or PnlRow(key=symbol)
            position = held.get(symbol)
            quantity = decimal_trim(position.quantity) if position else Decimal(0)
            mark = marks.get(symbol, (None, None))[0]
            unrealized = None
            if mark is not None:
                basis = decimal_trim(position.cost_basis) if position else Decimal(0)
                unrealized = quantity * mark - basis
            out.append(
                {
                    **_values(row),
                    "key": symbol,
                    "position_quantity": quantity,
                    "mark_price": mark,
                    "unrealized_pnl": unrealized,
                }
            )
        data = {"account": account.name, "rows": out, "total": _total(list(rows.values()))}
        return Response(self.OutputSerializer(data).data)


class EquityPointSerializer(serializers.Serializer):
    ts = serializers.DateTimeField()
    equity = DecimalString()
    cash = DecimalString()
    drawdown_pct = DecimalString(help_text="percent below the running peak, 0..100")


@extend_schema_field(EquityPointSerializer(many=True))
class RenderedPointsField(serializers.Field):
    """Points already rendered field by field (:func:`api.selectors.equity_points_text`):
    written out as they are (a long curve is not serialized point by point again)."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: list[dict[str, str]]) -> list[dict[str, str]]:
        return value


class EquityApi(APIView):
    """The account's equity curve (one snapshot per completed cycle), oldest first, evenly
    downsampled in the database to at most ``points`` points (first and last kept; default
    1,000, at most 10,000); ``snapshots`` counts the snapshots in the range, so a curve with
    more than ``points`` can be read whole in ``since``/``until`` windows. ``initial_cash``
    is the opening quote balance: the baseline of the curve."""

    class InputSerializer(RangeSerializer):
        points = serializers.IntegerField(
            required=False, min_value=2, max_value=MAX_POINTS, default=DEFAULT_POINTS
        )

    class OutputSerializer(serializers.Serializer):
        account = serializers.CharField()
        quote_asset = serializers.CharField()
        initial_cash = DecimalString(allow_null=True)
        snapshots = serializers.IntegerField(help_text="snapshots in the range")
        points = RenderedPointsField()

    @extend_schema(
        operation_id="accounts_equity",
        parameters=[InputSerializer],
        responses={200: OutputSerializer, **ERRORS},
        tags=["reports"],
    )
    def get(self, request: Request, name: str) -> Response:
        account = account_or_404(name)
        query = _query(self.InputSerializer, request)
        total, points = equity_points_text(
            account=account.name,
            since=query.get("since"),
            until=query.get("until"),
            points=query.get("points"),
        )
        quote = account.quote_asset
        opening = balances_from_json(account.initial_balances, field="initial_balances")
        data = {
            "account": account.name,
            "quote_asset": quote,
            "initial_cash": opening.get(quote),
            "snapshots": total,
            "points": points,
        }
        return Response(self.OutputSerializer(data).data)


def _values(row: PnlRow) -> dict[str, object]:
    return {
        "key": row.key,
        "realized_pnl": row.realized_pnl,
        "fees": row.fees,
        "fills": row.fills,
        "buy_notional": row.buy_notional,
        "sell_notional": row.sell_notional,
    }


def _total(rows: list[PnlRow]) -> PnlRow:
    total = PnlRow(key="total")
    for row in rows:
        total.realized_pnl += row.realized_pnl
        total.fees += row.fees
        total.fills += row.fills
        total.buy_notional += row.buy_notional
        total.sell_notional += row.sell_notional
    return total
