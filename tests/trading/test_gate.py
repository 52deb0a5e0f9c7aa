from __future__ import annotations

from dataclasses import replace

import pytest

from trading.domain.gate import (
    GateAction,
    GateDecision,
    GateInputs,
    GateReason,
    gate_evaluate,
)

DEFAULTS = GateInputs(
    dry_run=True,
    kill_switch_env=True,
    live_trading=False,
    live_trading_ack="",
    has_credentials=False,
    key_can_withdraw=None,
    armed=False,
    db_kill_switch=False,
    unresolved_unknown_orders=0,
)

ALL_GREEN = GateInputs(
    dry_run=False,
    kill_switch_env=False,
    live_trading=True,
    live_trading_ack="I_UNDERSTAND",
    has_credentials=True,
    key_can_withdraw=False,
    armed=True,
    db_kill_switch=False,
    unresolved_unknown_orders=0,
)


def test_defaults_block_with_every_default_reason_in_order() -> None:
    decision = gate_evaluate(DEFAULTS)

    assert decision.allowed is False
    assert decision.reasons == (
        GateReason.DRY_RUN,
        GateReason.KILL_SWITCH,
        GateReason.LIVE_TRADING_OFF,
        GateReason.ACK_MISSING,
        GateReason.NO_CREDENTIALS,
        GateReason.NOT_ARMED,
    )


def test_the_all_green_row_allows_submit_and_cancel() -> None:
    assert gate_evaluate(ALL_GREEN, "submit") == GateDecision(True, (), GateAction.SUBMIT)
    assert gate_evaluate(ALL_GREEN, "cancel") == GateDecision(True, (), GateAction.CANCEL)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"dry_run": True}, GateReason.DRY_RUN),
        ({"kill_switch_env": True}, GateReason.KILL_SWITCH),
        ({"live_trading": False}, GateReason.LIVE_TRADING_OFF),
        ({"live_trading_ack": ""}, GateReason.ACK_MISSING),
        ({"live_trading_ack": "i_understand"}, GateReason.ACK_MISSING),
        ({"live_trading_ack": "I_UNDERSTAND "}, GateReason.ACK_MISSING),
        ({"live_trading_ack": "yes"}, GateReason.ACK_MISSING),
        ({"has_credentials": False}, GateReason.NO_CREDENTIALS),
        ({"key_can_withdraw": True}, GateReason.WITHDRAW_PERMISSION),
        ({"armed": False}, GateReason.NOT_ARMED),
        ({"db_kill_switch": True}, GateReason.DB_KILL_SWITCH),
        ({"unresolved_unknown_orders": 1}, GateReason.UNKNOWN_ORDERS),
    ],
)
def test_any_single_failing_condition_blocks_a_submit_with_exactly_its_reason(
    change: dict, reason: GateReason
) -> None:
    decision = gate_evaluate(replace(ALL_GREEN, **change), GateAction.SUBMIT)

    assert decision.allowed is False
    assert decision.reasons == (reason,)


def test_a_key_whose_permissions_are_unknown_does_not_block_on_its_own() -> None:
    assert gate_evaluate(replace(ALL_GREEN, key_can_withdraw=None)).allowed is True


@pytest.mark.parametrize(
    ("action", "allowed", "reasons"),
    [
        (GateAction.SUBMIT, False, (GateReason.UNKNOWN_ORDERS,)),
        (GateAction.CANCEL, True, ()),
    ],
)
def test_unknown_orders_block_submits_but_not_cancels(
    action: GateAction, allowed: bool, reasons: tuple[GateReason, ...]
) -> None:
    decision = gate_evaluate(replace(ALL_GREEN, unresolved_unknown_orders=3), action)

    assert (decision.allowed, decision.reasons) == (allowed, reasons)


def test_every_reason_is_reported_at_once_in_the_fixed_order() -> None:
    everything_wrong = replace(
        DEFAULTS, key_can_withdraw=True, db_kill_switch=True, unresolved_unknown_orders=2
    )

    assert gate_evaluate(everything_wrong).reasons == tuple(GateReason)
    assert GateReason.UNKNOWN_ORDERS not in gate_evaluate(everything_wrong, "cancel").reasons


def test_the_summary_and_explanation_name_every_reason() -> None:
    decision = gate_evaluate(replace(ALL_GREEN, dry_run=True, armed=False))

    assert decision.summary == "BLOCKED (submit): DRY_RUN, NOT_ARMED"
    assert [line.split(":")[0] for line in decision.explain()] == ["DRY_RUN", "NOT_ARMED"]
    assert gate_evaluate(ALL_GREEN).summary == "ARMED (submit)"


@pytest.mark.parametrize(
    ("inputs", "action"),
    [
        (ALL_GREEN, "withdraw"),
        (replace(ALL_GREEN, unresolved_unknown_orders=-1), "submit"),
    ],
)
def test_it_refuses_an_unknown_action_or_a_negative_count(inputs: GateInputs, action: str) -> None:
    with pytest.raises(ValueError):
        gate_evaluate(inputs, action)
