"""Customer pages: accounts (list, add, detail, edit, delete/archive, restore), the account switcher,
offices and teams, and the IP allowlist."""

from __future__ import annotations

import dataclasses

import django_tables2 as tables
from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from kontor.access.middleware import SESSION_ACCOUNT
from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.selectors import perms_in_account
from kontor.access.visibility import account_to_act_on, visible_accounts
from kontor.core.errors import Conflict, DomainError, ErrorCode, NotFound
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.numbers import services as number_services
from kontor.numbers.models import AccountNumber, Number
from kontor.numbers.selectors import customer_numbers
from kontor.tenancy import services
from kontor.tenancy.filters import AccountFilter
from kontor.tenancy.forms import AccountForm, AllowlistForm, OfficeForm, TeamForm
from kontor.tenancy.models import Account, CustomColumn, Membership, Office, Team
from kontor.tenancy.registry import account_data
from kontor.tenancy.tables import AccountTable, OfficeTable, TeamTable
from kontor.web.decorators import customer_view, signed_in_view
from kontor.web.lists import Action, form_errors_from, list_page

# --- accounts ------------------------------------------------------------------------------------


def _scope(request: HttpRequest) -> Scope:
    return request.scope  # type: ignore[attr-defined,no-any-return]


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _account(request: HttpRequest, pk: int, perm: Perm | None = None) -> Account:
    """An account the user can see (else 404) and, with `perm`, holds that permission in (else 403);
    the API resolves accounts the same way."""
    scope = _scope(request)
    if perm is not None:
        return account_to_act_on(scope, pk, perm)
    return get_scoped(scope, visible_accounts(scope), pk=pk)


def _columns(scope: Scope, account: Account) -> list[CustomColumn]:
    # Custom columns live inside an account, so they are read in that account's scope.
    return list(scoped(dataclasses.replace(scope, account=account), CustomColumn).order_by("position"))


def _warn_shared_cost_center(request: HttpRequest, account: Account) -> None:
    others = services.shared_cost_center_accounts(account)
    if others:
        names = ", ".join(a.name for a in others)
        messages.warning(
            request,
            f"The cost center {account.cost_center} is also used by {names}: these accounts are not "
            "billed separately. Choose a unique cost center if this account must be billed on its own.",
        )


