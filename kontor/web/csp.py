"""The Content-Security-Policy header (Django 5.2 has none of its own).

Scripts come only from our own origin: the templates hold no inline script or event handler (their
small behaviours live in web/kontor.js), so an injected `<script>` or `onerror=` does not run. Inline
styles stay allowed (the print view's stylesheet, Swagger UI); they cannot run code."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = settings.KONTOR_CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response
