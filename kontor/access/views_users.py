"""The customer's users: list and export, add, detail and edit, memberships, disable/enable, welcome."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from kontor.access import services
from kontor.access.filters import UserFilter
from kontor.access.forms import MembershipAddForm, MembershipRoleForm, UserForm
from kontor.access.login import password_confirms
from kontor.access.models import Role, User, normalise_email
from kontor.access.perms import CUSTOMER_PERMS, Perm
from kontor.access.selectors import accounts_for, perms_in_account
from kontor.access.tables import UserTable
from kontor.core.errors import DomainError, Forbidden
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.tenancy.models import Account, Membership, Office, Team
from kontor.web.decorators import customer_view
from kontor.web.lists import Action, export_csv, form_errors_from, list_page


def _scope(request: HttpRequest) -> Scope:
    return request.scope  # type: ignore[attr-defined,no-any-return]


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _users(scope: Scope) -> QuerySet[User]:
    return (
        scoped(scope, User)
        .select_related("primary_office", "team")
        .prefetch_related("memberships__account", "memberships__role")
    )


def _offerable_roles(scope: Scope) -> list[Role]:
    """Every role that may be handed out (all but Master user), read once per request."""
    return list(scoped(scope, Role).exclude(customer__isnull=True, slug="master").order_by("customer_id", "name"))


def _grantable_roles(scope: Scope, roles: list[Role], have: frozenset[Perm]) -> QuerySet[Role]:
    """Of `roles`, those the actor may hand out where they hold `have`: none beyond their own permissions.
    Computed in Python, so many accounts cost no extra role queries."""
    ids = [r.pk for r in roles if r.perm_set <= have]
    return scoped(scope, Role).filter(pk__in=ids).order_by("customer_id", "name")


def _managed_accounts(scope: Scope, actor: User) -> list[tuple[Account, frozenset[Perm]]]:
    """Accounts in which the actor may manage users (all of them for a master user), each with the
    actor's permissions there; two queries, however many accounts."""
    accounts = list(accounts_for(actor))
    if actor.is_master:
        return [(a, CUSTOMER_PERMS) for a in accounts]
    held = {
        m.account_id: m.role.perm_set for m in scoped(scope, Membership).filter(user_id=actor.pk).select_related("role")
    }
    pairs = [(a, held.get(a.pk, frozenset[Perm]())) for a in accounts]
    return [(a, have) for a, have in pairs if Perm.MANAGE_USERS in have]


def _error_text(exc: DomainError) -> str:
    details = [message for messages_ in exc.fields.values() for message in messages_]
    return " ".join(details) if details else exc.message


REAUTH_WRONG = "Your password is not correct; master-user changes need it."


def _reauthenticated(actor: User, raw: str | None) -> bool:
    return password_confirms(actor, raw)


def _touches_master(actor: User, person: User | None, data: dict[str, Any], form: UserForm) -> bool:
    if "is_master" in form.fields and bool(data.get("is_master")) != bool(person and person.is_master):
        return True
    if person is not None and person.is_master and person.pk != actor.pk:
        return normalise_email(data.get("email") or "") != person.email
    return False


def _check_master_rule(actor: User, target: User) -> None:
    # Master users hold everything; only another master user may change one's access. The rest of the
    # membership rules (manage users in that very account) are the service's, per account.
    if target.is_master and not actor.is_master:
        raise Forbidden("Only a master user can change a master user.")


def _check_may_change(actor: User, target: User) -> None:
    """Refuse (403) before showing a form the service would refuse anyway: only a master user changes a
    master user, and 'Manage users' in one account is no key to a user who also works elsewhere."""
    _check_master_rule(actor, target)
    services.check_may_manage(actor, target)


def _may_change(actor: User, target: User) -> bool:
    try:
        _check_may_change(actor, target)
    except Forbidden:
        return False
    return True


