"""The audit table refuses UPDATE and DELETE in the database itself, whatever the code does."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from kontor.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def _row(world) -> AuditEntry:
    entry = AuditEntry.objects.filter(customer=world.acme.customer).order_by("id").first()
    assert entry is not None
    return entry


def _snapshot(pk: int) -> tuple:
    return tuple(AuditEntry.objects.filter(pk=pk).values_list("action", "before", "after", "actor_id").get())


def _refused(sql: str, params: list) -> None:
    with pytest.raises(Exception) as exc, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    assert "append-only" in str(exc.value)


def test_raw_update_is_refused(world):
    entry = _row(world)
    before = _snapshot(entry.pk)
    _refused("UPDATE audit_auditentry SET action = %s WHERE id = %s", ["forged", entry.pk])
    _refused("UPDATE audit_auditentry SET actor_id = NULL", [])
    assert _snapshot(entry.pk) == before


def test_raw_delete_is_refused(world):
    entry = _row(world)
    total = AuditEntry.objects.count()
    _refused("DELETE FROM audit_auditentry WHERE id = %s", [entry.pk])
    _refused("DELETE FROM audit_auditentry", [])
    assert AuditEntry.objects.count() == total
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_orm_update_and_delete_are_refused_too(world):
    entry = _row(world)
    before = _snapshot(entry.pk)
    with pytest.raises(Exception), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="forged")
    with pytest.raises(Exception), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert _snapshot(entry.pk) == before


def test_truncate_is_refused_on_postgresql(world):
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL (SQLite's DELETE is covered above)")
    total = AuditEntry.objects.count()
    _refused("TRUNCATE audit_auditentry", [])
    assert AuditEntry.objects.count() == total


def test_inserting_stays_possible(world):
    from kontor.audit.services import record

    with transaction.atomic():
        record("test.append", None, actor=None, customer=world.acme.customer, object_type="test")
    assert AuditEntry.objects.filter(action="test.append").count() == 1
