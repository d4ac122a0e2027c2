"""The one builder of `application/problem+json` answers (RFC 9457) with Kontor's stable `code`: the API's
handlers, a DomainError's body, the IP allowlist middleware, Django's error handlers under /api/ and the
messaging fast lane all answer through it, so the shape and the titles are the same everywhere.

`code` stays English (part of the API contract); `title` follows the request's language. Below
kontor.core.errors (whose DomainError.problem() builds its body here), so it names no ErrorCode."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _

PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: _("Bad request"),
    401: _("Unauthorized"),
    402: _("Payment required"),
    403: _("Forbidden"),
    404: _("Not found"),
    405: _("Method not allowed"),
    409: _("Conflict"),
    413: _("Content too large"),
    422: _("Unprocessable content"),
    429: _("Too many requests"),
    500: _("Internal error"),
    503: _("Service unavailable"),
}


def problem_dict(status: int, code: str, detail: str, *, title: str = "", **extra: Any) -> dict[str, Any]:
    """The body: `extra` adds members such as `errors` (field → messages)."""
    return {
        "type": "about:blank",
        "title": title or str(TITLES.get(status, _("Error"))),
        "status": status,
        "detail": detail,
        "code": str(code),
        **extra,
    }


def problem_bytes(status: int, code: str, detail: str, *, title: str = "", **extra: Any) -> bytes:
    """The body, encoded (for answers built below Django's HttpResponse, such as the fast lane's)."""
    return json.dumps(problem_dict(status, code, detail, title=title, **extra), default=str).encode()


def problem(status: int, code: str, detail: str, *, title: str = "", **extra: Any) -> HttpResponse:
    """The answer."""
    body = problem_bytes(status, code, detail, title=title, **extra)
    return HttpResponse(body, status=status, content_type=PROBLEM_JSON)


def body_response(body: dict[str, Any], status: int) -> HttpResponse:
    """An answer for a body built with problem_dict (a DomainError's `problem()`)."""
    return HttpResponse(json.dumps(body, default=str), status=status, content_type=PROBLEM_JSON)
