from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from kontor.audit.models import AuditEntry
from kontor.core.scope import scoped
from kontor.web.decorators import signed_in_view


@signed_in_view
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if getattr(user, "is_staff", False):
        return redirect("staff:customers")
    scope = getattr(request, "scope", None)
    recent = []
    if scope is not None and scope.has("view_audit"):
        recent = list(scoped(scope, AuditEntry)[:8])
    return render(request, "web/home.html", {"recent": recent})


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
