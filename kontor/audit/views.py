"""The customer's audit log: list with filters, CSV export of the same rows, one entry's changes."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from kontor.access.perms import Perm
from kontor.audit.filters import AuditFilter
from kontor.audit.models import AuditEntry
from kontor.audit.selectors import visible_entries
from kontor.audit.tables import AuditTable
from kontor.core.scope import get_scoped
from kontor.web.decorators import customer_view
from kontor.web.lists import export_csv, list_page


def _entries(request: HttpRequest) -> QuerySet[AuditEntry]:
    return visible_entries(request.scope)  # type: ignore[attr-defined]


@customer_view(Perm.VIEW_AUDIT)
def log(request: HttpRequest) -> HttpResponse:
    return list_page(
        request,
        title="Audit log",
        queryset=_entries(request),
        table_class=AuditTable,
        filterset_class=AuditFilter,
        export_url=reverse("audit:export"),
        intro="Every change to your organisation's accounts, users, roles, offices, allowlist and API keys, "
        "as far as it concerns you: organisation-wide changes and those inside the accounts you work in.",
        per_page=50,
    )


@customer_view(Perm.VIEW_AUDIT)
def export(request: HttpRequest) -> HttpResponse:
    return export_csv(  # type: ignore[return-value]  # a streamed response is fine here
        request,
        queryset=_entries(request),
        filterset_class=AuditFilter,
        table_class=AuditTable,
        filename="audit-log.csv",
    )


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@customer_view(Perm.VIEW_AUDIT)
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    # An entry of an account the user cannot work in answers like a missing one.
    entry = get_scoped(request.scope, _entries(request), pk=pk)  # type: ignore[attr-defined]
    changes = [(name, _show(old), _show(new)) for name, old, new in entry.changes]
    return render(request, "audit/detail.html", {"entry": entry, "changes": changes})
