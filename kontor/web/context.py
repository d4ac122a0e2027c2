from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from kontor.access.perms import Perm


def navigation(request: HttpRequest) -> dict[str, Any]:
    """What the layout needs: the current scope, the account switcher and the user's permissions."""
    user = getattr(request, "user", None)
    scope = getattr(request, "scope", None)
    perms: set[str] = set(scope.perms) if scope is not None else set()
    if user is not None and user.is_authenticated and getattr(user, "is_staff", False):
        perms |= {p.value for p in user.staff_perms}
    return {
        "scope": scope,
        "current_account": scope.account if scope is not None else None,
        "switch_accounts": getattr(request, "accounts", []),
        "perms": perms,
        "Perm": {p.name: p.value for p in Perm},
    }
