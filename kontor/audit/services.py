"""`record()` is the only writer of the audit log; services call it inside their transaction."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import models

from kontor.audit.models import AuditEntry
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
