"""The audit trail is append-only: model, queryset, admin and (PostgreSQL) trigger."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction
from django.test import Client

from trading.models import AppendOnlyError, AuditEvent
from trading.services.audit import ACTOR_SYSTEM, audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def event() -> AuditEvent:
    return audit_record(actor=ACTOR_SYSTEM, action="control.arm", reason="original")


def test_an_existing_event_cannot_be_saved_again(event: AuditEvent) -> None:
    event.reason = "rewritten"

    with pytest.raises(AppendOnlyError):
        event.save()
    assert AuditEvent.objects.get().reason == "original"


def test_an_event_cannot_be_deleted(event: AuditEvent) -> None:
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert AuditEvent.objects.count() == 1


def test_queryset_update_and_delete_are_refused(event: AuditEvent) -> None:
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().reason == "original"


def test_the_admin_gives_nobody_add_change_or_delete_not_even_a_superuser(
    event: AuditEvent, admin_client: Client, admin_user: User
) -> None:
    from django.contrib import admin as django_admin

    model_admin = django_admin.site._registry[AuditEvent]
    request = type("Request", (), {"user": admin_user})()
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_change_permission(request, event) is False
    assert model_admin.has_delete_permission(request, event) is False

    listing = admin_client.get("/admin/trading/auditevent/?action=control.arm")
    assert listing.status_code == 200
    assert "control.arm" in listing.content.decode()
    assert "delete_selected" not in listing.content.decode()
    delete = admin_client.post(f"/admin/trading/auditevent/{event.pk}/delete/", {"post": "yes"})
    change = admin_client.post(f"/admin/trading/auditevent/{event.pk}/change/", {"reason": "x"})
    add = admin_client.post("/admin/trading/auditevent/add/", {"actor": "x", "action": "y"})
    assert (delete.status_code, change.status_code, add.status_code) == (403, 403, 403)
    assert AuditEvent.objects.get().reason == "original"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL")
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE trading_auditevent SET reason = 'rewritten'",
        "DELETE FROM trading_auditevent",
    ],
)
def test_on_postgresql_raw_sql_update_and_delete_are_refused_by_the_trigger(
    event: AuditEvent, sql: str
) -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.get().reason == "original"
