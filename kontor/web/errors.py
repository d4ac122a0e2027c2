from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template.loader import render_to_string


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "web/404.html", {"message": "There is nothing here, or you cannot see it."}, status=404)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "web/refused.html", {"message": str(exception or "") or "You may not do this."}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    return HttpResponseServerError(render_to_string("web/500.html"))
