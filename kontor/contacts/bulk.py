"""Bulk changes of a phonebook's contacts (delete, move or copy to another phonebook), on the
plan → preview → apply engine of kontor.core.bulk: each action decides every row purely and writes all
of them with one statement and one INSERT … SELECT of audit rows; `apply_bulk` is the service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, QuerySet, Subquery, Value
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from kontor.audit.services import record, record_rows
from kontor.contacts.models import Contact, Phonebook
from kontor.contacts.services import _live
from kontor.core import bulk
from kontor.core.bulk import AsJson, Batch, BulkAction, IdSet, Row, RowChange
from kontor.core.errors import Conflict, Invalid

if TYPE_CHECKING:
    from kontor.access.models import User

IN_TARGET = "already_in_target"

LABELS = {"phone": gettext_lazy("Phone number"), "phonebook": gettext_lazy("Phonebook")}


def _rows(ids: Sequence[int]) -> QuerySet[Contact]:
    return Contact.objects.filter(pk__in=IdSet(ids))


class _ContactAction(BulkAction[Contact]):
    fields: ClassVar[tuple[str, ...]] = ("phone", "phonebook_id")

    def __init__(self, source: Phonebook) -> None:
        self.source = source
        self.before = {"phonebook": source.name}  # the same for every row: shared, not copied

    def _before(self, row: Row) -> Mapping[str, Any]:
        return self.before


class DeleteContacts(_ContactAction):
    name = "contacts.delete"

    def decide(self, row: Row, context: Any) -> RowChange:
        return RowChange(pk=row["pk"], label=row["phone"], before=self._before(row), after=None)

    def write(self, ids: Sequence[int], batch: Batch) -> Mapping[int, str]:
        rows = _rows(ids)
        record_rows(
            rows,
            action="contact.delete",
            actor=batch.actor,
            batch_id=batch.id,
            label=F("phone"),
            before={"phonebook": F("phonebook_id"), "phone": F("phone"), "values": AsJson(F("values"))},
        )
        # No model points at a contact, so this is one DELETE (Django's fast delete), not a row-by-row one.
        rows.delete()
        return {}

    def verb(self, count: int) -> str:
        return ngettext("%(count)d contact will be deleted.", "%(count)d contacts will be deleted.", count) % {
            "count": count
        }

    def done(self, count: int) -> str:
        return ngettext("%(count)d contact deleted.", "%(count)d contacts deleted.", count) % {"count": count}


class _ToPhonebook(_ContactAction):
    def __init__(self, source: Phonebook, target: Phonebook) -> None:
        super().__init__(source)
        if target.pk == source.pk:
            raise Invalid.field("target", _("Choose another phonebook than this one."))
        if target.account_id != source.account_id:  # callers resolve the target in scope; this is the backstop
            raise Invalid.field("target", _("Choose a phonebook of this account."))
        self.target = target
        self.after = {"phonebook": target.name}

    def params(self) -> Mapping[str, Any]:
        return {"target": self.target.pk}

    def context(self, queryset: QuerySet[Contact]) -> set[str]:
        """The selected numbers the target phonebook already holds (a phonebook holds a number once)."""
        return set(
            Contact.objects.filter(phonebook=self.target, phone__in=queryset.order_by().values("phone")).values_list(
                "phone", flat=True
            )
        )

    def decide(self, row: Row, context: Any) -> RowChange:
        before = self._before(row)
        if row["phone"] in context:
            reason = _("%(phone)s is already in “%(phonebook)s”.") % {"phone": row["phone"], "phonebook": self.target}
            return RowChange(pk=row["pk"], label=row["phone"], before=before, refusal=IN_TARGET, reason=reason)
        return RowChange(pk=row["pk"], label=row["phone"], before=before, after=self.after)

    def _duplicate(self) -> Conflict:
        # A number added to the target after the plan was read: the whole change rolls back.
        return Conflict(
            _("A selected number was added to “%(phonebook)s” meanwhile; nothing was changed.")
            % {"phonebook": self.target}
        )


class MoveContacts(_ToPhonebook):
    name = "contacts.move"

    def write(self, ids: Sequence[int], batch: Batch) -> Mapping[int, str]:
        rows = _rows(ids)
        record_rows(
            rows,
            action="contact.update",
            actor=batch.actor,
            batch_id=batch.id,
            label=F("phone"),
            before={"phonebook": F("phonebook_id")},
            after={"phonebook": Value(self.target.pk)},
        )
        try:
            with transaction.atomic():
                rows.update(phonebook=self.target, updated_at=timezone.now())
        except IntegrityError:
            raise self._duplicate() from None
        return {}

    def verb(self, count: int) -> str:
        return ngettext(
            "%(count)d contact will be moved to “%(phonebook)s”.",
            "%(count)d contacts will be moved to “%(phonebook)s”.",
            count,
        ) % {"count": count, "phonebook": self.target}

    def done(self, count: int) -> str:
        return ngettext(
            "%(count)d contact moved to “%(phonebook)s”.", "%(count)d contacts moved to “%(phonebook)s”.", count
        ) % {"count": count, "phonebook": self.target}


class CopyContacts(_ToPhonebook):
    name = "contacts.copy"

    def write(self, ids: Sequence[int], batch: Batch) -> Mapping[int, str]:
        now = timezone.now()
        try:
            with transaction.atomic():
                bulk.insert_select(
                    Contact,
                    _rows(ids),
                    {
                        "created_at": Value(now),
                        "updated_at": Value(now),
                        "customer": F("customer_id"),
                        "account": F("account_id"),
                        "phonebook": Value(self.target.pk),
                        "phone": F("phone"),
                        "values": F("values"),
                        "search": F("search"),
                    },
                )
        except IntegrityError:
            raise self._duplicate() from None
        copies = Contact.objects.filter(phonebook=self.target, phone__in=_rows(ids).values("phone"))
        original = Contact.objects.filter(phonebook_id=self.source.pk, phone=OuterRef("phone")).values("pk")[:1]
        record_rows(
            copies,
            action="contact.create",
            actor=batch.actor,
            batch_id=batch.id,
            label=F("phone"),
            after={
                "phonebook": F("phonebook_id"),
                "phone": F("phone"),
                "values": AsJson(F("values")),
                "copied_from": Subquery(original),
            },
        )
        return {}

    def verb(self, count: int) -> str:
        return ngettext(
            "%(count)d contact will be copied to “%(phonebook)s”.",
            "%(count)d contacts will be copied to “%(phonebook)s”.",
            count,
        ) % {"count": count, "phonebook": self.target}

    def done(self, count: int) -> str:
        return ngettext(
            "%(count)d contact copied to “%(phonebook)s”.", "%(count)d contacts copied to “%(phonebook)s”.", count
        ) % {"count": count, "phonebook": self.target}


ACTIONS: dict[str, str] = {"delete": DeleteContacts.name, "move": MoveContacts.name, "copy": CopyContacts.name}


def action_for(source: Phonebook, kind: str, target: Phonebook | None = None) -> _ContactAction:
    """The bulk action `kind` ("delete", "move" or "copy") on `source`'s contacts; `target` resolved in
    the caller's scope."""
    if kind == "delete":
        return DeleteContacts(source)
    if kind in ("move", "copy"):
        if target is None:
            raise Invalid.field(
                "target",
                _("Choose the phonebook to move the contacts to.")
                if kind == "move"
                else _("Choose the phonebook to copy the contacts to."),
            )
        return MoveContacts(source, target) if kind == "move" else CopyContacts(source, target)
    raise Invalid.field("action", _("“%(action)s” is not a bulk action; use delete, move or copy.") % {"action": kind})


@transaction.atomic
def apply_bulk(
    action: _ContactAction,
    selection: QuerySet[Contact],
    fingerprint: str | None,
    *,
    actor: User | None,
    selected: Mapping[str, Any] | None = None,
) -> bulk.Applied:
    """Applies `action` to `selection` (the contacts chosen in scope) if nothing drifted since the preview
    with `fingerprint`; one audit entry for the batch (what was selected and how) besides the one per row."""
    account = action.source.account
    _live(account)
    applied = bulk.apply(action, selection, fingerprint, actor=actor)
    record(
        "contact.bulk",
        action.source,
        actor=actor,
        customer=account.customer_id,
        account_id=account.pk,
        after={
            "action": action.name,
            **action.params(),
            "selected": dict(selected or {}),
            "changed": applied.count,
            "skipped": len(applied.plan.refused),
            "fingerprint": applied.plan.fingerprint,
        },
        batch_id=applied.batch_id,
    )
    return applied