@customer_view(any_of=(Perm.VIEW_USERS, Perm.MANAGE_USERS))
def user_list(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    actions = [Action("Add user", reverse("access:user_add"))] if scope.has(Perm.MANAGE_USERS) else []
    return list_page(
        request,
        title="Users",
        queryset=_users(scope),
        table_class=UserTable,
        filterset_class=UserFilter,
        actions=actions,
        export_url=reverse("access:users_export"),
        intro=f"Everyone who can sign in to {scope.customer.name}, with their roles per account.",
    )


@customer_view(any_of=(Perm.VIEW_USERS, Perm.MANAGE_USERS))
def user_export(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)

    def accounts(user: User) -> str:
        roles = [f"{m.account.name}: {m.role.name}" for m in user.memberships.all()]
        return "; ".join((["All accounts: Master user"] if user.is_master else []) + roles)

    return export_csv(  # type: ignore[return-value]  # a streamed response
        request,
        queryset=_users(scope),
        filterset_class=UserFilter,
        filename="users.csv",
        columns=[
            ("first_name", lambda u: u.first_name),
            ("last_name", lambda u: u.last_name),
            ("email", lambda u: u.email),
            ("phone", lambda u: u.phone),
            ("master", lambda u: "yes" if u.is_master else "no"),
            ("active", lambda u: "yes" if u.is_active else "no"),
            ("primary_office", lambda u: u.primary_office.name if u.primary_office else ""),
            ("team", lambda u: u.team.name if u.team else ""),
            ("accounts", accounts),
        ],
    )


def _user_form(request: HttpRequest, *, with_accounts: bool, **kwargs: Any) -> UserForm:
    scope, actor = _scope(request), _actor(request)
    accounts = []
    if with_accounts:
        roles = _offerable_roles(scope)
        accounts = [(a, _grantable_roles(scope, roles, have)) for a, have in _managed_accounts(scope, actor)]
    return UserForm(
        request.POST or None,
        offices=scoped(scope, Office),
        teams=scoped(scope, Team),
        may_set_master=actor.is_master,
        accounts=accounts,
        **kwargs,
    )


@customer_view(Perm.MANAGE_USERS)
@require_http_methods(["GET", "POST"])
def user_add(request: HttpRequest) -> HttpResponse:
    scope, actor = _scope(request), _actor(request)
    form = _user_form(request, with_accounts=True, initial={"time_zone": scope.customer.time_zone})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if _touches_master(actor, None, data, form) and not _reauthenticated(actor, data.get("current_password")):
            form.add_error("current_password", REAUTH_WRONG)
            return render(
                request,
                "access/user_form.html",
                {"form": form, "title": "Add user", "submit": "Add user", "cancel_url": reverse("access:users")},
            )
        try:
            user = services.create_user(
                scope.customer,
                actor=actor,
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
                phone=data["phone"],
                time_zone=data["time_zone"],
                is_master=bool(data.get("is_master")),
                primary_office=data["primary_office"],
                additional_offices=list(data["additional_offices"]),
                team=data["team"],
                memberships=form.memberships(),
            )
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"{user.full_name} has been added and will get a welcome email.")
            return redirect("access:user_detail", pk=user.pk)
    return render(
        request,
        "access/user_form.html",
        {"form": form, "title": "Add user", "submit": "Add user", "cancel_url": reverse("access:users")},
    )


@customer_view(any_of=(Perm.VIEW_USERS, Perm.MANAGE_USERS))
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope, actor = _scope(request), _actor(request)
    person = get_scoped(scope, _users(scope), pk=pk)
    can_manage = scope.has(Perm.MANAGE_USERS) and _may_change(actor, person)
    managed = {a.pk: (a, have) for a, have in _managed_accounts(scope, actor)} if can_manage else {}
    roles = _offerable_roles(scope) if managed else []
    rows = []
    for membership in person.memberships.all():
        found = managed.get(membership.account_id)
        form = None
        if found is not None:
            form = MembershipRoleForm(
                initial={"role": membership.role_id},
                roles=_grantable_roles(scope, roles, found[1]),
                prefix=f"m{membership.pk}",
            )
        rows.append((membership, form))
    free = [a for pk_, (a, _) in managed.items() if pk_ not in {m.account_id for m, _ in rows}]
    add_form = None
    if free:
        add_form = MembershipAddForm(
            accounts=scoped(scope, Account).filter(pk__in=[a.pk for a in free]),
            roles=scoped(scope, Role).exclude(customer__isnull=True, slug="master"),
        )
    return render(
        request,
        "access/user_detail.html",
        {
            "person": person,
            "rows": rows,
            "add_form": add_form,
            "can_manage": can_manage,
            "welcome_pending": not (person.has_usable_password() and person.has_pin),
            "offices": list(person.additional_offices.all()),
        },
    )


@customer_view(Perm.MANAGE_USERS)
@require_http_methods(["GET", "POST"])
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scope, actor = _scope(request), _actor(request)
    person = get_scoped(scope, User, pk=pk)
    _check_may_change(actor, person)
    initial = {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "phone": person.phone,
        "time_zone": person.time_zone,
        "is_master": person.is_master,
        "primary_office": person.primary_office_id,
        "additional_offices": [o.pk for o in person.additional_offices.all()],
        "team": person.team_id,
    }
    form = _user_form(request, with_accounts=False, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if _touches_master(actor, person, data, form) and not _reauthenticated(actor, data.get("current_password")):
            form.add_error("current_password", REAUTH_WRONG)
        else:
            try:
                services.update_user(
                    person,
                    actor=actor,
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    email=data["email"],
                    phone=data["phone"],
                    time_zone=data["time_zone"],
                    is_master=data["is_master"] if "is_master" in form.fields else None,
                    primary_office=data["primary_office"],
                    additional_offices=list(data["additional_offices"]),
                    team=data["team"],
                )
            except DomainError as exc:
                form_errors_from(form, exc)
            else:
                messages.success(request, f"{person.full_name} has been saved.")
                return redirect("access:user_detail", pk=person.pk)
    detail = reverse("access:user_detail", args=[person.pk])
    return render(
        request,
        "access/user_form.html",
        {"form": form, "title": f"Edit {person.full_name}", "submit": "Save", "cancel_url": detail},
    )


def _membership_account(request: HttpRequest, account: Account) -> Account:
    """The account, if the actor may manage users in it (a 403 otherwise)."""
    if Perm.MANAGE_USERS not in perms_in_account(_actor(request), account):
        raise Forbidden(f"You cannot manage users in {account.name}.")
    return account


@customer_view(Perm.MANAGE_USERS)
@require_POST
def membership_add(request: HttpRequest, pk: int) -> HttpResponse:
    scope, actor = _scope(request), _actor(request)
    person = get_scoped(scope, User, pk=pk)
    _check_master_rule(actor, person)
    form = MembershipAddForm(
        request.POST,
        accounts=scoped(scope, Account).filter(status=Account.Status.ACTIVE),
        roles=scoped(scope, Role).exclude(customer__isnull=True, slug="master"),
    )
    if not form.is_valid():
        messages.error(request, "Choose an account and a role.")
        return redirect("access:user_detail", pk=person.pk)
    account = _membership_account(request, form.cleaned_data["account"])
    try:
        services.set_membership(account, person, form.cleaned_data["role"], actor=actor)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"{person.full_name} now has access to {account.name}.")
    return redirect("access:user_detail", pk=person.pk)


