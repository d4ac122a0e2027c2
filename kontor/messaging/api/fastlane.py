"""The fast lane for `POST /api/v1/messages`: the common send (an API key, a JSON body of `to` and
`text`, no idempotency key) answered at the WSGI layer, past Django's middleware and django-ninja,
whose per-request work costs several times what the send itself does.

It is a shortcut, not a second API: it calls the same service (`services.send_message`) with the
same scope, and it only ever answers the success. Whatever else it meets (another shape of body, a
header it does not handle, an unknown key, any refusal from the service, which writes nothing when
it refuses) it hands to the full stack untouched, which answers as it always does; so every error
keeps its one problem+json. The success has the same body and headers as the full stack's.

On when KONTOR_FAST_LANE is set (gunicorn's production configuration and the benchmark); the test
suite checks both paths give the same answers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.core.serializers.json import DjangoJSONEncoder

from kontor.access.perms import Perm
from kontor.core import context, rls
from kontor.core.errors import DomainError
from kontor.core.middleware import request_id_from
from kontor.core.netaddr import address_allowed, client_address
from kontor.core.problems import PROBLEM_JSON, problem_bytes

log = logging.getLogger(__name__)

PATH = "/api/v1/messages"
MAX_BODY = 64 * 1024
# What SecurityMiddleware, XFrameOptionsMiddleware and the session machinery add to the same answer.
SECURITY_HEADERS = [
    ("X-Frame-Options", "DENY"),
    ("Vary", "Cookie"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]


def security_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """SECURITY_HEADERS plus the ones settings turn on: the Content-Security-Policy (web.csp) and HSTS
    on a secure request (SecurityMiddleware), so a fast answer carries exactly the full stack's headers."""
    headers = list(SECURITY_HEADERS)
    policy = getattr(settings, "KONTOR_CONTENT_SECURITY_POLICY", "")
    if policy:
        headers.append(("Content-Security-Policy", policy))
    if settings.SECURE_HSTS_SECONDS and WSGIRequest(environ).is_secure():
        value = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            value += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            value += "; preload"
        headers.append(("Strict-Transport-Security", value))
    return headers


StartResponse = Callable[..., Any]
Wsgi = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def enabled() -> bool:
    return bool(getattr(settings, "KONTOR_FAST_LANE", False))


class FastLane:
    """WSGI middleware in front of Django's application."""

    def __init__(self, app: Wsgi) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "POST" and enabled():
            body = _read_body(environ)
            if body is not None:
                answer = _try_send(environ, body)
                if answer is not None:
                    status, headers, payload = answer
                    start_response(status, headers)
                    return [payload]
        return self.app(environ, start_response)


def _read_body(environ: dict[str, Any]) -> bytes | None:
    """The body, put back for the full stack to read again; None when it is not ours to read."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= MAX_BODY:
        return None
    body: bytes = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _try_send(environ: dict[str, Any], body: bytes) -> tuple[str, list[tuple[str, str]], bytes] | None:
    if environ.get("HTTP_IDEMPOTENCY_KEY") is not None or environ.get("HTTP_COOKIE"):
        return None
    if not (environ.get("CONTENT_TYPE") or "").startswith("application/json"):
        return None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if not auth.startswith("Bearer "):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or set(data) != {"to", "text"}:
        return None
    to, text = data["to"], data["text"]
    if not isinstance(to, str) or not isinstance(text, str) or len(to) > 40 or not _storable(to, text):
        return None
    if not _host_allowed(environ):
        return None  # Django answers 400 (ALLOWED_HOSTS); the fast lane must not answer it instead

    from kontor.api.core import key_and_scope
    from kontor.messaging.api.messages import _out
    from kontor.messaging.services import messages as services

    found = key_and_scope(auth[7:])
    if found is None:
        return None
    key, scope = found
    ip = client_address(environ)
    if scope.account is None or scope.user is None or not scope.has(Perm.SEND_SMS):
        return None
    if not address_allowed(ip, key.account.customer.ip_allowlist):
        return None
    request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
    try:
        with context.origin("api", request_id=request_id, ip=ip), rls.tenant(scope.customer.pk):
            message = services.send_message(scope.account, actor=scope.user, to=to, text=text)
    except DomainError:
        return None  # nothing was written: the full stack refuses it with its problem+json
    except TimeoutError as exc:  # it may yet be written: sending it again could send it twice
        log.warning("fast lane: %s", exc)
        return _problem(503, "not_confirmed", str(exc), request_id, environ)
    except Exception:
        log.exception("fast lane: the send failed; the full stack tries it again")
        return None
    payload = json.dumps(_out(message), cls=DjangoJSONEncoder).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(payload))),
        *security_headers(environ),
        ("X-Request-ID", request_id),
    ]
    return "201 Created", headers, payload


def _storable(*texts: str) -> bool:
    """No NUL and no lone surrogate: the API's input check (api.schemas.Input) refuses them with a 422."""
    for text in texts:
        if "\x00" in text:
            return False
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def _host_allowed(environ: dict[str, Any]) -> bool:
    """The Host header as Django's own check sees it (HttpRequest.get_host, against ALLOWED_HOSTS)."""
    try:
        WSGIRequest(environ).get_host()
    except DisallowedHost:
        return False
    return True


def _problem(
    status: int, code: str, detail: str, request_id: str, environ: dict[str, Any]
) -> tuple[str, list[tuple[str, str]], bytes]:
    payload = problem_bytes(status, code, detail)
    headers = [
        ("Content-Type", PROBLEM_JSON),
        ("Content-Length", str(len(payload))),
        *security_headers(environ),
        ("X-Request-ID", request_id),
    ]
    return f"{status} {HTTPStatus(status).phrase}", headers, payload