@customer_view()
def accounts(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    actions = []
    if scope.has(Perm.CREATE_ACCOUNTS):
        actions.append(Action("Add account", reverse("tenancy:account_add")))
    intro = (
        "Accounts keep data apart: what is loaded in one account cannot be seen from another. "
        "Each account is billed to its cost center; accounts sharing a cost center are not billed separately."
    )
    return list_page(
        request,
        title="Accounts",
        queryset=services.with_overview(visible_accounts(scope)),
        table_class=AccountTable,
        filterset_class=AccountFilter,
        actions=actions,
        intro=intro,
    )


def _account_form_page(
    request: HttpRequest,
    form: AccountForm,
    *,
    title: str,
    account: Account | None = None,
    notice: str = "",
    ask_columns: bool = False,
) -> HttpResponse:
    cancel = reverse("tenancy:account_detail", args=[account.pk]) if account else reverse("tenancy:accounts")
    context = {
        "form": form,
        "title": title,
        "account": account,
        "cancel_url": cancel,
        "notice": notice,
        "ask_columns": ask_columns,
    }
    return render(request, "tenancy/account_form.html", context)


class _MoNumberRefused(Exception):
    """Carries the number service's refusal out of the transaction (so it rolls back) to the field."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message)
        self.error = error


def _set_mo_number(account: Account, number: Number | None, *, actor: User) -> None:
    try:
        number_services.set_account_number(account, number, actor=actor)
    except DomainError as exc:
        raise _MoNumberRefused(exc) from exc


def _mo_number_error(form: AccountForm, refused: _MoNumberRefused) -> None:
    fields = getattr(refused.error, "fields", {}) or {}
    for message in [m for messages_ in fields.values() for m in messages_] or [refused.error.message]:
        form.add_error("mo_number", message)


def _current_mo_number(scope: Scope, account: Account) -> Number | None:
    # The link lives inside its account: read it through that account's scope, not the one the user is
    # working in (which showed, preselected and cleared nothing for every other account).
    link = scoped(dataclasses.replace(scope, account=account), AccountNumber).select_related("number").first()
    return link.number if link else None


@customer_view(Perm.CREATE_ACCOUNTS)
def account_add(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    form = AccountForm(request.POST or None, customer=scope.customer, numbers=customer_numbers(scope))
    if request.method == "POST" and form.is_valid():
        try:
            # One transaction: a refused MO number leaves no half-made account behind.
            with transaction.atomic():
                account = services.create_account(
                    scope.customer,
                    actor=_user(request),
                    name=form.cleaned_data["name"],
                    cost_center=form.cleaned_data["cost_center"],
                    office_hours_only=form.cleaned_data["office_hours_only"],
                    custom_columns=form.column_specs(),
                    creator_from=scope.account,
                )
                if form.cleaned_data["mo_number"] is not None:
                    _set_mo_number(account, form.cleaned_data["mo_number"], actor=_user(request))
        except _MoNumberRefused as refused:
            _mo_number_error(form, refused)
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Account “{account.name}” created.")
            _warn_shared_cost_center(request, account)
            return redirect("tenancy:account_detail", pk=account.pk)
    return _account_form_page(request, form, title="Add account")


@customer_view()
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    account = _account(request, pk)
    granted = perms_in_account(_user(request), account)
    # Who works in an account (emails, roles) is user data: shown only to those who may see users.
    show_members = any(p in granted or scope.has(p) for p in (Perm.VIEW_USERS, Perm.MANAGE_USERS))
    members = (
        scoped(scope, Membership).filter(account=account).select_related("user", "role").order_by("user__email")
        if show_members
        else scoped(scope, Membership).none()
    )
    context = {
        "account": account,
        "columns": _columns(scope, account),
        "show_members": show_members,
        "members": members,
        "shared_with": services.shared_cost_center_accounts(account),
        "mo_number": _current_mo_number(scope, account),
        "can_manage": Perm.MANAGE_ACCOUNTS in granted and scope.has(Perm.MANAGE_ACCOUNTS),
        "is_current": scope.account is not None and scope.account.pk == account.pk,
    }
    return render(request, "tenancy/account_detail.html", context)


@customer_view(Perm.MANAGE_ACCOUNTS)
def account_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    account = _account(request, pk, Perm.MANAGE_ACCOUNTS)
    current = _current_mo_number(scope, account)
    numbers = customer_numbers(scope)
    if current is not None:
        # A number no longer offered (e.g. suspended) stays selectable, so saving other fields keeps it.
        numbers = numbers | scoped(scope, Number).filter(pk=current.pk)
    initial = AccountForm.initial_for(account, _columns(scope, account), current)
    form = AccountForm(request.POST or None, initial=initial, customer=scope.customer, numbers=numbers)
    ask_columns = False
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                account = services.update_account(
                    account,
                    actor=_user(request),
                    name=form.cleaned_data["name"],
                    cost_center=form.cleaned_data["cost_center"],
                    office_hours_only=form.cleaned_data["office_hours_only"],
                    custom_columns=form.column_specs(),
                    confirm_column_changes=form.cleaned_data["confirm_column_changes"],
                )
                if form.cleaned_data["mo_number"] != current:
                    _set_mo_number(account, form.cleaned_data["mo_number"], actor=_user(request))
        except _MoNumberRefused as refused:
            _mo_number_error(form, refused)
        except DomainError as exc:
            form_errors_from(form, exc)
            ask_columns = exc.code == ErrorCode.COLUMN_DATA_AT_RISK
        else:
            messages.success(request, f"Account “{account.name}” saved.")
            _warn_shared_cost_center(request, account)
            return redirect("tenancy:account_detail", pk=account.pk)
    notice = "" if account.is_active else "This account is archived; restore it before changing it."
    return _account_form_page(
        request, form, title=f"Edit {account.name}", account=account, notice=notice, ask_columns=ask_columns
    )


def _describe(held: list[tuple[str, int]]) -> str:
    return ", ".join(f"{n} {what}" for what, n in held)


@customer_view(Perm.MANAGE_ACCOUNTS)
def account_delete(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk, Perm.MANAGE_ACCOUNTS)
    if request.method == "POST":
        try:
            outcome = services.delete_account(account, actor=_user(request))
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("tenancy:account_detail", pk=account.pk)
        if outcome.deleted:
            messages.success(request, f"Account “{account.name}” was deleted.")
            return redirect("tenancy:accounts")
        messages.warning(
            request,
            f"Account “{account.name}” was archived instead of deleted because it holds "
            f"{_describe(outcome.held)}. Nothing was lost; it can be restored from its page.",
        )
        return redirect("tenancy:account_detail", pk=account.pk)
    held = account_data(account)
    if held:
        question = (
            f"“{account.name}” will be archived, not deleted: it holds {_describe(held)}. An archived "
            "account cannot be used or switched to, but its data is kept and it can be restored."
        )
        label = "Archive account"
    else:
        question = f"“{account.name}” holds no data and will be deleted permanently."
        label = "Delete account"
    if not account.is_active and held:
        question = f"“{account.name}” is already archived and holds {_describe(held)}; it stays archived."
    context = {
        "title": f"Delete {account.name}",
        "question": question,
        "confirm_label": label,
        "cancel_url": reverse("tenancy:account_detail", args=[account.pk]),
    }
    return render(request, "web/confirm.html", context)


@require_POST
@customer_view(Perm.MANAGE_ACCOUNTS)
def account_restore(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk, Perm.MANAGE_ACCOUNTS)
    try:
        services.restore_account(account, actor=_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Account “{account.name}” is active again.")
    return redirect("tenancy:account_detail", pk=account.pk)


@require_POST
@signed_in_view
def switch(request: HttpRequest) -> HttpResponse:
    """Make one of the user's own active accounts the current one; anything else is a 404."""
    wanted = (request.POST.get("account") or "").strip()
    account = next((a for a in getattr(request, "accounts", []) if str(a.pk) == wanted), None)
    if account is None:
        raise NotFound("account")
    request.session[SESSION_ACCOUNT] = account.pk
    messages.success(request, f"You are now working in “{account.name}”.")
    return redirect("web:home")


# --- offices and teams ---------------------------------------------------------------------------


@customer_view(Perm.MANAGE_OFFICES)
def offices(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    office_qs = scoped(scope, Office).annotate(
        primary_count=Count("primary_users", distinct=True),
        additional_count=Count("additional_users", distinct=True),
    )
    team_qs = scoped(scope, Team).select_related("office").annotate(member_count=Count("members"))
    # No request= here: the table would paginate from the query string before paginate=False applies.
    office_table = OfficeTable(office_qs, prefix="o-")
    team_table = TeamTable(team_qs, prefix="t-")
    for table in (office_table, team_table):
        tables.RequestConfig(request, paginate=False).configure(table)
    return render(request, "tenancy/offices.html", {"offices": office_table, "teams": team_table})


def _form_page(request: HttpRequest, form: object, title: str, intro: str = "") -> HttpResponse:
    context = {"form": form, "title": title, "intro": intro, "cancel_url": reverse("tenancy:offices")}
    return render(request, "web/form.html", context)


@customer_view(Perm.MANAGE_OFFICES)
def office_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    scope = _scope(request)
    office = get_scoped(scope, Office, pk=pk) if pk is not None else None
    initial = {"name": office.name, "address": office.address} if office else None
    form = OfficeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_office(
                scope.customer,
                office,
                actor=_user(request),
                name=form.cleaned_data["name"],
                address=form.cleaned_data["address"],
            )
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Office “{saved.name}” saved.")
            return redirect("tenancy:offices")
    return _form_page(request, form, f"Edit {office.name}" if office else "Add office")


@customer_view(Perm.MANAGE_OFFICES)
def office_delete(request: HttpRequest, pk: int) -> HttpResponse:
    office = get_scoped(_scope(request), Office, pk=pk)
    if request.method == "POST":
        try:
            services.delete_office(office, actor=_user(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Office “{office.name}” deleted.")
        return redirect("tenancy:offices")
    context = {
        "title": f"Delete {office.name}",
        "question": f"Delete the office “{office.name}”? Users keep their accounts; teams of this office "
        "keep existing without an office.",
        "confirm_label": "Delete office",
        "cancel_url": reverse("tenancy:offices"),
    }
    return render(request, "web/confirm.html", context)


@customer_view(Perm.MANAGE_OFFICES)
def team_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    scope = _scope(request)
    team = get_scoped(scope, Team, pk=pk) if pk is not None else None
    initial = {"name": team.name, "office": team.office_id} if team else None
    form = TeamForm(request.POST or None, initial=initial, offices=scoped(scope, Office))
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_team(
                scope.customer,
                team,
                actor=_user(request),
                name=form.cleaned_data["name"],
                office=form.cleaned_data["office"],
            )
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Team “{saved.name}” saved.")
            return redirect("tenancy:offices")
    return _form_page(request, form, f"Edit {team.name}" if team else "Add team")


@customer_view(Perm.MANAGE_OFFICES)
def team_delete(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_scoped(_scope(request), Team, pk=pk)
    if request.method == "POST":
        try:
            services.delete_team(team, actor=_user(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Team “{team.name}” deleted.")
        return redirect("tenancy:offices")
    context = {
        "title": f"Delete {team.name}",
        "question": f"Delete the team “{team.name}”? Its members stay, without a team.",
        "confirm_label": "Delete team",
        "cancel_url": reverse("tenancy:offices"),
    }
    return render(request, "web/confirm.html", context)


# --- security ------------------------------------------------------------------------------------


@customer_view(Perm.MANAGE_SECURITY)
def security(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    customer = scope.customer
    client_ip = getattr(request, "client_ip", None)
    form = AllowlistForm(request.POST or None, initial={"entries": "\n".join(customer.ip_allowlist)})
    ask_confirm = False
    if request.method == "POST" and form.is_valid():
        try:
            services.set_ip_allowlist(
                customer,
                form.lines(),
                actor=_user(request),
                current_ip=client_ip,
                confirm_lockout=form.cleaned_data["confirm_lockout"],
            )
        except Conflict as exc:
            ask_confirm = exc.code == ErrorCode.LOCKOUT_RISK
            form_errors_from(form, exc)
            if ask_confirm:
                form.add_error(None, exc.message)
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, "The IP allowlist was saved.")
            return redirect("tenancy:security")
    context = {
        "form": form,
        "client_ip": client_ip,
        "ask_confirm": ask_confirm,
        "current": customer.ip_allowlist,
    }
    return render(request, "tenancy/security.html", context)
