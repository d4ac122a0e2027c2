"""Resolves the signed-in user's current account and scope, and enforces the customer's IP allowlist on
every request (web and API alike)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from kontor.access.selectors import accounts_for, scope_for_user
from kontor.core import rls
from kontor.core.errors import ErrorCode
from kontor.core.netaddr import address_allowed
from kontor.core.problems import problem

SESSION_ACCOUNT = "kontor_account_id"


def ip_refused_response(request: HttpRequest, address: str | None) -> HttpResponse:
    detail = f"Your organisation does not allow access from {address or 'this address'}."
    if request.path.startswith("/api/"):
        return problem(403, ErrorCode.IP_NOT_ALLOWED, detail)
    html = render_to_string("web/ip_refused.html", {"detail": detail}, request=request)
    return HttpResponse(html, status=403)


class TenancyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not rls.enabled():
            return self._call(request)
        # Until the user (or, later, the API key) names the customer, the lookups must see every row;
        # a customer user's request is narrowed to their customer below, and the bracket restores the
        # connection's settings at the end (persistent connections carry them into the next request).
        with rls.bypass("request before its tenant is known"):
            user = request.user
            if user.is_authenticated and getattr(user, "customer_id", None) is None:
                rls.log.info("rls bypass: staff user %s %s %s", user.pk, request.method, request.path)
            return self._call(request)

    def _call(self, request: HttpRequest) -> HttpResponse:
        request.scope = None  # type: ignore[attr-defined]
        request.accounts = []  # type: ignore[attr-defined]
        user = request.user
        if user.is_authenticated and getattr(user, "customer_id", None) is not None:
            customer = user.customer  # type: ignore[union-attr]
            address = getattr(request, "client_ip", None)
            if customer is not None and not address_allowed(address, customer.ip_allowlist):
                logout(request)
                return ip_refused_response(request, address)
            accounts = list(accounts_for(user))  # type: ignore[arg-type]
            request.accounts = accounts  # type: ignore[attr-defined]
            wanted = request.session.get(SESSION_ACCOUNT)
            account = next((a for a in accounts if a.pk == wanted), accounts[0] if accounts else None)
            if account is not None and account.pk != wanted:
                request.session[SESSION_ACCOUNT] = account.pk
            request.scope = scope_for_user(user, account)  # type: ignore[arg-type,attr-defined]
            rls.narrow_to(user.customer_id)  # type: ignore[union-attr,arg-type]
        return self.get_response(request)
