"""What an API operation needs, declared on it, as the web decorators (kontor/web/decorators.py) declare it
on a page:

    @router.get("/users", ...)
    @requires(any_of=(Perm.VIEW_USERS, Perm.MANAGE_USERS))
    def list_users(request: ScopedRequest, ...) -> ...:
        scope = request.scope

The declaration is both the check and its description. The check runs right after authentication and
before ninja reads the parameters and the body, so a caller without the permission gets 403 whatever it
sends (not 422 for a body it may not send at all). The description is a set of attributes on the view
function (`kind`, `required_perms`, `any_perms`), read by the permission-matrix test for every operation:
`kind` is "customer" (a customer scope with permissions), "staff" (provider staff with staff
permissions), "signed_in" (any caller with an acting user) or "public" (its own authentication, such as a
connector's token; `public_reason` says which)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse
from ninja.decorators import decorate_view

from kontor.access.requests import actor_of, scope_of, scope_of_any, staff_of
from kontor.core.errors import Forbidden

F = TypeVar("F", bound=Callable[..., Any])
Check = Callable[[HttpRequest], object]


def requires(*perms: str, any_of: tuple[str, ...] = (), refusal: str = "") -> Callable[[F], F]:
    """A customer operation: the caller's scope (API key or session account) holds every one of `perms`
    and, when given, at least one of `any_of` (`refusal` is then the answer's detail, if the rule it
    states has its own words). With neither, any member of an account may call it."""

    def check(request: HttpRequest) -> None:
        scope = scope_of(request, *perms)
        if any_of and refusal and not any(scope.has(p) for p in any_of):
            raise Forbidden(refusal)
        if any_of:
            scope_of_any(request, *any_of)

    return _declaring("customer", check, perms=perms, any_perms=any_of)


def requires_staff(*perms: str) -> Callable[[F], F]:
    """A provider staff operation (browser session only: API keys belong to customers) needing `perms`."""

    def check(request: HttpRequest) -> None:
        staff_of(request, *perms)

    return _declaring("staff", check, perms=perms)


def signed_in(func: F) -> F:
    """Any caller with an acting user: a signed-in user or an API key whose creator still exists."""
    return _declaring("signed_in", actor_of)(func)


def public(reason: str) -> Callable[[F], F]:
    """No Kontor user: the operation authenticates its caller itself (a connector's callback, an inbound
    token), said in `reason` so that the matrix test and a reader see why."""

    def decorate(func: F) -> F:
        func = _declaring("public", lambda request: None)(func)
        func.public_reason = reason  # type: ignore[attr-defined]
        return func

    return decorate


def _declaring(
    kind: str, check: Check, *, perms: tuple[str, ...] = (), any_perms: tuple[str, ...] = ()
) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        if getattr(func, "kind", None) is not None:
            raise TypeError(f"{func.__qualname__} declares its permissions twice")
        func.kind = kind  # type: ignore[attr-defined]
        func.required_perms = tuple(perms)  # type: ignore[attr-defined]
        func.any_perms = tuple(any_perms)  # type: ignore[attr-defined]
        func.permission_check = check  # type: ignore[attr-defined]
        return decorate_view(_after_authentication(check))(func)

    return decorate


def _after_authentication(check: Check) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A ninja run decorator that adds `check` to the operation's own checks (authentication, throttling),
    which run before the parameters are read. Ninja applies it to every mount of the router (each mount
    clones the operation), so the check travels with the operation."""

    def install(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        operation: Any = getattr(run, "__self__", None)
        if operation is None:
            raise TypeError("@requires and its kin decorate ninja operations")
        authenticate = operation._run_checks

        def run_checks(request: HttpRequest) -> HttpResponse | None:
            refused: HttpResponse | None = authenticate(request)
            if refused is not None:
                return refused
            try:
                check(request)
            except Exception as exc:  # answered as any error of the operation would be
                answer: HttpResponse = operation.api.on_exception(request, exc)
                return answer
            return None

        operation._run_checks = run_checks
        return run

    return install
