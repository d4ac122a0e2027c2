"""Tables of the access pages (users, roles, API keys); the users table also declares its CSV download."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from kontor.access.models import ApiKey, Role, User
from kontor.access.perms import Perm


def perm_labels(values: list[str]) -> list[str]:
    labels = []
    for value in values:
        try:
            labels.append(Perm(value).label)
        except ValueError:
            continue
    return sorted(labels)


def _perm_list(values: list[str]) -> str:
    labels = perm_labels(values)
    if not labels:
        return "—"
    return format_html('<ul class="perms">{}</ul>', format_html_join("", "<li>{}</li>", ((lb,) for lb in labels)))


class UserTable(tables.Table):
    name = tables.Column(
        accessor="last_name",
        order_by=("last_name", "first_name"),
        verbose_name="Name",
        linkify=lambda record: reverse("access:user_detail", args=[record.pk]),
        exclude_from_export=True,
    )
    # The CSV has the name in two columns.
    first_name = tables.Column(visible=False)
    last_name = tables.Column(visible=False)
    email = tables.Column()
    phone = tables.Column(verbose_name="Phone")
    is_master = tables.Column(verbose_name="Master")
    is_active = tables.Column(verbose_name="Status")
    primary_office = tables.Column(verbose_name="Primary office", order_by=("primary_office__name",))
    team = tables.Column(order_by=("team__name",))
    accounts = tables.Column(empty_values=(), orderable=False, verbose_name="Accounts and roles")

    export_names = {"is_master": "master", "is_active": "active"}

    class Meta:
        model = User
        fields = ("name", "email", "phone", "is_master", "is_active", "primary_office", "team", "accounts")
        sequence = ("name", "first_name", "last_name", *fields[1:])
        attrs = {"class": "table"}
        empty_text = "No users match."

    def render_name(self, record: User) -> str:
        return record.full_name or record.email

    def render_is_master(self, value: bool) -> str:
        return mark_safe('<span class="badge">Master</span>') if value else ""

    def render_is_active(self, value: bool) -> str:
        if value:
            return mark_safe('<span class="badge ok">Active</span>')
        return mark_safe('<span class="badge">Disabled</span>')

    def render_accounts(self, record: User) -> str:
        rows = [(m.account.name, m.role.name) for m in record.memberships.all()]
        if record.is_master:
            rows.insert(0, ("All accounts", "Master user"))
        if not rows:
            return "—"
        return format_html_join(mark_safe("<br>"), "{} → {}", rows)

    def value_accounts(self, record: User) -> str:
        roles = [f"{m.account.name}: {m.role.name}" for m in record.memberships.all()]
        return "; ".join((["All accounts: Master user"] if record.is_master else []) + roles)


class RoleTable(tables.Table):
    name = tables.Column()
    kind = tables.Column(accessor="customer_id", verbose_name="Kind", orderable=False)
    perms = tables.Column(verbose_name="Permissions", orderable=False)
    members = tables.Column(verbose_name="Memberships here")
    actions = tables.Column(empty_values=(), orderable=False, verbose_name="")

    class Meta:
        model = Role
        fields = ("name", "kind", "description", "perms", "members", "actions")
        sequence = fields
        attrs = {"class": "table"}

    def render_kind(self, record: Role) -> str:
        return "Built-in" if record.is_builtin else "Custom"

    def render_perms(self, value: list[str]) -> str:
        return _perm_list(value)

    def render_actions(self, record: Role) -> str:
        copy = format_html('<a href="{}?copy={}">Copy</a>', reverse("access:role_add"), record.pk)
        if record.is_builtin or record.slug == "master":
            return copy
        return format_html(
            '<a href="{}">Edit</a> · {} · <a href="{}">Delete</a>',
            reverse("access:role_edit", args=[record.pk]),
            copy,
            reverse("access:role_delete", args=[record.pk]),
        )


class ApiKeyTable(tables.Table):
    name = tables.Column()
    prefix = tables.Column(verbose_name="Key starts")
    perms = tables.Column(verbose_name="Permissions", orderable=False)
    created_by = tables.Column(verbose_name="Created by", order_by=("created_by__last_name",))
    created_at = tables.DateTimeColumn(verbose_name="Created", format="Y-m-d H:i")
    last_used_at = tables.DateTimeColumn(verbose_name="Last used", format="Y-m-d H:i", default="never")
    revoked_at = tables.DateTimeColumn(verbose_name="Revoked", format="Y-m-d H:i", default="—")
    actions = tables.Column(empty_values=(), orderable=False, verbose_name="")

    class Meta:
        model = ApiKey
        fields = ("name", "prefix", "perms", "created_by", "created_at", "last_used_at", "revoked_at")
        sequence = (*fields, "actions")
        attrs = {"class": "table"}
        empty_text = "This account has no API keys."

    def render_prefix(self, value: str) -> str:
        return format_html("<code>kon_{}_…</code>", value)

    def render_perms(self, value: list[str]) -> str:
        return _perm_list(value)

    def render_actions(self, record: ApiKey) -> Any:
        if record.revoked_at is not None:
            return ""
        return format_html('<a href="{}">Revoke</a>', reverse("access:api_key_revoke", args=[record.pk]))
