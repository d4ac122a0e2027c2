"""The request as Kontor sees it, and the few questions every entry point asks of it: who acts, in which
customer scope, with which permissions.

`KontorRequest` types what the middleware (`request.scope`, `request.client_ip`) and the API's key
authentication (`request.scope` from the key) set; `ScopedRequest` and `StaffRequest` are the same request
after a declaration (`customer_view`, `staff_view`, `@requires`) has checked it, so a body reads
`request.scope` or `request.user` without asking again. They are for typing only: Django builds the
request, these classes are never instantiated."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from kontor.access.models import User
from kontor.core.errors import Forbidden
from kontor.core.scope import Scope


class KontorRequest(HttpRequest):
    """Any request: `scope` is the session's current account or the API key's, None for staff and
    anonymous callers; `user` is AnonymousUser for an API key (the key's creator acts, see actor_of)."""

    user: User | AnonymousUser  # type: ignore[assignment]
    scope: Scope | None
    client_ip: str | None


class ScopedRequest(KontorRequest):
    """A request whose customer scope a declaration has checked."""

    scope: Scope


class StaffRequest(KontorRequest):
    """A request a declaration has checked to come from signed-in provider staff."""

    user: User  # type: ignore[assignment]


def scope_of(request: HttpRequest, *perms: str) -> Scope:
    """The caller's customer scope (API key or session account), with `perms` required."""
    scope: Scope | None = getattr(request, "scope", None)
    if scope is None:
        user = request.user
        if isinstance(user, User) and user.is_staff:
            raise Forbidden("Provider staff use the /staff operations; this one is for customer users.")
        raise Forbidden("You have no account to work in.")
    scope.require(*perms)
    return scope


def scope_of_any(request: HttpRequest, *perms: str) -> Scope:
    """Like scope_of, for reads that any one of `perms` allows."""
    scope = scope_of(request)
    if perms and not any(scope.has(p) for p in perms):
        raise Forbidden(f"You need one of the permissions {', '.join(f'“{p}”' for p in perms)} for this.")
    return scope


def actor_of(request: HttpRequest) -> User:
    """The acting user: the session user, or the creator of the API key."""
    scope: Scope | None = getattr(request, "scope", None)
    if scope is not None and scope.api_key is not None:
        if scope.user is None:
            raise Forbidden("This API key has no owner any more; create a new one.")
        return scope.user
    user = request.user
    if not isinstance(user, User):
        raise Forbidden("Sign in first.")
    return user


def staff_of(request: HttpRequest, *perms: str) -> User:
    """Provider staff with `perms` (sessions only: API keys belong to customers)."""
    scope: Scope | None = getattr(request, "scope", None)
    user = request.user
    if (scope is not None and scope.api_key is not None) or not isinstance(user, User) or not user.is_staff:
        raise Forbidden("Only provider staff can do this.")
    have = {q.value for q in user.staff_perms}
    missing = [str(p) for p in perms if str(p) not in have]
    if missing:
        raise Forbidden(f"You need the permission “{missing[0]}” for this.")
    return user
