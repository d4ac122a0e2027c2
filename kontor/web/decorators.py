"""Every web view declares what it needs: a customer scope with permissions, or staff permissions. The
decorators apply to a view function or to a generic page class (kontor.web.generic), whose as_view()
then carries the same guard and the same `required_perms`/`kind` the permission matrix reads."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from kontor.core.errors import Forbidden

View = Callable[..., HttpResponseBase]
V = TypeVar("V", bound=Callable[..., Any])


def _functions_and_pages(decorate: Callable[[View], View]) -> Callable[[V], V]:
    def apply(view: V) -> V:
        if isinstance(view, type):
            # A page class: Page.as_view() wraps the view it makes in this guard.
            view.guard = staticmethod(decorate)  # type: ignore[attr-defined]
            return view
        return cast(V, decorate(view))

    return apply


def customer_view(*perms: str, any_of: tuple[str, ...] = ()) -> Callable[[V], V]:
    """A page inside the user's current account; `request.scope` is set and holds `perms`, and at least
    one of `any_of` when given (e.g. a list that either viewing or managing users opens)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            scope = getattr(request, "scope", None)
            if scope is None:
                raise Forbidden(
                    "This page belongs to a customer account, and you have none to work in."
                    if not getattr(request.user, "is_staff", False)
                    else "Provider staff see customers through the Staff pages."
                )
            scope.require(*perms)
            if any_of and not any(scope.has(p) for p in any_of):
                raise Forbidden(f"You need the permission “{any_of[0]}” for this.")
            return view(request, *args, **kwargs)

        wrapper.required_perms = perms  # type: ignore[attr-defined]
        wrapper.any_perms = any_of  # type: ignore[attr-defined]
        wrapper.kind = "customer"  # type: ignore[attr-defined]
        return wrapper

    return _functions_and_pages(decorate)


def staff_view(*perms: str) -> Callable[[V], V]:
    """A provider staff page; the signed-in user must be staff with `perms`."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not getattr(user, "is_staff", False):
                raise Forbidden("Only provider staff can open this page.")
            have = {p.value for p in user.staff_perms}  # type: ignore[union-attr]
            missing = [p for p in perms if p not in have]
            if missing:
                raise Forbidden(f"You need the staff permission “{missing[0]}” for this page.")
            return view(request, *args, **kwargs)

        wrapper.required_perms = perms  # type: ignore[attr-defined]
        wrapper.kind = "staff"  # type: ignore[attr-defined]
        return wrapper

    return _functions_and_pages(decorate)


def signed_in_view(view: View) -> View:
    """Any signed-in user (profile, password change, account switch)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    wrapper.kind = "signed_in"  # type: ignore[attr-defined]
    return wrapper
