"""Customer pages: accounts (list, add, detail, edit, delete/archive, restore), the account switcher,
offices and teams, and the IP allowlist."""

from __future__ import annotations

import dataclasses
from typing import Any

import django_tables2 as tables
from django.contrib import messages
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from kontor.access.middleware import SESSION_ACCOUNT
from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest, actor_of
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
from kontor.web.generic import ActionView, ConfirmView, DetailView, EditView, Link, ListView
from kontor.web.lists import form_errors_from

# --- accounts ------------------------------------------------------------------------------------


def _account(request: ScopedRequest, pk: int, perm: Perm | None = None) -> Account:
    """An account the user can see (else 404) and, with `perm`, holds that permission in (else 403);
    the API resolves accounts the same way."""
    scope = request.scope
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
class AccountList(ListView):
    title = _("Accounts")
    table_class = AccountTable
    filterset_class = AccountFilter
    actions = [Link(_("Add account"), "tenancy:account_add", Perm.CREATE_ACCOUNTS)]
    intro = _(
        "Accounts keep data apart: what is loaded in one account cannot be seen from another. "
        "Each account is billed to its cost center; accounts sharing a cost center are not billed separately."
    )

    def get_queryset(self) -> QuerySet[Account]:
        return services.with_overview(visible_accounts(self.scope))


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
def account_add(request: ScopedRequest) -> HttpResponse:
    scope = request.scope
    form = AccountForm(request.POST or None, customer=scope.customer, numbers=customer_numbers(scope))
    if request.method == "POST" and form.is_valid():
        try:
            # One transaction: a refused MO number leaves no half-made account behind.
            with transaction.atomic():
                account = services.create_account(
                    scope.customer,
                    actor=actor_of(request),
                    name=form.cleaned_data["name"],
                    cost_center=form.cleaned_data["cost_center"],
                    office_hours_only=form.cleaned_data["office_hours_only"],
                    custom_columns=form.column_specs(),
                    creator_from=scope.account,
                )
                if form.cleaned_data["mo_number"] is not None:
                    _set_mo_number(account, form.cleaned_data["mo_number"], actor=actor_of(request))
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
class AccountDetail(DetailView[Account]):
    template_name = "tenancy/account_detail.html"

    def get_object(self) -> Account:
        return _account(self.request, self.kwargs["pk"])

    def get_context(self, account: Account) -> dict[str, Any]:
        scope = self.scope
        granted = perms_in_account(self.actor, account)
        # Who works in an account (emails, roles) is user data: shown only to those who may see users.
        show_members = any(p in granted or scope.has(p) for p in (Perm.VIEW_USERS, Perm.MANAGE_USERS))
        members = (
            scoped(scope, Membership).filter(account=account).select_related("user", "role").order_by("user__email")
            if show_members
            else scoped(scope, Membership).none()
        )
        return {
            "account": account,
            "columns": _columns(scope, account),
            "show_members": show_members,
            "members": members,
            "shared_with": services.shared_cost_center_accounts(account),
            "mo_number": _current_mo_number(scope, account),
            "can_manage": Perm.MANAGE_ACCOUNTS in granted and scope.has(Perm.MANAGE_ACCOUNTS),
            "is_current": scope.account is not None and scope.account.pk == account.pk,
        }


@customer_view(Perm.MANAGE_ACCOUNTS)
def account_edit(request: ScopedRequest, pk: int) -> HttpResponse:
    scope = request.scope
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
                    actor=actor_of(request),
                    name=form.cleaned_data["name"],
                    cost_center=form.cleaned_data["cost_center"],
                    office_hours_only=form.cleaned_data["office_hours_only"],
                    custom_columns=form.column_specs(),
                    confirm_column_changes=form.cleaned_data["confirm_column_changes"],
                )
                if form.cleaned_data["mo_number"] != current:
                    _set_mo_number(account, form.cleaned_data["mo_number"], actor=actor_of(request))
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


class _AccountAction(ConfirmView[Account]):
    def get_object(self) -> Account:
        return _account(self.request, self.kwargs["pk"], Perm.MANAGE_ACCOUNTS)

    def get_done_url(self, account: Account) -> str:
        return reverse("tenancy:account_detail", args=[account.pk])


