"""Roles (built-in, read-only, and the customer's own) and the current account's API keys."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from kontor.access import services
from kontor.access.forms import ApiKeyForm, RoleForm
from kontor.access.models import ApiKey, Role
from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest, actor_of
from kontor.access.tables import ApiKeyTable, RoleTable, perm_labels
from kontor.core.errors import DomainError, Forbidden
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.tenancy.models import Account
from kontor.web.decorators import customer_view
from kontor.web.generic import ConfirmView, EditView, Link, ListView
from kontor.web.lists import form_errors_from

# --- roles ---------------------------------------------------------------------------------------


@customer_view(Perm.MANAGE_ROLES)
class RoleList(ListView):
    title = _("Roles")
    table_class = RoleTable
    actions = [Link(_("Add role"), "access:role_add")]
    intro = _(
        "A role is a set of permissions a user has in an account. Built-in roles cannot be changed; copy one "
        "to make your own."
    )
    per_page = 50

    def get_queryset(self) -> QuerySet[Role]:
        scope = self.scope
        # Built-in roles are shared by every customer: count only this customer's memberships.
        roles = scoped(scope, Role).annotate(
            members=Count("memberships", filter=Q(memberships__customer_id=scope.customer.pk))
        )
        return roles.order_by("customer_id", "name")


def _custom_role(scope: Scope, pk: int) -> Role:
    role = get_scoped(scope, Role, pk=pk)
    if role.is_builtin:
        raise Forbidden(gettext("Built-in roles cannot be changed; copy one into a custom role instead."))
    return role


class _RoleForm(EditView[Role]):
    form_class = RoleForm
    template_name = "access/perm_form.html"
    success_url = "access:roles"

    def get_object(self) -> Role | None:
        pk = self.kwargs.get("pk")
        return None if pk is None else _custom_role(self.scope, pk)

    def save(self, form: RoleForm, role: Role | None) -> Role:
        data = form.cleaned_data
        return services.save_role(
            self.scope.customer,
            role,
            actor=self.actor,
            name=data["name"],
            perms=data["perms"],
            description=data["description"],
        )

    def status(self, form: RoleForm, refusal: DomainError | None) -> int:
        # A refused escalation shows the form with the reason, answered 403 like any other refusal.
        return refusal.status if isinstance(refusal, Forbidden) else 200


@customer_view(Perm.MANAGE_ROLES)
class RoleAdd(_RoleForm):
    """A new role, or, with ?copy=<id>, a copy of any role the customer sees (a built-in one too)."""

    add_title = _("Add role")
    submit = _("Create role")
    success_message = _("The role “%(name)s” has been created.")

    def get_add_initial(self) -> dict[str, Any] | None:
        source = self.request.GET.get("copy")
        if self.request.method != "GET" or not source:
            return {}
        template = get_scoped(self.scope, Role, pk=source)
        return {
            "name": gettext("Copy of %(name)s") % {"name": template.name},
            "description": template.description,
            "perms": sorted(p.value for p in template.perm_set),
        }


@customer_view(Perm.MANAGE_ROLES)
class RoleEdit(_RoleForm):
    title = _("Edit role “%(name)s”")
    submit = _("Save")
    success_message = _("The role “%(name)s” has been saved.")

    def get_initial(self, role: Role) -> dict[str, Any]:
        return {"name": role.name, "description": role.description, "perms": list(role.perms)}


@customer_view(Perm.MANAGE_ROLES)
class RoleDelete(ConfirmView[Role]):
    title = _("Delete role")
    question = _("Delete the role “%(name)s”? This cannot be undone.")
    confirm_label = _("Delete role")
    done_message = _("The role “%(name)s” has been deleted.")
    done_url = "access:roles"

    def get_object(self) -> Role:
        return _custom_role(self.scope, self.kwargs["pk"])

    def get_details(self, role: Role) -> list[str]:
        return perm_labels(role.perms)

    def act(self, role: Role) -> None:
        services.delete_role(role, actor=self.actor)

    def refused(self, role: Role, exc: DomainError) -> HttpResponseBase:
        messages.error(
            self.request,
            gettext("The role “%(name)s” was not deleted: %(reason)s") % {"name": role.name, "reason": exc.message},
        )
        return redirect(self.get_done_url(role))


# --- API keys ------------------------------------------------------------------------------------


@customer_view(Perm.MANAGE_API_KEYS)
class ApiKeyList(ListView):
    table_class = ApiKeyTable
    actions = [Link(_("Create API key"), "access:api_key_add")]
    intro = _(
        "A key works only in this account, with the permissions chosen for it, and never more than its "
        "creator may still do here. Send it as “Authorization: Bearer <key>”."
    )

    def get_title(self) -> str:
        return gettext("API keys of %(name)s") % {"name": _account(self.scope).name}

    def get_queryset(self) -> QuerySet[ApiKey]:
        return scoped(self.scope, ApiKey).select_related("created_by")


def _account(scope: Scope) -> Account:
    assert scope.account is not None  # API keys are a page of the current account
    return scope.account


@never_cache
@customer_view(Perm.MANAGE_API_KEYS)
@require_http_methods(["GET", "POST"])
def api_key_add(request: ScopedRequest) -> HttpResponse:
    """Not a generic page: the new key's secret is shown once, on the answer to the POST itself."""
    scope = request.scope
    account = _account(scope)
    allowed = [Perm(p) for p in scope.perms]
    form = ApiKeyForm(request.POST or None, allowed=allowed)
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.create_api_key(
                account, actor=actor_of(request), name=form.cleaned_data["name"], perms=form.cleaned_data["perms"]
            )
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            # The secret is rendered into this one response only: not in a message, URL or log.
            return render(
                request,
                "access/api_key_created.html",
                {"key": issued.key, "secret": issued.secret, "perms": perm_labels(issued.key.perms)},
            )
    return render(
        request,
        "access/perm_form.html",
        {
            "form": form,
            "title": gettext("Create an API key for %(name)s") % {"name": account.name},
            "intro": "You can give a key only permissions you have in this account yourself.",
            "submit": "Create key",
            "cancel_url": reverse("access:api_keys"),
        },
    )


@customer_view(Perm.MANAGE_API_KEYS)
class ApiKeyRevoke(ConfirmView[ApiKey]):
    model = ApiKey
    title = _("Revoke API key")
    question = _(
        "Revoke the key “%(name)s” (kon_%(prefix)s_…)? Whatever uses it stops working at once; this cannot be undone."
    )
    confirm_label = _("Revoke key")
    done_message = _("The key “%(name)s” has been revoked.")
    done_url = "access:api_keys"

    def act(self, key: ApiKey) -> None:
        services.revoke_api_key(key, actor=self.actor)
