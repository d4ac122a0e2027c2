"""Staff pages of messaging: the inbound messages nobody received (InboundRejection), provider-level,
so the people who manage numbers can see what was dropped and why."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from kontor.access.perms import Perm
from kontor.messaging.filters import InboundRejectionFilter
from kontor.messaging.models import InboundRejection
from kontor.messaging.tables import InboundRejectionTable
from kontor.web.decorators import staff_view
from kontor.web.lists import export_csv, list_page

MANAGE = Perm.STAFF_MANAGE_NUMBERS


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
        table_class=InboundRejectionTable,
        filename="inbound-rejections.csv",
    )
