from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from trading.domain.orders import OrderStatus
from trading.models import AuditEvent
from trading.services.audit import (
    ACTOR_SYSTEM,
    actor_for_command,
    actor_for_task,
    actor_for_user,
    audit_record,
)


def test_actors_name_the_user_the_task_or_the_command() -> None:
    assert actor_for_user(User(username="operator")) == "user:operator"
    assert actor_for_task("trading.cycle_run") == "task:trading.cycle_run"
    assert actor_for_command("create_account") == "command:create_account"
    assert ACTOR_SYSTEM == "system"


@pytest.mark.django_db
def test_it_writes_one_event_with_json_safe_snapshots(operator: User) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    event = audit_record(
        actor=actor_for_user(operator),
        user=operator,
        action="account.update",
        account="demo",
        object_type="account",
        object_id=7,
        before={"fee": Decimal("10.50"), "at": moment, "status": OrderStatus.NEW},
        after={"fee": Decimal("0.1"), "levels": (Decimal("1"), 2), "tags": {"b", "a"}},
        reason="cheaper",
    )

    stored = AuditEvent.objects.get()
    assert stored.pk == event.pk
    assert (stored.actor, stored.user, stored.action) == (
        "user:operator",
        operator,
        "account.update",
    )
    assert (stored.account, stored.object_type, stored.object_id) == ("demo", "account", "7")
    assert stored.before == {"fee": "10.50", "at": "2026-01-02T03:04:05+00:00", "status": "NEW"}
    assert stored.after == {"fee": "0.1", "levels": ["1", 2], "tags": ["a", "b"]}
    assert stored.reason == "cheaper"


@pytest.mark.django_db
def test_an_event_without_an_actor_or_an_action_is_refused() -> None:
    with pytest.raises(ValueError):
        audit_record(actor="", action="account.update")
    with pytest.raises(ValueError):
        audit_record(actor=ACTOR_SYSTEM, action="")
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_commits_and_rolls_back_with_the_callers_transaction() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=ACTOR_SYSTEM, action="test.rolled_back")
        raise RuntimeError("the change failed after its audit event was written")

    with transaction.atomic():
        audit_record(actor=ACTOR_SYSTEM, action="test.committed")

    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["test.committed"]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_is_a_single_insert() -> None:
    audit_record(actor=ACTOR_SYSTEM, action="gate.blocked", reason="NOT_ARMED")

    assert AuditEvent.objects.get().reason == "NOT_ARMED"
