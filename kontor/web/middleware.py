from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kontor.core.errors import DomainError, NotFound


class DomainErrorMiddleware:
    """A refusal raised in a view (not found, forbidden, conflict) becomes a proper page, never a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if request.path.startswith("/api/") or not isinstance(exc, DomainError):
            return None
        template = "web/404.html" if isinstance(exc, NotFound) else "web/refused.html"
        return render(request, template, {"message": exc.message, "status": exc.status}, status=exc.status)
