"""Filters of the contact lists; the same FilterSet drives the page, its CSV export, the API list and the
"select all matching" of a bulk change (`select_contacts`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from kontor.contacts.models import Contact, OptOut, Phonebook
from kontor.contacts.selectors import search_q
from kontor.core.bulk import IdSet
from kontor.core.errors import Invalid, NotFound
from kontor.core.scope import Scope, scoped
from kontor.web.bulk import filter_words


class ContactFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Phone or any value"}),
    )

    class Meta:
        model = Contact
        fields = ["q"]

    def search(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return queryset.filter(search_q(value)) if value.strip() else queryset


class OptOutFilter(django_filters.FilterSet):
    phone = django_filters.CharFilter(lookup_expr="icontains", label="Phone number")
    source = django_filters.ChoiceFilter(choices=OptOut.Source.choices, empty_label="Any source")

    class Meta:
        model = OptOut
        fields = ["phone", "source"]


MAX_BULK_IDS = 10_000
ALL_CONTACTS = gettext_lazy("All contacts of the phonebook")


def select_contacts(
    scope: Scope,
    book: Phonebook,
    *,
    ids: Collection[int] | None = None,
    data: Mapping[str, Any] | None = None,
    must_exist: bool = True,
) -> tuple[QuerySet[Contact], ContactFilter | None]:
    """The contacts of `book` a bulk change is about, in the caller's scope: the `ids` chosen one by one,
    or every contact the list's FilterSet matches with `data` (the same parameters as the list page).
    With `must_exist`, an id that is not a contact of this phonebook (missing, another phonebook's,
    another account's or customer's) is NotFound, exactly like a missing one; without it (at apply) such
    rows just leave the selection, which the plan's fingerprint then reports as a change."""
    base = scoped(scope, Contact).filter(phonebook=book)
    if ids is not None:
        wanted = set(ids)
        if not wanted:
            raise Invalid.field("ids", _("Select at least one contact."))
        if len(wanted) > MAX_BULK_IDS:
            raise Invalid.field(
                "ids",
                _("At most %(max)d contacts can be chosen one by one; use a filter for more.") % {"max": MAX_BULK_IDS},
            )
        chosen = base.filter(pk__in=IdSet(wanted))
        if must_exist and chosen.count() != len(wanted):
            raise NotFound("contact")
        return chosen, None
    filterset = ContactFilter(dict(data or {}), queryset=base)
    if not filterset.is_valid():
        raise Invalid(_("The filter is not valid."), fields={k: list(v) for k, v in filterset.errors.items()})
    return filterset.qs, filterset


def describe_selection(filterset: ContactFilter | None, chosen: int) -> list[str]:
    """The selection in words, for a preview and the audit: each filter with its value, or how many
    contacts were chosen one by one."""
    if filterset is None:
        return [
            ngettext("%(count)d contact chosen one by one", "%(count)d contacts chosen one by one", chosen)
            % {"count": chosen}
        ]
    words = [f"{label}: {value}" for label, value in filter_words(filterset)]
    return words or [str(ALL_CONTACTS)]
