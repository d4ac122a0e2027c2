"""The NinjaAPI root: authentication (API key or session), scope, and problem+json errors."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import APIKeyCookie, HttpBearer

from kontor.access.models import ApiKey, hash_secret
from kontor.access.selectors import scope_for_api_key
from kontor.access.services import authenticate_api_key
from kontor.api.openapi import KontorAPI
from kontor.core import hotcache, rls
from kontor.core.errors import DomainError, ErrorCode, NotConfirmed
from kontor.core.netaddr import address_allowed
from kontor.core.problems import body_response, problem
from kontor.core.retry import Busy, is_retryable
from kontor.core.scope import Scope

log = logging.getLogger(__name__)


class IpRefused(Exception):
    pass


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer kon_…`: binds the request to the key's one account."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = key_and_scope(token)
        if found is None:
            return None
        key, scope = found
        if not address_allowed(getattr(request, "client_ip", None), key.account.customer.ip_allowlist):
            raise IpRefused()
        rls.narrow_to(scope.customer.pk)  # the rest of the request sees the key's customer only
        request.scope = scope  # type: ignore[attr-defined]
        return key


def key_and_scope(token: str) -> tuple[ApiKey, Scope] | None:
    """The key a bearer token names and what it may do, reused for KONTOR_HOT_CACHE_SECONDS (a revoked
    key, or a creator who lost a permission, stops working on every server process within that time)."""
    digest = hash_secret((token or "").strip())
    found = hotcache.memo(("apikey", digest), lambda: _key_and_scope(token))
    if found is None:
        hotcache.forget_key(("apikey", digest))  # a key created a moment ago must work at once
    return found


def _key_and_scope(token: str) -> tuple[ApiKey, Scope] | None:
    # The key names its customer: finding it has to look at every customer's keys.
    with rls.bypass("API key lookup"):
        key = authenticate_api_key(token)
        return None if key is None else (key, scope_for_api_key(key))


class SessionAuth(APIKeyCookie):
    """The browser session (CSRF-checked), with the account chosen in the web app."""

    param_name = "sessionid"

    def _get_key(self, request: HttpRequest) -> str | None:
        # Only a signed-in browser needs the CSRF check; without a session the caller is simply
        # unauthenticated (401), not refused for a missing CSRF token (403).
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        if user.is_authenticated and user.is_active:
            return user
        return None


api = KontorAPI(
    title="Kontor API",
    version="1",
    description=(
        "The Kontor back office API. Authenticate with an account's API key "
        "(`Authorization: Bearer kon_…`) or a browser session. Errors are `application/problem+json` "
        "with a stable `code`."
    ),
    auth=[ApiKeyAuth(), SessionAuth(csrf=True)],
    urls_namespace="api",
    docs_url="/docs",
)


PAYLOAD_TOO_LARGE = "payload_too_large"
METHOD_NOT_ALLOWED = "method_not_allowed"
BAD_REQUEST = "bad_request"


def too_large_detail() -> str:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return f"The request body is larger than {limit} bytes." if limit else "The request body is too large."


def api_error(status: int, detail: str = "", *, exception: BaseException | None = None) -> HttpResponse:
    """problem+json for an error raised outside the API's handlers (URL not found, method not allowed,
    a bad Host header, a body over DATA_UPLOAD_MAX_MEMORY_SIZE), so /api/ never answers HTML."""
    if isinstance(exception, RequestDataTooBig):
        return problem(413, PAYLOAD_TOO_LARGE, too_large_detail())
    if isinstance(exception, DisallowedHost):
        return problem(400, BAD_REQUEST, "This server does not answer to that Host header.")
    code, default = {
        400: (BAD_REQUEST, "The request cannot be read."),
        403: (ErrorCode.PERMISSION_DENIED.value, "You may not do this."),
        404: (ErrorCode.NOT_FOUND.value, "Not found."),
        405: (METHOD_NOT_ALLOWED, "This method is not allowed here."),
        413: (PAYLOAD_TOO_LARGE, too_large_detail()),
        500: (ErrorCode.INTERNAL.value, "Something went wrong on our side; it has been logged."),
    }.get(status, (BAD_REQUEST if status < 500 else ErrorCode.INTERNAL.value, "The request failed."))
    return problem(status, code, detail or default)


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    # RequestDataTooBig (a body over DATA_UPLOAD_MAX_MEMORY_SIZE) is the common one: 413, not a 500.
    return api_error(400, "The request cannot be read.", exception=exc)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return body_response(exc.problem(), exc.status)


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", []) if p not in ("body", "query", "path", "payload", "data")]
        fields.setdefault(".".join(loc) or "body", []).append(str(err.get("msg", "invalid")))
    return problem(422, ErrorCode.VALIDATION.value, "The request is not valid.", errors=fields)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem(401, ErrorCode.NOT_AUTHENTICATED.value, "Send a valid API key (Bearer) or sign in.")


@api.exception_handler(IpRefused)
def _ip_refused(request: HttpRequest, exc: IpRefused) -> HttpResponse:
    return problem(
        403,
        ErrorCode.IP_NOT_ALLOWED.value,
        f"This customer does not allow API access from {getattr(request, 'client_ip', None)}.",
    )


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem(404, ErrorCode.NOT_FOUND.value, "Not found.")


@api.exception_handler(PermissionDenied)
def _denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return problem(403, ErrorCode.PERMISSION_DENIED.value, str(exc) or "You may not do this.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    status = exc.status_code
    code = {
        405: "method_not_allowed",
        400: "bad_request",
        403: ErrorCode.PERMISSION_DENIED.value,  # the session's CSRF check
    }.get(status, ErrorCode.VALIDATION.value)
    return problem(status, code, str(exc))


@api.exception_handler(Busy)
def _busy(request: HttpRequest, exc: Busy) -> HttpResponse:
    # Retries of the whole transaction were exhausted (kontor.core.retry): nothing was written.
    response = body_response(exc.problem(), 503)
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(NotConfirmed)
def _not_confirmed(request: HttpRequest, exc: NotConfirmed) -> HttpResponse:
    # As the fast lane answers it (messaging/api/fastlane.py): the send may still be written, so not a 500.
    return problem(503, "not_confirmed", str(exc))


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    if is_retryable(exc):
        # A deadlock or serialization failure outside a retried transaction: nothing was written.
        log.warning("API operation refused by the database (%s); answered 503", exc)
        return _busy(request, Busy())
    log.exception("unhandled API error")
    return problem(500, ErrorCode.INTERNAL.value, "Something went wrong on our side; it has been logged.")
