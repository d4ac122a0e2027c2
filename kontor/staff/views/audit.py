"""The provider-wide audit log: every customer's entries and the provider's own."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from kontor.access.perms import Perm
from kontor.audit.models import AuditEntry
from kontor.core.errors import NotFound
from kontor.staff.filters import AuditFilter
from kontor.staff.tables import AuditTable
from kontor.web.decorators import staff_view
from kontor.web.lists import export_csv, list_page


def _entries() -> QuerySet[AuditEntry]:
    # Staff see all entries; this is the one place the audit log is read unscoped.
    return AuditEntry.objects.all().order_by("-created_at", "-id")


@staff_view(Perm.STAFF_VIEW_AUDIT)
def audit(request: HttpRequest) -> HttpResponse:
    return list_page(
        request,
        title="Audit log",
        queryset=_entries(),
        table_class=AuditTable,
        filterset_class=AuditFilter,
        export_url=reverse("staff:audit_export"),
        intro="Every change by every customer and by provider staff. Open an entry for its before and after values.",
        per_page=50,
    )


@staff_view(Perm.STAFF_VIEW_AUDIT)
def audit_export(request: HttpRequest) -> HttpResponse:
    return export_csv(  # type: ignore[return-value]  # a streamed response
        request,
        queryset=_entries(),
        filterset_class=AuditFilter,
        table_class=AuditTable,
        filename="audit.csv",
    )


@staff_view(Perm.STAFF_VIEW_AUDIT)
def audit_entry(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _entries().filter(pk=pk).first()
    if entry is None:
        raise NotFound("audit entry")
    return render(request, "staff/audit_entry.html", {"entry": entry})
