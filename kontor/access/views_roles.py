"""Roles (built-in, read-only, and the customer's own) and the current account's API keys."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from kontor.access import services
from kontor.access.forms import ApiKeyForm, RoleForm
from kontor.access.models import ApiKey, Role, User
from kontor.access.perms import Perm
from kontor.access.tables import ApiKeyTable, RoleTable, perm_labels
from kontor.core.errors import DomainError, Forbidden
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.web.decorators import customer_view
from kontor.web.lists import Action, form_errors_from, list_page


def _scope(request: HttpRequest) -> Scope:
    return request.scope  # type: ignore[attr-defined,no-any-return]


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


# --- roles ---------------------------------------------------------------------------------------


@customer_view(Perm.MANAGE_ROLES)
def role_list(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    # Built-in roles are shared by every customer: count only this customer's memberships.
    roles = scoped(scope, Role).annotate(
        members=Count("memberships", filter=Q(memberships__customer_id=scope.customer.pk))
    )
    return list_page(
        request,
        title="Roles",
        queryset=roles.order_by("customer_id", "name"),
        table_class=RoleTable,
        actions=[Action("Add role", reverse("access:role_add"))],
        intro="A role is a set of permissions a user has in an account. Built-in roles cannot be changed; "
        "copy one to make your own.",
        per_page=50,
    )


def _role_page(request: HttpRequest, form: RoleForm, title: str, submit: str, status: int = 200) -> HttpResponse:
    return render(
        request,
        "access/perm_form.html",
        {"form": form, "title": title, "submit": submit, "cancel_url": reverse("access:roles")},
        status=status,
    )


def _refusal_status(exc: DomainError) -> int:
    # A refused escalation shows the form with the reason, answered 403 like any other refusal.
    return exc.status if isinstance(exc, Forbidden) else 200


@customer_view(Perm.MANAGE_ROLES)
@require_http_methods(["GET", "POST"])
def role_add(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    initial = {}
    source = request.GET.get("copy")
    if request.method == "GET" and source:
        template = get_scoped(scope, Role, pk=source)
        initial = {
            "name": f"Copy of {template.name}",
            "description": template.description,
            "perms": sorted(p.value for p in template.perm_set),
        }
    form = RoleForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            role = services.save_role(
                scope.customer,
                None,
                actor=_actor(request),
                name=form.cleaned_data["name"],
                perms=form.cleaned_data["perms"],
                description=form.cleaned_data["description"],
            )
        except DomainError as exc:
            form_errors_from(form, exc)
            status = _refusal_status(exc)
        else:
            messages.success(request, f"The role “{role.name}” has been created.")
            return redirect("access:roles")
    return _role_page(request, form, "Add role", "Create role", status)


def _custom_role(scope: Scope, pk: int) -> Role:
    role = get_scoped(scope, Role, pk=pk)
    if role.is_builtin:
        raise Forbidden("Built-in roles cannot be changed; copy one into a custom role instead.")
    return role


@customer_view(Perm.MANAGE_ROLES)
@require_http_methods(["GET", "POST"])
def role_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    role = _custom_role(scope, pk)
    initial = {"name": role.name, "description": role.description, "perms": list(role.perms)}
    form = RoleForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.save_role(
                scope.customer,
                role,
                actor=_actor(request),
                name=form.cleaned_data["name"],
                perms=form.cleaned_data["perms"],
                description=form.cleaned_data["description"],
            )
        except DomainError as exc:
            form_errors_from(form, exc)
            status = _refusal_status(exc)
        else:
            messages.success(request, f"The role “{role.name}” has been saved.")
            return redirect("access:roles")
    return _role_page(request, form, f"Edit role “{role.name}”", "Save", status)


@customer_view(Perm.MANAGE_ROLES)
@require_http_methods(["GET", "POST"])
def role_delete(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    role = _custom_role(scope, pk)
    if request.method == "POST":
        try:
            services.delete_role(role, actor=_actor(request))
        except DomainError as exc:
            messages.error(request, f"The role “{role.name}” was not deleted: {exc.message}")
        else:
            messages.success(request, f"The role “{role.name}” has been deleted.")
        return redirect("access:roles")
    return render(
        request,
        "web/confirm.html",
        {
            "title": "Delete role",
            "question": f"Delete the role “{role.name}”? This cannot be undone.",
            "details": perm_labels(role.perms),
            "confirm_label": "Delete role",
            "cancel_url": reverse("access:roles"),
        },
    )


# --- API keys ------------------------------------------------------------------------------------


@customer_view(Perm.MANAGE_API_KEYS)
def api_key_list(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    assert scope.account is not None
    return list_page(
        request,
        title=f"API keys of {scope.account.name}",
        queryset=scoped(scope, ApiKey).select_related("created_by"),
        table_class=ApiKeyTable,
        actions=[Action("Create API key", reverse("access:api_key_add"))],
        intro="A key works only in this account, with the permissions chosen for it, and never more than "
        "its creator may still do here. Send it as “Authorization: Bearer <key>”.",
    )


@never_cache
@customer_view(Perm.MANAGE_API_KEYS)
@require_http_methods(["GET", "POST"])
def api_key_add(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    assert scope.account is not None
    allowed = [Perm(p) for p in scope.perms]
    form = ApiKeyForm(request.POST or None, allowed=allowed)
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.create_api_key(
                scope.account, actor=_actor(request), name=form.cleaned_data["name"], perms=form.cleaned_data["perms"]
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
            "title": f"Create an API key for {scope.account.name}",
            "intro": "You can give a key only permissions you have in this account yourself.",
            "submit": "Create key",
            "cancel_url": reverse("access:api_keys"),
        },
    )


@customer_view(Perm.MANAGE_API_KEYS)
@require_http_methods(["GET", "POST"])
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    key = get_scoped(scope, ApiKey, pk=pk)
    if request.method == "POST":
        try:
            services.revoke_api_key(key, actor=_actor(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"The key “{key.name}” has been revoked.")
        return redirect("access:api_keys")
    return render(
        request,
        "web/confirm.html",
        {
            "title": "Revoke API key",
            "question": f"Revoke the key “{key.name}” (kon_{key.prefix}_…)? Whatever uses it stops working "
            "at once; this cannot be undone.",
            "confirm_label": "Revoke key",
            "cancel_url": reverse("access:api_keys"),
        },
    )
