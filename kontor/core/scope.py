"""The one scoping mechanism. Views and API operations reach tenant rows only through `scoped()` and
`get_scoped()`, with a Scope built from the session membership or the API key, never from a request
parameter. A row of another customer (or another account) is indistinguishable from a missing one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models

from kontor.core.errors import Forbidden, NotFound

if TYPE_CHECKING:
    from kontor.access.models import ApiKey, User
    from kontor.tenancy.models import Account, Customer

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class Scope:
    user: User | None
    customer: Customer
    account: Account | None
    perms: frozenset[str] = field(default_factory=frozenset)
    api_key: ApiKey | None = None
    staff: bool = False  # provider staff acting on this customer

    def has(self, perm: str) -> bool:
        return str(perm) in self.perms

    def require(self, *perms: str) -> None:
        missing = [str(p) for p in perms if str(p) not in self.perms]
        if missing:
            raise Forbidden(f"You need the permission “{missing[0]}” for this.")

    @property
    def actor(self) -> User | None:
        return self.user


def scoped(scope: Scope, model: type[M]) -> models.QuerySet[M]:
    """All rows of `model` the scope may see."""
    return model.objects.in_scope(scope)  # type: ignore[attr-defined,no-any-return]


def get_scoped(scope: Scope, model: type[M] | models.QuerySet[M], **lookup: Any) -> M:
    """One row by lookup inside the scope, or NotFound (404), whether it is missing or foreign."""
    qs = scoped(scope, model) if isinstance(model, type) else model
    try:
        return qs.get(**lookup)
    except (ObjectDoesNotExist, ValueError, TypeError, ValidationError, OverflowError):
        raise NotFound(str(qs.model._meta.verbose_name)) from None