@customer_view(Perm.MANAGE_ACCOUNTS)
class AccountDelete(_AccountAction):
    """Deletes an empty account; one that holds data is archived instead, and the question says so."""

    title = _("Delete %(name)s")

    def get_question(self, account: Account) -> str:
        held = account_data(account)
        if not account.is_active and held:
            return gettext("“%(name)s” is already archived and holds %(held)s; it stays archived.") % {
                "name": account.name,
                "held": _describe(held),
            }
        if held:
            return gettext(
                "“%(name)s” will be archived, not deleted: it holds %(held)s. An archived account cannot be "
                "used or switched to, but its data is kept and it can be restored."
            ) % {"name": account.name, "held": _describe(held)}
        return gettext("“%(name)s” holds no data and will be deleted permanently.") % {"name": account.name}

    def get_confirm_label(self, account: Account) -> str:
        return gettext("Archive account") if account_data(account) else gettext("Delete account")

    def act(self, account: Account) -> services.DeleteOutcome:
        return services.delete_account(account, actor=self.actor)

    def done(self, account: Account, outcome: services.DeleteOutcome) -> HttpResponseBase:
        if outcome.deleted:
            messages.success(self.request, gettext("Account “%(name)s” was deleted.") % {"name": account.name})
            return redirect("tenancy:accounts")
        messages.warning(
            self.request,
            gettext(
                "Account “%(name)s” was archived instead of deleted because it holds %(held)s. Nothing was "
                "lost; it can be restored from its page."
            )
            % {"name": account.name, "held": _describe(outcome.held)},
        )
        return redirect(self.get_done_url(account))


@customer_view(Perm.MANAGE_ACCOUNTS)
class AccountRestore(ActionView[Account], _AccountAction):
    done_message = _("Account “%(name)s” is active again.")

    def act(self, account: Account) -> Account:
        return services.restore_account(account, actor=self.actor)


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
def offices(request: ScopedRequest) -> HttpResponse:
    scope = request.scope
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


@customer_view(Perm.MANAGE_OFFICES)
class OfficeEdit(EditView[Office]):
    model = Office
    form_class = OfficeForm
    title = _("Edit %(name)s")
    add_title = _("Add office")
    success_message = _("Office “%(name)s” saved.")
    success_url = "tenancy:offices"

    def get_initial(self, office: Office) -> dict[str, Any]:
        return {"name": office.name, "address": office.address}

    def save(self, form: OfficeForm, office: Office | None) -> Office:
        data = form.cleaned_data
        return services.save_office(
            self.scope.customer, office, actor=self.actor, name=data["name"], address=data["address"]
        )


@customer_view(Perm.MANAGE_OFFICES)
class OfficeDelete(ConfirmView[Office]):
    model = Office
    title = _("Delete %(name)s")
    question = _(
        "Delete the office “%(name)s”? Users keep their accounts; teams of this office keep existing without an office."
    )
    confirm_label = _("Delete office")
    done_message = _("Office “%(name)s” deleted.")
    done_url = "tenancy:offices"

    def act(self, office: Office) -> None:
        services.delete_office(office, actor=self.actor)


@customer_view(Perm.MANAGE_OFFICES)
class TeamEdit(EditView[Team]):
    model = Team
    form_class = TeamForm
    title = _("Edit %(name)s")
    add_title = _("Add team")
    success_message = _("Team “%(name)s” saved.")
    success_url = "tenancy:offices"

    def get_initial(self, team: Team) -> dict[str, Any]:
        return {"name": team.name, "office": team.office_id}

    def get_form_kwargs(self, team: Team | None) -> dict[str, Any]:
        return {"offices": scoped(self.scope, Office)}

    def save(self, form: TeamForm, team: Team | None) -> Team:
        data = form.cleaned_data
        return services.save_team(self.scope.customer, team, actor=self.actor, name=data["name"], office=data["office"])


@customer_view(Perm.MANAGE_OFFICES)
class TeamDelete(ConfirmView[Team]):
    model = Team
    title = _("Delete %(name)s")
    question = _("Delete the team “%(name)s”? Its members stay, without a team.")
    confirm_label = _("Delete team")
    done_message = _("Team “%(name)s” deleted.")
    done_url = "tenancy:offices"

    def act(self, team: Team) -> None:
        services.delete_team(team, actor=self.actor)


# --- security ------------------------------------------------------------------------------------


@customer_view(Perm.MANAGE_SECURITY)
def security(request: ScopedRequest) -> HttpResponse:
    scope = request.scope
    customer = scope.customer
    client_ip = getattr(request, "client_ip", None)
    form = AllowlistForm(request.POST or None, initial={"entries": "\n".join(customer.ip_allowlist)})
    ask_confirm = False
    if request.method == "POST" and form.is_valid():
        try:
            services.set_ip_allowlist(
                customer,
                form.lines(),
                actor=actor_of(request),
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
