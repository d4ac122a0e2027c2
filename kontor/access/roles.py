"""Keeps the built-in roles' rows in step with BUILTIN_ROLES (run after migrate, and by the demo)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_migrate

from kontor.access.models import Role
from kontor.access.perms import BUILTIN_ROLES


def sync_builtin_roles(**_: Any) -> None:
    for slug, (name, description, perms) in BUILTIN_ROLES.items():
        Role.objects.update_or_create(
            customer=None,
            slug=slug,
            defaults={"name": name, "description": description, "perms": sorted(p.value for p in perms)},
        )


def builtin_role(slug: str) -> Any:
    return Role.objects.get(customer=None, slug=slug)


def connect() -> None:
    post_migrate.connect(sync_builtin_roles, dispatch_uid="kontor.sync_builtin_roles")
