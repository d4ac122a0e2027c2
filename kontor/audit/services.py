"""`record()` is the writer of the audit log, and `record_rows()` its set-based twin for bulk changes;
services call them inside their transaction."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import F, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, JSONObject, Substr
from django.utils import timezone

from kontor.audit.models import AuditEntry
from kontor.core.bulk import insert_select
from kontor.core.context import current_origin

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.tenancy.models import Customer


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dt.datetime | dt.date | dt.time | uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """Field values of `obj` in a JSON-safe form, for `before`/`after`."""
    out: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        if field.many_to_many:
            out[name] = sorted((obj.pk and getattr(obj, name).values_list("pk", flat=True)) or [])
        elif field.is_relation:
            out[name] = getattr(obj, f"{name}_id")
        else:
            out[name] = _jsonable(getattr(obj, name))
    return out


def record(
    action: str,
    obj: models.Model | None = None,
    *,
    actor: User | None,
    customer: Customer | int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    object_repr: str | None = None,
    account_id: int | None = None,
    batch_id: str = "",
) -> AuditEntry:
    origin = current_origin()
    customer_id = customer if isinstance(customer, int) or customer is None else customer.pk
    return AuditEntry.objects.create(
        customer_id=customer_id,
        account_id=account_id,
        actor=actor,
        actor_label=(actor.email if actor is not None else origin.source),
        action=action,
        object_type=object_type or (str(obj._meta.model_name) if obj is not None else ""),
        object_id=str(object_id if object_id is not None else (obj.pk if obj is not None else "")),
        object_repr=(object_repr if object_repr is not None else (str(obj) if obj is not None else ""))[:200],
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        source=origin.source,
        request_id=origin.request_id,
        ip=origin.ip,
        batch_id=batch_id,
    )


def record_rows(
    queryset: QuerySet[Any],
    *,
    action: str,
    actor: User | None,
    batch_id: str,
    label: Any,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    object_type: str | None = None,
) -> int:
    """One audit entry per row of `queryset` (a tenant model with customer and, optionally, account),
    written by ONE INSERT … SELECT, so a bulk change of 100,000 rows audits them in one statement.

    `label` (the object's text) and the values of `before`/`after` are expressions over the rows, e.g.
    `{"phone": F("phone"), "values": AsJson(F("values"))}`; the rows are read before they change, so
    write the audit before the UPDATE or DELETE. Every entry carries `batch_id`."""
    origin = current_origin()
    model = queryset.model
    has_account = any(f.name == "account" for f in model._meta.concrete_fields)

    def constant(value: Any, output: models.Field[Any, Any]) -> Any:
        return Cast(Value(value), output) if value is not None else RawSQL("NULL", [], output_field=output)

    def document(values: Mapping[str, Any] | None) -> Any:
        return JSONObject(**values) if values is not None else RawSQL("NULL", [], output_field=models.JSONField())

    columns = {
        "created_at": Value(timezone.now(), output_field=models.DateTimeField()),
        "customer": F("customer_id"),
        "account_id": F("account_id") if has_account else RawSQL("NULL", [], output_field=models.BigIntegerField()),
        "actor": constant(actor.pk if actor is not None else None, models.BigIntegerField()),
        "actor_label": constant(actor.email if actor is not None else origin.source, models.CharField()),
        "action": constant(action, models.CharField()),
        "object_type": constant(object_type or str(model._meta.model_name), models.CharField()),
        "object_id": Cast("pk", models.CharField()),
        "object_repr": Substr(Cast(label, models.TextField()), 1, 200),
        "before": document(before),
        "after": document(after),
        "source": constant(origin.source, models.CharField()),
        "request_id": constant(origin.request_id, models.CharField()),
        "ip": constant(origin.ip, models.GenericIPAddressField()),
        "batch_id": constant(batch_id, models.CharField()),
    }
    return insert_select(AuditEntry, queryset, columns)
