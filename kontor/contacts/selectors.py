"""Reads that need care: lists with counts, contact search and sorting by a custom column, and the
contacts a campaign may reach (opt-outs left out in the same query)."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Count, Exists, F, Func, OuterRef, Q, QuerySet, TextField

from kontor.contacts.models import Contact, OptOut, Phonebook
from kontor.core.scope import Scope, scoped
from kontor.tenancy.models import CustomColumn


class ColumnValue(Func):
    """The text of one key of Contact.values. Django's own key transform reads a digit-only key as an
    array index on PostgreSQL (values -> 5), which is NULL on an object; ours always uses a text key."""

    output_field = TextField()

    def __init__(self, column_id: int) -> None:
        super().__init__(F("values"))
        self.key = str(int(column_id))

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:  # type: ignore[override]
        lhs, params = compiler.compile(self.get_source_expressions()[0])
        return f"JSON_EXTRACT({lhs}, %s)", (*params, f'$."{self.key}"')

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, params = compiler.compile(self.get_source_expressions()[0])
        return f"({lhs} ->> CAST(%s AS text))", (*params, self.key)


def column_key(column: CustomColumn) -> str:
    """The annotation name carrying `column`'s value in contact lists."""
    return f"col_{column.pk}"


def columns(scope: Scope) -> list[CustomColumn]:
    return list(scoped(scope, CustomColumn).order_by("position"))


def phonebooks(scope: Scope) -> QuerySet[Phonebook]:
    return scoped(scope, Phonebook).annotate(contact_count=Count("contacts")).order_by("name")


def contacts(scope: Scope, phonebook: Phonebook, cols: list[CustomColumn], q: str = "") -> QuerySet[Contact]:
    """The phonebook's contacts, each annotated with col_<id> per custom column (for display and
    sorting), filtered by `q` on the phone or any value."""
    qs = scoped(scope, Contact).filter(phonebook=phonebook)
    if (q or "").strip():
        qs = qs.filter(search_q(q))
    return with_columns(qs, cols)


def search_q(q: str) -> Q:
    """Phone (spaces ignored) or any value contains `q`, case-insensitively."""
    q = q.strip()
    found = Q(phone__icontains=q.replace(" ", "")) | Q(search__contains=q.lower())
    digits = re.sub(r"[\s\-().]", "", q)
    if len(digits) > 2 and digits[0] == "0" and digits[1:].isdigit():
        # A national number as people type it (070-123…): its digits after the trunk 0.
        found |= Q(phone__contains=digits[1:])
    return found


def with_columns(qs: QuerySet[Contact], cols: list[CustomColumn]) -> QuerySet[Contact]:
    return qs.annotate(**{column_key(c): ColumnValue(c.pk) for c in cols}).order_by("phone")


def reachable_contacts(phonebook: Phonebook) -> QuerySet[Contact]:
    """The phonebook's contacts minus the numbers its account has opted out, in one query."""
    opted = OptOut.objects.filter(account_id=phonebook.account_id, phone=OuterRef("phone"))
    return Contact.objects.filter(phonebook=phonebook).exclude(Exists(opted)).order_by("pk")
