"""One FilterSet drives the audit list, its CSV export and the staff audit page."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms

from kontor.audit.models import AuditEntry


class AuditFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=[], empty_label="Any action")
    actor = django_filters.CharFilter(
        field_name="actor_label",
        lookup_expr="icontains",
        label="Actor",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "email contains"}),
    )
    object_type = django_filters.ChoiceFilter(choices=[], empty_label="Any object", label="Object type")
    date_from = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__gte",
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__lte",
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    q = django_filters.CharFilter(
        field_name="object_repr",
        lookup_expr="icontains",
        label="Object",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "name contains"}),
    )

    class Meta:
        model = AuditEntry
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Choices come from the (already scoped) rows, so one customer never learns another's actions.
        base = self.queryset.order_by()
        for name in ("action", "object_type"):
            values = base.values_list(name, flat=True).distinct().order_by(name)
            self.filters[name].extra["choices"] = [(v, v) for v in values if v]
