"""Control endpoints call one service each and leave an AuditEvent naming the user and reason.

Cancel all and force exit against a real venue are tested in
``tests/trading/services/test_operator_actions.py`` (sandbox exchange); here their wiring:
input, the service's answer, 409 on a busy lock, the action's audit event.
"""

from __future__ import annotations

import pytest

from meva.locks import single_flight
from trading.models import Account, AuditEvent, TradingControl
from trading.services import operator_actions

pytestmark = pytest.mark.django_db


def _post(client, url: str, body: dict):
    return client.post(f"/api/v1/control/{url}/", body, format="json")


def test_arm_needs_the_exact_acknowledgement_and_is_audited(controller, controller_client) -> None:
    wrong = _post(controller_client, "arm", {"reason": "go", "acknowledgement": "yes"})
    assert wrong.status_code == 400
    assert "I_UNDERSTAND" in wrong.json()["detail"]
    assert not AuditEvent.objects.filter(action="control.arm").exists()

    response = _post(controller_client, "arm", {"reason": "go", "acknowledgement": "I_UNDERSTAND"})

    assert response.status_code == 200
    assert (response.json()["armed"], response.json()["armed_by"]) == (True, "controller")
    event = AuditEvent.objects.get(action="control.arm")
    assert (event.user, event.actor, event.reason) == (controller, "user:controller", "go")


def test_disarm_and_the_kill_switch_change_the_gate_and_are_audited(
    controller_client, staff_client
) -> None:
    assert _post(controller_client, "disarm", {"reason": "night"}).status_code == 200
    engaged = _post(controller_client, "kill-switch", {"engaged": True, "reason": "incident"})
    assert engaged.json()["kill_switch"] is True
    assert TradingControl.load().kill_switch is True
    gate = staff_client.get("/api/v1/status/").json()["gate"]
    assert "DB_KILL_SWITCH" in [r["code"] for r in gate["cancel"]["reasons"]]

    _post(controller_client, "kill-switch", {"engaged": False, "reason": "resolved"})

    assert list(
        AuditEvent.objects.filter(action__startswith="control.")
        .order_by("id")
        .values_list("action", "reason")
    ) == [
        ("control.disarm", "night"),
        ("control.kill_switch_engage", "incident"),
        ("control.kill_switch_release", "resolved"),
    ]


def test_a_blank_reason_is_refused(controller_client) -> None:
    response = _post(controller_client, "kill-switch", {"engaged": True, "reason": "  "})

    assert response.status_code == 400
    assert "reason" in response.json()


def test_stop_entries_sets_the_switch_and_is_audited(seeded, controller_client) -> None:
    response = _post(
        controller_client, "stop-entries", {"account": "alpha", "stop": True, "reason": "news"}
    )

    assert response.status_code == 200
    assert response.json()["stop_entries"] is True
    assert Account.objects.get(name="alpha").stop_entries is True
    event = AuditEvent.objects.get(action="account.stop_entries")
    assert (event.account, event.reason, event.actor) == ("alpha", "news", "user:controller")
    missing = {"account": "nobody", "stop": True, "reason": "x"}
    assert _post(controller_client, "stop-entries", missing).status_code == 404


def test_cancel_all_answers_the_services_result(seeded, controller, controller_client, monkeypatch):
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        result = operator_actions.OperatorActionResult(
            action="operator.cancel_all", account="alpha", canceled=["o-2"], audit_event_id=7
        )
        return result

    monkeypatch.setattr("api.apis.control.orders_cancel_all", fake)

    response = _post(controller_client, "cancel-all", {"account": "alpha", "reason": "halt"})

    assert response.status_code == 200
    assert (response.json()["canceled"], response.json()["audit_event_id"]) == (["o-2"], 7)
    assert calls == [
        {"account_name": "alpha", "symbol": None, "user": controller, "reason": "halt"}
    ]


def test_operator_actions_are_refused_with_409_while_a_cycle_runs(seeded, controller_client):
    body = {"account": "alpha", "symbol": "BTC_TRY", "reason": "risk off"}
    with single_flight("cycle_run:{account}", account="alpha") as lease:
        assert lease
        exit_ = _post(controller_client, "force-exit", body)
        cancel = _post(controller_client, "cancel-all", {"account": "alpha", "reason": "x"})

    assert (exit_.status_code, cancel.status_code) == (409, 409)
    assert "cycle is running" in exit_.json()["detail"]


def test_a_force_exit_the_service_refuses_is_a_400_and_the_attempt_is_audited(
    seeded, controller_client, monkeypatch
) -> None:
    class Ports:  # no exchange: the account holds no BTC, so nothing is ever sent
        paper = None
        rules = {}

        def close(self) -> None:
            pass

    monkeypatch.setattr(operator_actions, "account_ports", lambda account: Ports())
    monkeypatch.setattr(operator_actions, "cycle_clock", lambda account, ports: 0)
    monkeypatch.setattr(operator_actions, "_ledger_catch_up", lambda session: None)
    monkeypatch.setattr(operator_actions, "_after", lambda account, ports, actor: None)

    response = _post(
        controller_client, "force-exit", {"account": "alpha", "symbol": "BTC_TRY", "reason": "x"}
    )

    assert response.status_code == 400
    assert "no exchange rules" in response.json()["detail"]
    event = AuditEvent.objects.get(action="operator.force_exit")
    assert (event.account, event.actor) == ("alpha", "user:controller")
    assert "no exchange rules" in event.after["error"]
