"""The effective safety gate, gathered from settings and the database (DESIGN.md section 4).

Call :func:`gate_state` immediately before each live submit or cancel, and to show the state in
the admin and the start-up banner. The rules themselves are in :mod:`trading.domain.gate`.
"""

from __future__ import annotations

from django.conf import settings

from trading.domain.gate import GateAction, GateDecision, GateInputs, gate_evaluate
from trading.domain.orders import OrderStatus
from trading.models import Order, TradingControl


def gate_inputs_collect(*, key_can_withdraw: bool | None = None) -> GateInputs:
    """Read the gate's inputs: environment settings, the trading control row, UNKNOWN orders.

    Settings: ``DRY_RUN``, ``KILL_SWITCH``, ``LIVE_TRADING``, ``LIVE_TRADING_ACK``,
    ``BTCTURK_API_KEY``/``BTCTURK_API_SECRET`` (both non-empty = credentials present).
    ``key_can_withdraw`` is what the caller knows about the key's permissions; when ``None``
    it comes from ``BTCTURK_API_PERMISSIONS`` (``"withdraw"`` listed = True, other permissions
    listed = False, empty = ``None``, unknown). A missing control row reads as not armed, kill switch off; nothing is written.
    """
    if key_can_withdraw is None and settings.BTCTURK_API_PERMISSIONS:
        key_can_withdraw = "withdraw" in settings.BTCTURK_API_PERMISSIONS
    control = TradingControl.objects.filter(pk=TradingControl.SINGLETON_PK).first()
    return GateInputs(
        dry_run=settings.DRY_RUN,
        kill_switch_env=settings.KILL_SWITCH,
        live_trading=settings.LIVE_TRADING,
        live_trading_ack=settings.LIVE_TRADING_ACK,
        has_credentials=bool(settings.BTCTURK_API_KEY and settings.BTCTURK_API_SECRET),
        key_can_withdraw=key_can_withdraw,
        armed=control is not None and control.armed,
        db_kill_switch=control is not None and control.kill_switch,
        unresolved_unknown_orders=Order.objects.filter(status=OrderStatus.UNKNOWN.value).count(),
    )


def gate_state(
    *, action: GateAction | str = GateAction.SUBMIT, key_can_withdraw: bool | None = None
) -> GateDecision:
    """The gate's decision for ``action`` ("submit" or "cancel") right now, with all reasons.

    Raises ``ValueError`` for an unknown action.
    """
    return gate_evaluate(gate_inputs_collect(key_can_withdraw=key_can_withdraw), action)