@customer_view(Perm.MANAGE_USERS)
@require_POST
def membership_role(request: HttpRequest, pk: int, mpk: int) -> HttpResponse:
    scope, actor = _scope(request), _actor(request)
    person = get_scoped(scope, User, pk=pk)
    membership = get_scoped(scope, scoped(scope, Membership).filter(user=person), pk=mpk)
    _check_master_rule(actor, person)
    account = _membership_account(request, membership.account)
    form = MembershipRoleForm(
        request.POST, roles=scoped(scope, Role).exclude(customer__isnull=True, slug="master"), prefix=f"m{mpk}"
    )
    if not form.is_valid():
        messages.error(request, "Choose a role.")
        return redirect("access:user_detail", pk=person.pk)
    try:
        services.set_membership(account, person, form.cleaned_data["role"], actor=actor)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"{person.full_name} is now {form.cleaned_data['role'].name} in {account.name}.")
    return redirect("access:user_detail", pk=person.pk)


@customer_view(Perm.MANAGE_USERS)
@require_http_methods(["GET", "POST"])
def membership_remove(request: HttpRequest, pk: int, mpk: int) -> HttpResponse:
    scope, actor = _scope(request), _actor(request)
    person = get_scoped(scope, User, pk=pk)
    membership = get_scoped(
        scope, scoped(scope, Membership).filter(user=person).select_related("account", "role"), pk=mpk
    )
    _check_master_rule(actor, person)
    account = _membership_account(request, membership.account)
    detail = reverse("access:user_detail", args=[person.pk])
    if request.method == "POST":
        try:
            services.remove_membership(membership, actor=actor)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{person.full_name} no longer has access to {account.name}.")
        return redirect(detail)
    return render(
        request,
        "web/confirm.html",
        {
            "title": "Remove access",
            "question": f"Remove {person.full_name}'s access to {account.name} (role {membership.role.name})?",
            "confirm_label": "Remove access",
            "cancel_url": detail,
        },
    )


@customer_view(Perm.MANAGE_USERS)
@require_http_methods(["GET", "POST"])
def user_set_active(request: HttpRequest, pk: int, active: bool) -> HttpResponse:
    scope, actor = _scope(request), _actor(request)
    person = get_scoped(scope, User, pk=pk)
    _check_may_change(actor, person)
    detail = reverse("access:user_detail", args=[person.pk])
    reauth = person.is_master and person.pk != actor.pk
    error = ""
    if request.method == "POST":
        if reauth and not _reauthenticated(actor, request.POST.get("current_password")):
            error = REAUTH_WRONG
        else:
            try:
                services.set_user_active(person, active, actor=actor)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                state = "enabled" if active else "disabled; their sessions have ended"
                messages.success(request, f"{person.full_name} has been {state}.")
            return redirect(detail)
    if active:
        question = f"Enable {person.full_name} ({person.email}) again? They can sign in at once."
    else:
        question = (
            f"Disable {person.full_name} ({person.email})? They are signed out everywhere at once and "
            "cannot sign in until enabled again; API keys they created lose their permissions meanwhile."
        )
    return render(
        request,
        "access/user_set_active.html",
        {
            "title": "Enable user" if active else "Disable user",
            "question": question,
            "confirm_label": "Enable" if active else "Disable",
            "cancel_url": detail,
            "reauth": reauth,
            "error": error,
        },
    )


@customer_view(Perm.MANAGE_USERS)
@require_POST
def user_resend_welcome(request: HttpRequest, pk: int) -> HttpResponse:
    scope, actor = _scope(request), _actor(request)
    person = get_scoped(scope, User, pk=pk)
    _check_may_change(actor, person)
    try:
        services.resend_welcome(person, actor=actor)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"A new welcome link has been mailed to {person.email}; older links no longer work.")
    return redirect("access:user_detail", pk=person.pk)
