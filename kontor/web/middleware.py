from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kontor.core.errors import DomainError, NotFound
from kontor.core.retry import Busy, is_retryable
from kontor.web.errors import api_problem, is_api


class DomainErrorMiddleware:
    """A refusal raised in a view (not found, forbidden, conflict) becomes a proper page, never a 500.
    Under /api/, an error answer that Django or ninja built as HTML or text (a 405 from ninja's path
    view, a 404 of the URL resolver) becomes problem+json, so a client only ever parses one format."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code >= 400 and is_api(request) and not _is_problem(response):
            converted = api_problem(response.status_code)
            if "Allow" in response:  # a 405 says what is allowed (RFC 9110)
                converted["Allow"] = response["Allow"]
            return converted
        return response

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if request.path.startswith("/api/"):
            return None
        if not isinstance(exc, DomainError):
            if not is_retryable(exc):
                return None
            exc = Busy()  # a deadlock that outlived the retries: nothing was written, try again

        template = "web/404.html" if isinstance(exc, NotFound) else "web/refused.html"
        return render(request, template, {"message": exc.message, "status": exc.status}, status=exc.status)


def _is_problem(response: HttpResponse) -> bool:
    return str(response.get("Content-Type", "")).startswith("application/problem+json")
