"""Changing an account's custom columns without losing contact data silently.

Contacts keep their values keyed by the column's id. So:
- a column that is removed while contacts hold values in it is only hidden (`removed_at`), with its values
  left in place; adding a column of the same name again within `RETENTION` brings it back, values and all;
  after that, `purge_removed_columns` (the `purge_removed_columns` command, and every column change of the
  account) removes the values for good;
- a type change rewrites the values in the new type's form; values that do not convert are cleared;
- either loss (values hidden or cleared) needs `confirm`: without it the change is refused with
  `ColumnDataAtRisk`, which names each column, how many contacts hold values, and a few examples."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from kontor.audit.services import record
from kontor.core.errors import Conflict, ErrorCode
from kontor.tenancy.models import Account, CustomColumn
from kontor.tenancy.registry import column_values

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.tenancy.services import ColumnSpec

RETENTION = dt.timedelta(days=30)
EXAMPLES = 3


@dataclass(frozen=True)
class ColumnRisk:
    name: str
    change: str  # "remove" or "type"
    contacts: int
    examples: list[str] = field(default_factory=list)

    def describe(self) -> str:
        held = f"{self.contacts} contact{'s' if self.contacts != 1 else ''}"
        if self.change == "remove":
            return (
                f"Removing “{self.name}” hides the values {held} hold in it. They come back if you add a column "
                f"named “{self.name}” again within {RETENTION.days} days; after that they are deleted."
            )
        shown = ", ".join(f"“{e}”" for e in self.examples)
        return f"Changing the type of “{self.name}” clears the values of {held} that do not convert (e.g. {shown})."


class ColumnDataAtRisk(Conflict):
    """409: the change would hide or clear contact values; the caller must confirm it."""

    def __init__(self, risks: list[ColumnRisk]) -> None:
        details = [r.describe() for r in risks]
        super().__init__(
            " ".join(details) + " Confirm the change to go ahead.",
            code=ErrorCode.COLUMN_DATA_AT_RISK,
            fields={"custom_columns": details},
        )
        self.risks = risks

    def problem(self) -> dict[str, object]:
        body = super().problem()
        body["columns"] = [asdict(r) for r in self.risks]
        return body


def replace_columns(account: Account, specs: Sequence[ColumnSpec], *, actor: User | None, confirm: bool) -> None:
    """Make the account's columns exactly `specs` (already cleaned), in that order. Must run inside the
    caller's transaction, with the account row locked."""
    now = timezone.now()
    _purge(account, before=now - RETENTION, actor=actor)
    rows = list(CustomColumn.all_objects.select_for_update().filter(account=account).order_by("pk"))
    by_name = {c.name.lower(): c for c in rows}
    wanted = {s.name.lower(): s for s in specs}
    removing = [c for c in rows if c.removed_at is None and c.name.lower() not in wanted]
    retyping = [(by_name[k], s.type) for k, s in wanted.items() if k in by_name and by_name[k].type != s.type]
    store = column_values()
    held = store.holders(account, [c.pk for c in removing]) if removing else {}
    risks = [ColumnRisk(c.name, "remove", held[c.pk]) for c in removing if held.get(c.pk)]
    for col, new_type in retyping:
        count, examples = store.unconvertible(account, col, new_type, EXAMPLES)
        if count:
            risks.append(ColumnRisk(col.name, "type", count, examples))
    if risks and not confirm:
        raise ColumnDataAtRisk(risks)
    for col in removing:
        if held.get(col.pk):
            CustomColumn.all_objects.filter(pk=col.pk).update(removed_at=now, updated_at=now)
            _audit("account.custom_column_hidden", account, actor, col, {"contacts": held[col.pk]})
        else:
            CustomColumn.all_objects.filter(pk=col.pk).delete()
    for col, new_type in retyping:
        cleared = store.convert(account, col, new_type)
        if cleared:
            _audit("account.custom_column_values_cleared", account, actor, col, {"type": new_type, "cleared": cleared})
    shown_or_hidden = [c.pk for c in removing if held.get(c.pk)]
    for position, spec in enumerate(specs, start=1):
        col = by_name.get(spec.name.lower())
        if col is None:
            CustomColumn.objects.create(
                customer_id=account.customer_id, account=account, position=position, name=spec.name, type=spec.type
            )
            continue
        if col.removed_at is not None:
            shown_or_hidden.append(col.pk)
            _audit("account.custom_column_restored", account, actor, col, {"removed_at": col.removed_at.isoformat()})
        CustomColumn.all_objects.filter(pk=col.pk).update(
            position=position, name=spec.name, type=spec.type, removed_at=None, updated_at=now
        )
    if shown_or_hidden:
        # "Search any value" finds what the columns in use hold, never a hidden value.
        store.refresh_search(account, shown_or_hidden)


def _audit(action: str, account: Account, actor: User | None, col: CustomColumn, after: dict[str, object]) -> None:
    record(
        action,
        account,
        actor=actor,
        customer=account.customer_id,
        account_id=account.pk,
        before={"column": col.name, "type": col.type},
        after=after,
    )


def _purge(account: Account, *, before: dt.datetime, actor: User | None = None) -> int:
    expired = list(CustomColumn.all_objects.filter(account=account, removed_at__lte=before).order_by("pk"))
    if not expired:
        return 0
    column_values().strip(account, [c.pk for c in expired])
    CustomColumn.all_objects.filter(pk__in=[c.pk for c in expired]).delete()
    for col in expired:
        _audit("account.custom_column_purged", account, actor, col, {"purged": True})
    return len(expired)


def purge_removed_columns(now: dt.datetime | None = None) -> int:
    """Delete for good the values of columns removed more than `RETENTION` ago; returns the columns purged.
    One transaction per account, so one that fails leaves the others done."""
    before = (now or timezone.now()) - RETENTION
    account_ids = (
        CustomColumn.all_objects.filter(removed_at__lte=before).values_list("account_id", flat=True).distinct()
    )
    purged = 0
    for account_id in sorted(set(account_ids)):
        with transaction.atomic():
            account = Account.objects.select_for_update().get(pk=account_id)
            purged += _purge(account, before=before)
    return purged
