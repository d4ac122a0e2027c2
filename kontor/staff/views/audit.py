"""The provider-wide audit log: every customer's entries and the provider's own."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from kontor.access.perms import Perm
from kontor.audit.models import AuditEntry
from kontor.staff.filters import AuditFilter
from kontor.staff.tables import AuditTable
from kontor.web.decorators import staff_view
from kontor.web.generic import DetailView, ListView


def _entries() -> QuerySet[AuditEntry]:
    # Staff see all entries; this is the one place the audit log is read unscoped.
    return AuditEntry.objects.all().order_by("-created_at", "-id")


@staff_view(Perm.STAFF_VIEW_AUDIT)
class AuditList(ListView):
    title = _("Audit log")
    table_class = AuditTable
    filterset_class = AuditFilter
    export_url = "staff:audit_export"
    export_filename = "audit.csv"
    intro = _("Every change by every customer and by provider staff. Open an entry for its before and after values.")
    per_page = 50

    def get_queryset(self) -> QuerySet[AuditEntry]:
        return _entries()


@staff_view(Perm.STAFF_VIEW_AUDIT)
class AuditEntryDetail(DetailView[AuditEntry]):
    model = AuditEntry
    catalogue = True  # the provider's view of every customer's entries: not scoped
    template_name = "staff/audit_entry.html"

    def get_context(self, entry: AuditEntry) -> dict[str, Any]:
        return {"entry": entry}
