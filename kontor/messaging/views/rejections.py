"""Staff pages of messaging: the inbound messages nobody received (InboundRejection), provider-level,
so the people who manage numbers can see what was dropped and why."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from kontor.access.perms import Perm
from kontor.messaging.filters import InboundRejectionFilter
from kontor.messaging.models import InboundRejection
from kontor.messaging.tables import InboundRejectionTable
from kontor.web.decorators import staff_view
from kontor.web.generic import ListView

MANAGE = Perm.STAFF_MANAGE_NUMBERS


def _rejections() -> QuerySet[InboundRejection]:
    return InboundRejection.objects.all().order_by("-at", "-id")


@staff_view(MANAGE)
class InboundRejectionList(ListView):
    title = _("Inbound rejections")
    table_class = InboundRejectionTable
    filterset_class = InboundRejectionFilter
    export_url = "messaging:inbound_rejections_export"
    export_filename = "inbound-rejections.csv"
    intro = _(
        "Inbound messages that reached no customer: unknown or one-way numbers, numbers nobody owns, and what "
        "connectors sent that could not be read."
    )

    def get_queryset(self) -> QuerySet[InboundRejection]:
        return _rejections()
