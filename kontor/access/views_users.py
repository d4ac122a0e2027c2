"""The customer's users: list and export, add, detail and edit, memberships, disable/enable, welcome."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from kontor.access import services
from kontor.access.filters import UserFilter
from kontor.access.forms import MembershipAddForm, MembershipRoleForm, UserForm
from kontor.access.login import password_confirms
from kontor.access.models import Role, User, normalise_email
from kontor.access.perms import CUSTOMER_PERMS, Perm
from kontor.access.requests import ScopedRequest, actor_of
from kontor.access.selectors import accounts_for, perms_in_account
from kontor.access.tables import UserTable
from kontor.core.errors import DomainError, Forbidden, Invalid
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.tenancy.models import Account, Membership, Office, Team
from kontor.web.decorators import customer_view
from kontor.web.generic import ActionView, ConfirmView, DetailView, EditView, Link, ListView


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
class UserList(ListView):
    title = _("Users")
    table_class = UserTable
    filterset_class = UserFilter
    actions = [Link(_("Add user"), "access:user_add", Perm.MANAGE_USERS)]
    export_url = "access:users_export"
    export_filename = "users.csv"

    def get_intro(self) -> str:
        return gettext("Everyone who can sign in to %(name)s, with their roles per account.") % {
            "name": self.scope.customer.name
        }

    def get_queryset(self) -> QuerySet[User]:
        return _users(self.scope)


class _UserForm(EditView[User]):
    form_class = UserForm
    template_name = "access/user_form.html"
    with_accounts = False  # memberships are chosen on a new user's form, later on their page

    def get_form_kwargs(self, person: User | None) -> dict[str, Any]:
        scope, actor = self.scope, self.actor
        accounts = []
        if self.with_accounts:
            roles = _offerable_roles(scope)
            accounts = [(a, _grantable_roles(scope, roles, have)) for a, have in _managed_accounts(scope, actor)]
        return {
            "offices": scoped(scope, Office),
            "teams": scoped(scope, Team),
            "may_set_master": actor.is_master,
            "accounts": accounts,
        }

    def check_reauthenticated(self, form: UserForm, person: User | None) -> None:
        data = form.cleaned_data
        if _touches_master(self.actor, person, data, form) and not _reauthenticated(
            self.actor, data.get("current_password")
        ):
            raise Invalid.field("current_password", REAUTH_WRONG)

    def get_success_url(self, person: User) -> str:
        return reverse("access:user_detail", args=[person.pk])


@customer_view(Perm.MANAGE_USERS)
class UserAdd(_UserForm):
    with_accounts = True
    add_title = _("Add user")
    submit = _("Add user")
    success_message = _("%(full_name)s has been added and will get a welcome email.")
    cancel_url = "access:users"

    def get_add_initial(self) -> dict[str, Any]:
        return {"time_zone": self.scope.customer.time_zone}

    def save(self, form: UserForm, person: User | None) -> User:
        self.check_reauthenticated(form, None)
        data = form.cleaned_data
        return services.create_user(
            self.scope.customer,
            actor=self.actor,
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


@customer_view(any_of=(Perm.VIEW_USERS, Perm.MANAGE_USERS))
class UserDetail(DetailView[User]):
    template_name = "access/user_detail.html"

    def get_object(self) -> User:
        return get_scoped(self.scope, _users(self.scope), pk=self.kwargs["pk"])

    def get_context(self, person: User) -> dict[str, Any]:
        scope, actor = self.scope, self.actor
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
        free = [a for pk_, (a, _have) in managed.items() if pk_ not in {m.account_id for m, _form in rows}]
        add_form = None
        if free:
            add_form = MembershipAddForm(
                accounts=scoped(scope, Account).filter(pk__in=[a.pk for a in free]),
                roles=scoped(scope, Role).exclude(customer__isnull=True, slug="master"),
            )
        return {
            "person": person,
            "rows": rows,
            "add_form": add_form,
            "can_manage": can_manage,
            "welcome_pending": not (person.has_usable_password() and person.has_pin),
            "offices": list(person.additional_offices.all()),
        }


@customer_view(Perm.MANAGE_USERS)
class UserEdit(_UserForm):
    title = _("Edit %(full_name)s")
    submit = _("Save")
    success_message = _("%(full_name)s has been saved.")

    def get_object(self) -> User:
        person = get_scoped(self.scope, User, pk=self.kwargs["pk"])
        _check_may_change(self.actor, person)
        return person

    def get_initial(self, person: User) -> dict[str, Any]:
        return {
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

    def get_cancel_url(self, person: User | None) -> str:
        assert person is not None
        return self.get_success_url(person)

    def save(self, form: UserForm, person: User | None) -> User:
        assert person is not None
        self.check_reauthenticated(form, person)
        data = form.cleaned_data
        services.update_user(
            person,
            actor=self.actor,
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
        return person


def _membership_account(request: ScopedRequest, account: Account) -> Account:
    """The account, if the actor may manage users in it (a 403 otherwise)."""
    if Perm.MANAGE_USERS not in perms_in_account(actor_of(request), account):
        raise Forbidden(f"You cannot manage users in {account.name}.")
    return account


def _set_membership(request: ScopedRequest, account: Account, person: User, role: Role, done: str) -> HttpResponse:
    """Give `person` `role` in `account` (the service checks the rules again); say how it went on their page."""
    try:
        services.set_membership(account, person, role, actor=actor_of(request))
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, done % {"person": person.full_name, "role": role.name, "account": account.name})
    return redirect("access:user_detail", pk=person.pk)


@customer_view(Perm.MANAGE_USERS)
@require_POST
def membership_add(request: ScopedRequest, pk: int) -> HttpResponse:
    scope, actor = request.scope, actor_of(request)
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
    done = gettext("%(person)s now has access to %(account)s.")
    return _set_membership(request, account, person, form.cleaned_data["role"], done)


@customer_view(Perm.MANAGE_USERS)
@require_POST
def membership_role(request: ScopedRequest, pk: int, mpk: int) -> HttpResponse:
    scope, actor = request.scope, actor_of(request)
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
    role = form.cleaned_data["role"]
    done = gettext("%(person)s is now %(role)s in %(account)s.")
    return _set_membership(request, account, person, role, done)


@customer_view(Perm.MANAGE_USERS)
class MembershipRemove(ConfirmView[Membership]):
    title = _("Remove access")
    question = _("Remove %(user.full_name)s's access to %(account.name)s (role %(role.name)s)?")
    confirm_label = _("Remove access")
    done_message = _("%(user.full_name)s no longer has access to %(account.name)s.")

    def get_object(self) -> Membership:
        scope = self.scope
        person = get_scoped(scope, User, pk=self.kwargs["pk"])
        memberships = scoped(scope, Membership).filter(user=person).select_related("user", "account", "role")
        membership = get_scoped(scope, memberships, pk=self.kwargs["mpk"])
        _check_master_rule(self.actor, person)
        _membership_account(self.request, membership.account)
        return membership

    def get_done_url(self, membership: Membership) -> str:
        return reverse("access:user_detail", args=[membership.user_id])

    def act(self, membership: Membership) -> None:
        services.remove_membership(membership, actor=self.actor)


@customer_view(Perm.MANAGE_USERS)
@require_http_methods(["GET", "POST"])
def user_set_active(request: ScopedRequest, pk: int, active: bool) -> HttpResponse:
    scope, actor = request.scope, actor_of(request)
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
class UserResendWelcome(ActionView[User]):
    done_message = _("A new welcome link has been mailed to %(email)s; older links no longer work.")

    def get_object(self) -> User:
        person = get_scoped(self.scope, User, pk=self.kwargs["pk"])
        _check_may_change(self.actor, person)
        return person

    def get_done_url(self, person: User) -> str:
        return reverse("access:user_detail", args=[person.pk])

    def act(self, person: User) -> None:
        services.resend_welcome(person, actor=self.actor)
