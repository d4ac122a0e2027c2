from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from kontor.access.models import User


class EmailBackend(ModelBackend):
    """Email login, case-insensitive; hashes a dummy password for unknown emails so that response
    time does not tell which emails exist."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kw: Any
    ) -> User | None:
        email = username or kw.get("email")
        if not email or password is None:
            return None
        try:
            user = User.objects.get_by_natural_key(email)
        except User.DoesNotExist:
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def user_can_authenticate(self, user: Any) -> bool:
        if not getattr(user, "is_active", False):
            return False
        customer = getattr(user, "customer", None)
        return customer is None or customer.status == "active"
