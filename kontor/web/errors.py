"""Django's error handlers (urls.py handler400/403/404/500). Under /api/ every error is problem+json, as
the API's own refusals are; everywhere else the app's HTML error pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views import defaults


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def api_problem(status: int, detail: str = "", *, exception: BaseException | None = None) -> HttpResponse:
    """The problem+json answer for an error Django (not the API's own handlers) produced."""
    from kontor.api.core import api_error

    return api_error(status, detail, exception=exception)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request):
        return api_problem(400, exception=exception)
    return defaults.bad_request(request, exception or Exception())


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request):
        return api_problem(404)
    return render(request, "web/404.html", {"message": "There is nothing here, or you cannot see it."}, status=404)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request):
        return api_problem(403, str(exception or ""))
    return render(request, "web/refused.html", {"message": str(exception or "") or "You may not do this."}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api(request):
        return api_problem(500)
    return HttpResponseServerError(render_to_string("web/500.html"))
