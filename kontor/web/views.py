from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from kontor.access.perms import Perm
from kontor.audit.selectors import visible_entries
from kontor.web.decorators import signed_in_view


@signed_in_view
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if getattr(user, "is_staff", False):
        return redirect("staff:customers")
    scope = getattr(request, "scope", None)
    recent = []
    perm_labels: list[str] = []
    if scope is not None:
        perm_labels = sorted(Perm(p).label for p in scope.perms)
        if scope.has(Perm.VIEW_AUDIT):
            recent = list(visible_entries(scope)[:8])
    return render(request, "web/home.html", {"recent": recent, "perm_labels": perm_labels})


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
