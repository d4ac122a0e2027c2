"""Staff pages of messaging: the inbound messages nobody received (InboundRejection), provider-level,
so the people who manage numbers can see what was dropped and why."""

from __future__ import annotations

import django_filters
import django_tables2 as tables
from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from kontor.access.perms import Perm
from kontor.messaging.models import InboundRejection
from kontor.web.decorators import staff_view
from kontor.web.lists import export_csv, list_page

MANAGE = Perm.STAFF_MANAGE_NUMBERS


class InboundRejectionFilter(django_filters.FilterSet):
    reason = django_filters.ChoiceFilter(choices=InboundRejection.Reason.choices, empty_label="Any reason")
    to_number = django_filters.CharFilter(
        method="filter_to_number",
        label="To number",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "+46701234567 or 72000"}),
    )
    date_from = django_filters.DateFilter(
        field_name="at", lookup_expr="date__gte", label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = django_filters.DateFilter(
        field_name="at", lookup_expr="date__lte", label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = InboundRejection
        fields: list[str] = []

    def filter_to_number(self, qs: QuerySet[InboundRejection], name: str, value: str) -> QuerySet[InboundRejection]:
        # People type numbers with spaces and dashes; stored ones have none. A part of a number matches too.
        cleaned = "".join(ch for ch in value if not ch.isspace() and ch != "-")
        return qs.filter(to_number__icontains=cleaned) if cleaned else qs


class InboundRejectionTable(tables.Table):
    at = tables.DateTimeColumn(verbose_name="Time", format="Y-m-d H:i:s")
    to_number = tables.Column("To")
    from_number = tables.Column("From")
    reason = tables.Column("Reason")
    text = tables.Column("Text")
    connector = tables.Column("Connector")
    downstream_id = tables.Column("Downstream id")

    class Meta:
        model = InboundRejection
        fields = ("at", "to_number", "from_number", "reason", "text", "connector", "downstream_id")
        order_by = ("-at",)
        empty_text = "No rejected inbound messages match."
        attrs = {"id": "inbound-rejections"}

    def render_text(self, value: str) -> str:
        return value if len(value) <= 60 else value[:59] + "…"


def _rejections() -> QuerySet[InboundRejection]:
    return InboundRejection.objects.all().order_by("-at", "-id")


@staff_view(MANAGE)
def inbound_rejections(request: HttpRequest) -> HttpResponse:
    return list_page(
        request,
        title="Inbound rejections",
        queryset=_rejections(),
        table_class=InboundRejectionTable,
        filterset_class=InboundRejectionFilter,
        export_url=reverse("messaging:inbound_rejections_export"),
        intro="Inbound messages that reached no customer: unknown or one-way numbers, numbers nobody owns, "
        "and what connectors sent that could not be read.",
    )


@staff_view(MANAGE)
def inbound_rejections_export(request: HttpRequest) -> HttpResponse:
    return export_csv(  # type: ignore[return-value]  # a streamed response
        request,
        queryset=_rejections(),
        filterset_class=InboundRejectionFilter,
        filename="inbound-rejections.csv",
        columns=[
            ("at", lambda r: r.at.isoformat()),
            ("to_number", lambda r: r.to_number),
            ("from_number", lambda r: r.from_number),
            ("reason", lambda r: r.reason),
            ("text", lambda r: r.text),
            ("connector", lambda r: r.connector),
            ("downstream_id", lambda r: r.downstream_id),
        ],
    )
