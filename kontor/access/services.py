"""Every write to users, roles, API keys and one-time links, including CSR onboarding."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tasks import task

from kontor.access.login import clear_email_failures, reset_request_allowed
from kontor.access.models import ApiKey, OneTimeToken, Role, User, hash_secret, normalise_email
from kontor.access.perms import BUILTIN_ROLES, CUSTOMER_PERMS, STAFF_ROLE_PERMS, Perm, StaffRole, parse_perms
from kontor.access.selectors import effective_perms, perms_in_account
from kontor.audit.models import AuditEntry
from kontor.audit.services import record, snapshot
from kontor.core import hotcache, validation
from kontor.core.context import origin
from kontor.core.errors import Conflict, ErrorCode, Forbidden, Invalid
from kontor.core.mail import send_on_commit
from kontor.tenancy.models import Account, Customer, Membership, Office, Team

USER_FIELDS = [
    "email",
    "first_name",
    "last_name",
    "phone",
    "time_zone",
    "is_master",
    "is_active",
    "primary_office",
    "additional_offices",
    "team",
    "staff_role",
]
PIN_RE = re.compile(r"^\d{4,8}$")
# The memo of API keys' scopes (kontor/api/core.py). Whatever takes something away from a key's creator
# forgets it, so that the key loses it at once in this process, not a memo lifetime later.
API_KEY_SCOPES = "apikey"
MASTER_BEYOND_KEYS = (
    "An API key cannot create, change, enable or disable a master user, nor grant master-user rights; "
    "a master user signed in can."
)
VERIFY_MAX_FAILURES_PER_HOUR = 5


# --- one-time links ------------------------------------------------------------------------------


def _issue_token(user: User, purpose: str) -> str:
    raw = secrets.token_urlsafe(32)
    OneTimeToken.objects.filter(user=user, purpose=purpose, used_at__isnull=True).update(used_at=timezone.now())
    OneTimeToken.objects.create(
        user=user,
        purpose=purpose,
        token_hash=hash_secret(raw),
        expires_at=timezone.now() + timedelta(hours=settings.KONTOR_ONE_TIME_LINK_HOURS),
    )
    return raw


def find_token(raw: str, purpose: str) -> OneTimeToken | None:
    """The token if it is valid now (unused, unexpired, for this purpose); None says nothing more."""
    token = (
        OneTimeToken.objects.select_related("user").filter(token_hash=hash_secret(raw or ""), purpose=purpose).first()
    )
    if token is None or not token.usable or not token.user.is_active:
        return None
    return token


def _send_welcome(user: User) -> None:
    raw = _issue_token(user, OneTimeToken.Purpose.WELCOME)
    send_on_commit(
        "access/mail/welcome",
        {"user": user, "path": f"/welcome/{raw}/", "hours": settings.KONTOR_ONE_TIME_LINK_HOURS},
        [user.email],
    )


# --- validation helpers --------------------------------------------------------------------------


def _person_fields(
    *,
    first_name: str,
    last_name: str,
    email: str,
    phone: str,
    time_zone: str,
    region: str | None,
    exclude_user: User | None = None,
) -> dict[str, str]:
    errors: list[Invalid] = []
    out: dict[str, str] = {}
    for key, label, value, max_length in (
        ("first_name", "First name", first_name, 80),
        ("last_name", "Last name", last_name, 80),
    ):
        try:
            out[key] = validation.required_text(value, field=key, label=label, max_length=max_length)
        except Invalid as exc:
            errors.append(exc)
    address = normalise_email(email)
    try:
        if len(address) > 254:
            raise ValidationError("too long")
        validate_email(address)
        clash = User.objects.filter(email__iexact=address)
        if exclude_user is not None:
            clash = clash.exclude(pk=exclude_user.pk)
        if clash.exists():
            errors.append(Invalid.field("email", "A user with this email already exists.", code=ErrorCode.DUPLICATE))
        out["email"] = address
    except ValidationError:
        errors.append(Invalid.field("email", f"“{email}” is not an email address."))
    if phone and phone.strip():
        try:
            out["phone"] = validation.e164(phone, region=region)
        except Invalid as exc:
            errors.append(exc)
    else:
        out["phone"] = ""
    try:
        out["time_zone"] = validation.time_zone(time_zone)
    except Invalid as exc:
        errors.append(exc)
    if errors:
        raise validation.merge(*errors)
    return out


# --- onboarding (CSR "Add Enterprise Account") ---------------------------------------------------


@dataclass(frozen=True)
class Onboarded:
    customer: Customer
    master: User
    account: Account


@transaction.atomic
def onboard_enterprise(
    *,
    actor: User,
    first_name: str,
    last_name: str,
    email: str,
    phone: str,
    time_zone: str,
    billing_id: str,
    company_name: str = "",
    country: str = "SE",
) -> Onboarded:
    """Create the customer, its first account and its master user, and mail the welcome link."""
    if Perm.STAFF_ONBOARD not in actor.staff_perms:
        raise Forbidden("Only provider staff with onboarding rights can add enterprise accounts.")
    errors: list[Invalid] = []
    person: dict[str, str] = {}
    try:
        person = _person_fields(
            first_name=first_name,
            last_name=last_name,
            email=email,
            phone=phone,
            time_zone=time_zone,
            region=country,
        )
    except Invalid as exc:
        errors.append(exc)
    try:
        billing = validation.required_text(
            billing_id, field="billing_id", label="Billing ID (any value, e.g. not_used)", max_length=100
        )
    except Invalid as exc:
        errors.append(exc)
    try:
        country_code = validation.country(country)
    except Invalid as exc:
        errors.append(exc)
    if errors:
        raise validation.merge(*errors)
    name = (company_name or "").strip() or f"{person['first_name']} {person['last_name']}"
    customer = Customer.objects.create(
        name=name[:200], billing_id=billing, time_zone=person["time_zone"], country=country_code
    )
    account = Account.objects.create(customer=customer, name="Main")
    master = User.objects.create_user(
        email=person["email"],
        first_name=person["first_name"],
        last_name=person["last_name"],
        phone=person["phone"],
        time_zone=person["time_zone"],
        customer=customer,
        is_master=True,
    )
    record(
        "customer.create",
        customer,
        actor=actor,
        customer=customer,
        after=snapshot(customer, ["name", "billing_id", "time_zone", "country", "status", "credit_mode"]),
    )
    record(
        "account.create",
        account,
        actor=actor,
        customer=customer,
        after={"name": account.name},
        account_id=account.pk,
    )
    record("user.create", master, actor=actor, customer=customer, after=snapshot(master, USER_FIELDS))
    _send_welcome(master)
    return Onboarded(customer=customer, master=master, account=account)


@transaction.atomic
def resend_welcome(user: User, *, actor: User) -> None:
    if user.has_usable_password() and user.has_pin:
        raise Conflict("This user has already completed the welcome set-up; send a password reset instead.")
    record("user.welcome_resent", user, actor=actor, customer=user.customer_id)
    _send_welcome(user)


@transaction.atomic
def complete_welcome(raw_token: str, *, password: str, pin: str, question: str, answer: str) -> User:
    token = find_token(raw_token, OneTimeToken.Purpose.WELCOME)
    if token is None:
        raise Invalid(
            "This link is invalid, has expired or has been used already. Ask your provider for a new one.",
            code=ErrorCode.TOKEN_INVALID,
        )
    token = OneTimeToken.objects.select_for_update().get(pk=token.pk)
    if not token.usable:
        raise Invalid("This link has been used already.", code=ErrorCode.TOKEN_INVALID)
    user = token.user
    fields: dict[str, list[str]] = {}
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        fields["password"] = list(exc.messages)
    if not PIN_RE.match((pin or "").strip()):
        fields["pin"] = ["The PIN must be 4 to 8 digits."]
    if not (question or "").strip():
        fields["question"] = ["Choose a security question."]
    elif len(question.strip()) > 200:
        fields["question"] = ["A question can be at most 200 characters."]
    if len(" ".join((answer or "").split())) < 2:
        fields["answer"] = ["Give an answer of at least 2 characters."]
    if fields:
        raise Invalid("Please correct the errors below.", fields=fields)
    user.set_password(password)
    user.set_pin(pin)
    user.security_question = question.strip()
    user.set_security_answer(answer)
    user.save()
    token.used_at = timezone.now()
    token.save(update_fields=["used_at", "updated_at"])
    record(
        "user.welcome_completed",
        user,
        actor=user,
        customer=user.customer_id,
        after={"password": "set", "pin": "set", "security_question": user.security_question},
    )
    return user


# --- password ------------------------------------------------------------------------------------


@task()
def password_reset_job(email: str) -> bool:
    """The worker's side of request_password_reset (send_password_reset, below)."""
    with origin("job"):
        return send_password_reset(email)


def request_password_reset(email: str, *, ip: str | None = None) -> None:
    """Queues the reset for the worker whatever the address: the answer, and its timing, are the same
    for known and unknown emails. The job mails a link only to an active user with that email. Requests
    over the per-email or per-address limit queue nothing, so nobody can flood an inbox through us."""
    address = normalise_email(email)[:254]
    if not reset_request_allowed(address, ip):
        return
    transaction.on_commit(lambda: password_reset_job.enqueue(address), robust=True)


@transaction.atomic
def send_password_reset(email: str) -> bool:
    """Mails a reset link if the email belongs to an active user; True if it did."""
    user = User.objects.filter(email__iexact=normalise_email(email), is_active=True).first()
    if user is None:
        return False
    raw = _issue_token(user, OneTimeToken.Purpose.RESET)
    record("user.password_reset_requested", user, actor=None, customer=user.customer_id)
    send_on_commit(
        "access/mail/password_reset",
        {"user": user, "path": f"/password/reset/{raw}/", "hours": settings.KONTOR_ONE_TIME_LINK_HOURS},
        [user.email],
    )
    return True


@transaction.atomic
def reset_password(raw_token: str, *, password: str) -> User:
    token = find_token(raw_token, OneTimeToken.Purpose.RESET)
    if token is None:
        raise Invalid("This link is invalid, has expired or has been used already.", code=ErrorCode.TOKEN_INVALID)
    token = OneTimeToken.objects.select_for_update().get(pk=token.pk)
    if not token.usable:  # used by a concurrent request while we waited for the lock
        raise Invalid("This link has been used already.", code=ErrorCode.TOKEN_INVALID)
    user = token.user
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise Invalid("Choose another password.", fields={"password": list(exc.messages)}) from None
    user.set_password(password)
    user.save(update_fields=["password"])
    token.used_at = timezone.now()
    token.save(update_fields=["used_at", "updated_at"])
    _end_sessions(user)
    clear_email_failures(user.email)
    record("user.password_reset", user, actor=user, customer=user.customer_id)
    return user


@transaction.atomic
def change_password(user: User, *, actor: User, old_password: str, new_password: str) -> User:
    if not user.check_password(old_password):
        raise Invalid.field("old_password", "Your current password is not correct.")
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as exc:
        raise Invalid("Choose another password.", fields={"new_password": list(exc.messages)}) from None
    user.set_password(new_password)
    user.save(update_fields=["password"])
    record("user.password_change", user, actor=actor, customer=user.customer_id)
    return user


def _end_sessions(user: User) -> int:
    """Delete every stored session of `user` (sessions are few enough per deployment to decode)."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()
            ended += 1
    return ended


# --- users ---------------------------------------------------------------------------------------


def _offices(customer: Customer, primary: Office | None, additional: Sequence[Office], team: Team | None) -> None:
    for office in [primary, *additional]:
        if office is not None and office.customer_id != customer.pk:
            raise Invalid.field("offices", "No such office.")
    if team is not None and team.customer_id != customer.pk:
        raise Invalid.field("team", "No such team.")


@transaction.atomic
def create_user(
    customer: Customer,
    *,
    actor: User,
    first_name: str,
    last_name: str,
    email: str,
    phone: str = "",
    time_zone: str | None = None,
    is_master: bool = False,
    primary_office: Office | None = None,
    additional_offices: Sequence[Office] = (),
    team: Team | None = None,
    memberships: Sequence[tuple[Account, Role]] = (),
    send_welcome: bool = True,
    within: frozenset[str] | None = None,
) -> User:
    """Add a user to the customer, with roles in accounts, and mail them the welcome link."""
    if is_master and within is not None:
        raise Forbidden(MASTER_BEYOND_KEYS)
    if is_master and not (actor.is_master or actor.is_staff):
        raise Forbidden("Only a master user can create another master user.")
    person = _person_fields(
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=phone,
        time_zone=time_zone or customer.time_zone,
        region=customer.country,
    )
    _offices(customer, primary_office, additional_offices, team)
    user = User.objects.create_user(
        customer=customer, is_master=is_master, primary_office=primary_office, team=team, **person
    )
    user.additional_offices.set([o for o in additional_offices if o != primary_office])
    record("user.create", user, actor=actor, customer=customer, after=snapshot(user, USER_FIELDS))
    for account, role in memberships:
        set_membership(account, user, role, actor=actor, within=within)
    if send_welcome:
        _send_welcome(user)
    return user


_UNSET = object()


@transaction.atomic
def update_user(
    user: User,
    *,
    actor: User,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    time_zone: str | None = None,
    is_master: bool | None = None,
    primary_office: Office | object | None = _UNSET,
    additional_offices: Sequence[Office] | None = None,
    team: Team | object | None = _UNSET,
    within: frozenset[str] | None = None,
) -> User:
    customer = user.customer
    assert customer is not None
    check_may_manage(actor, user, within)
    before = snapshot(user, USER_FIELDS)
    person = _person_fields(
        first_name=user.first_name if first_name is None else first_name,
        last_name=user.last_name if last_name is None else last_name,
        email=user.email if email is None else email,
        phone=user.phone if phone is None else phone,
        time_zone=user.time_zone if time_zone is None else time_zone,
        region=customer.country,
        exclude_user=user,
    )
    for key, value in person.items():
        setattr(user, key, value)
    if is_master is not None and is_master != user.is_master:
        if within is not None:
            raise Forbidden(MASTER_BEYOND_KEYS)
        if not (actor.is_master or actor.is_staff):
            raise Forbidden("Only a master user can grant or remove master-user rights.")
        if not is_master:
            _keep_one_master(user)
            hotcache.forget_on_commit(API_KEY_SCOPES)
        user.is_master = is_master
    new_primary = user.primary_office if primary_office is _UNSET else primary_office
    new_team = user.team if team is _UNSET else team
    extra = list(user.additional_offices.all()) if additional_offices is None else list(additional_offices)
    _offices(customer, new_primary, extra, new_team)  # type: ignore[arg-type]
    user.primary_office = new_primary  # type: ignore[assignment]
    user.team = new_team  # type: ignore[assignment]
    user.save()
    user.additional_offices.set([o for o in extra if o != new_primary])
    after = snapshot(user, USER_FIELDS)
    if after != before:
        record("user.update", user, actor=actor, customer=customer, before=before, after=after)
    return user


def check_may_manage(actor: User, user: User, within: frozenset[str] | None = None) -> None:
    """Who may change or disable `user`: provider staff; master users; the user themselves (their own
    profile); otherwise only someone holding 'Manage users' in every account `user` belongs to, with at
    least the permissions `user` has there, so 'Manage users' in one account is no key to another.

    An API key (`within`) is held to the same rule with its own permissions, in its own account only,
    whoever created it: not even its creator is exempt (a key that could change its creator's email
    would open the creator's whole account through a password reset), and master users are out of its
    reach altogether."""
    if within is not None:
        if user.is_master:
            raise Forbidden(MASTER_BEYOND_KEYS)
        if Perm.MANAGE_USERS.value not in within:
            raise Forbidden("This API key may not manage users.")
    elif actor.is_staff or actor.pk == user.pk or actor.is_master:
        return
    if user.is_master and not actor.is_master:
        raise Forbidden("Only a master user can change or disable a master user.")
    for membership in user.memberships.select_related("account", "role"):
        mine = effective_perms(actor, membership.account, within)
        if Perm.MANAGE_USERS not in mine:
            raise Forbidden(f"You need 'Manage users' in {membership.account.name} to change {user}.")
        if membership.role.perm_set - mine:
            raise Forbidden(f"{user} can do more in {membership.account.name} than you can; you cannot change them.")


def _keep_one_master(user: User) -> None:
    others = User.objects.filter(customer_id=user.customer_id, is_master=True, is_active=True).exclude(pk=user.pk)
    if not others.exists():
        raise Conflict("A customer must keep at least one active master user.")


@transaction.atomic
def set_user_active(user: User, active: bool, *, actor: User, within: frozenset[str] | None = None) -> User:
    """Disable (ending every session at once) or re-enable a user."""
    if user.is_active == active:
        return user
    check_may_manage(actor, user, within)
    if not active and user.pk == actor.pk:
        raise Conflict("You cannot disable yourself.")
    if not active and user.is_master:
        _keep_one_master(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    ended = 0 if active else _end_sessions(user)
    if not active:
        hotcache.forget_on_commit(API_KEY_SCOPES)
    record(
        "user.enable" if active else "user.disable",
        user,
        actor=actor,
        customer=user.customer_id,
        before={"is_active": not active},
        after={"is_active": active, "sessions_ended": ended},
    )
    return user


@transaction.atomic
def create_staff_user(
    *,
    actor: User | None,
    email: str,
    first_name: str,
    last_name: str,
    staff_role: str,
    password: str | None = None,
) -> User:
    if actor is not None and Perm.STAFF_MANAGE_STAFF not in actor.staff_perms:
        raise Forbidden("Only staff administrators can add staff users.")
    if staff_role not in {r.value for r in StaffRole}:
        raise Invalid.field("staff_role", f"“{staff_role}” is not a staff role.")
    person = _person_fields(
        first_name=first_name, last_name=last_name, email=email, phone="", time_zone="UTC", region=None
    )
    user = User.objects.create_user(is_staff=True, staff_role=staff_role, password=password, **person)
    record("user.create", user, actor=actor, customer=None, after=snapshot(user, USER_FIELDS))
    if password is None:
        _send_welcome(user)
    return user


# --- caller verification (CSR) -------------------------------------------------------------------


@transaction.atomic
def verify_caller(user: User, *, actor: User, pin: str = "", answer: str = "") -> bool:
    """Checks a caller's PIN or security answer without revealing either; every check is audited."""
    if Perm.STAFF_VERIFY_CALLER not in actor.staff_perms:
        raise Forbidden("You may not verify callers.")
    if not pin and not answer:
        raise Invalid.field("pin", "Enter the PIN or the answer the caller gives.")
    if pin and answer:
        raise Invalid.field("pin", "Check one thing at a time: the PIN or the answer, not both.")
    if pin and not user.has_pin:
        raise Conflict("This user has not set a PIN yet.")
    recent_failures = AuditEntry.objects.filter(
        action="user.caller_verification",
        object_id=str(user.pk),
        after__matched=False,
        created_at__gte=timezone.now() - timedelta(hours=1),
    ).count()
    if recent_failures >= VERIFY_MAX_FAILURES_PER_HOUR:
        # Guessing a 4-digit PIN over the phone must not be a matter of patience.
        raise Conflict(
            f"{recent_failures} failed verifications for this user in the last hour: verify the caller another "
            "way, or try again later.",
            code=ErrorCode.THROTTLED,
        )
    ok = user.check_pin(pin) if pin else user.check_security_answer(answer)
    record(
        "user.caller_verification",
        user,
        actor=actor,
        customer=user.customer_id,
        after={"method": "pin" if pin else "security_answer", "matched": ok},
    )
    return ok


# --- roles ---------------------------------------------------------------------------------------


@transaction.atomic
def save_role(
    customer: Customer,
    role: Role | None,
    *,
    actor: User,
    name: str,
    perms: Sequence[str],
    description: str = "",
    within: frozenset[str] | None = None,
) -> Role:
    if role is not None and role.is_builtin:
        raise Forbidden("Built-in roles cannot be changed; copy one into a custom role instead.")
    name = validation.required_text(name, field="name", label="Role name", max_length=80)
    try:
        perm_set = parse_perms(list(perms), allowed=CUSTOMER_PERMS)
    except ValueError as exc:
        raise Invalid.field("perms", f"{exc}.") from None
    if not perm_set:
        raise Invalid.field("perms", "Choose at least one permission.")
    if any(name.lower() == builtin[0].lower() for builtin in BUILTIN_ROLES.values()):
        raise Invalid.field("name", f"“{name}” is the name of a built-in role.", code=ErrorCode.DUPLICATE)
    clash = Role.objects.filter(customer=customer, name__iexact=name)
    if role is not None:
        clash = clash.exclude(pk=role.pk)
    if clash.exists():
        raise Invalid.field("name", f"A role named “{name}” already exists.", code=ErrorCode.DUPLICATE)
    _check_role_ceiling(customer, role, perm_set, actor=actor, within=within)
    before = {"name": role.name, "perms": sorted(role.perms), "description": role.description} if role else None
    obj = role or Role(customer=customer)
    obj.name, obj.description, obj.perms = (
        name,
        (description or "").strip()[:200],
        sorted(p.value for p in perm_set),
    )
    obj.save()
    if before is not None:
        hotcache.forget_on_commit(API_KEY_SCOPES)  # its members' keys may hold less now
    record(
        "role.update" if before else "role.create",
        obj,
        actor=actor,
        customer=customer,
        before=before,
        after={"name": obj.name, "perms": obj.perms, "description": obj.description},
    )
    return obj


def _check_role_ceiling(
    customer: Customer, role: Role | None, perms: frozenset[Perm], *, actor: User, within: frozenset[str] | None
) -> None:
    """Nobody defines a role beyond what they hold: not in any account where the role is in use (editing
    it changes what its members may do there), nor, for an unused role, anywhere they work."""
    if actor.is_staff or (actor.is_master and within is None):
        return
    accounts = list(Account.objects.filter(memberships__role=role).distinct()) if role is not None and role.pk else []
    if accounts:
        for account in accounts:
            beyond = perms - effective_perms(actor, account, within)
            if beyond:
                raise Forbidden(
                    f"The role is used in {account.name}, where you do not have "
                    f"{', '.join(sorted(p.label for p in beyond))}; you cannot add that to it."
                )
        return
    held: set[Perm] = set()
    for account in Account.objects.filter(customer=customer, memberships__user=actor).distinct():
        held |= effective_perms(actor, account, within)
    if actor.is_master:
        held |= {Perm(p) for p in (within or ())}
    beyond = perms - held
    if beyond:
        raise Forbidden(f"A role cannot hold permissions you lack: {', '.join(sorted(p.label for p in beyond))}.")


@transaction.atomic
def delete_role(role: Role, *, actor: User) -> None:
    if role.is_builtin:
        raise Forbidden("Built-in roles cannot be deleted.")
    in_use = role.memberships.count()
    if in_use:
        raise Conflict(f"{in_use} membership(s) use this role; give them another role first.")
    record(
        "role.delete",
        role,
        actor=actor,
        customer=role.customer_id,
        before={"name": role.name, "perms": role.perms},
    )
    role.delete()


# --- API keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once


@transaction.atomic
def create_api_key(
    account: Account, *, actor: User, name: str, perms: Sequence[str], within: frozenset[str] | None = None
) -> IssuedKey:
    name = validation.required_text(name, field="name", label="Key name", max_length=80)
    try:
        wanted = parse_perms(list(perms), allowed=CUSTOMER_PERMS)
    except ValueError as exc:
        raise Invalid.field("perms", f"{exc}.") from None
    if not wanted:
        raise Invalid.field("perms", "Choose at least one permission for the key.")
    mine = effective_perms(actor, account, within)
    beyond = wanted - mine
    if beyond:
        raise Forbidden(f"A key cannot have permissions you lack: {', '.join(sorted(p.label for p in beyond))}.")
    if not account.is_active:
        raise Conflict("This account is archived.", code=ErrorCode.ACCOUNT_ARCHIVED)
    full, prefix, digest = ApiKey.generate()
    key = ApiKey.objects.create(
        customer_id=account.customer_id,
        account=account,
        name=name,
        prefix=prefix,
        key_hash=digest,
        perms=sorted(p.value for p in wanted),
        created_by=actor,
    )
    record(
        "api_key.create",
        key,
        actor=actor,
        customer=account.customer_id,
        account_id=account.pk,
        after={"name": name, "prefix": prefix, "perms": key.perms},
    )
    return IssuedKey(key=key, secret=full)


@transaction.atomic
def revoke_api_key(key: ApiKey, *, actor: User) -> ApiKey:
    if key.revoked_at is not None:
        return key
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at", "updated_at"])
    hotcache.forget_on_commit(API_KEY_SCOPES)  # this process at once; others within its TTL
    record(
        "api_key.revoke",
        key,
        actor=actor,
        customer=key.customer_id,
        account_id=key.account_id,
        before={"revoked": False},
        after={"revoked": True},
    )
    return key


def authenticate_api_key(raw: str) -> ApiKey | None:
    parts = (raw or "").strip().split("_")
    if len(parts) < 3 or parts[0] != "kon":
        return None
    key = (
        ApiKey.objects.select_related("account", "account__customer", "created_by")
        .filter(prefix=parts[1], revoked_at__isnull=True)
        .first()
    )
    if key is None or not secrets.compare_digest(key.key_hash, hash_secret(raw.strip())):
        return None
    if not key.account.is_active or not key.account.customer.is_active:
        return None
    if key.created_by is None or not key.created_by.is_active:
        return None  # a key acts for its creator; a disabled (or removed) creator takes it down too
    now = timezone.now()
    # last-used is informational: write it at most once a minute per key, off the hot path's lock.
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def grantable_staff_roles() -> list[tuple[str, str]]:
    return [(r.value, r.label) for r in STAFF_ROLE_PERMS]


# --- memberships ---------------------------------------------------------------------------------


def _check_role(customer_id: int, role: Role, actor: User) -> None:
    if role.customer_id not in (None, customer_id):
        raise Invalid.field("role", "No such role.")
    if role.slug == "master":
        raise Invalid.field("role", "The Master user role comes with the master-user flag; set that instead.")


@transaction.atomic
def set_membership(
    account: Account, user: User, role: Role, *, actor: User, within: frozenset[str] | None = None
) -> Membership:
    """Give `user` access to `account` with `role`, or change the role they have there."""
    if user.customer_id != account.customer_id:
        raise Invalid.field("user", "No such user.")
    if not account.is_active:
        raise Conflict("This account is archived.", code=ErrorCode.ACCOUNT_ARCHIVED)
    _check_role(account.customer_id, role, actor)
    granted = effective_perms(actor, account, within)
    _check_manages_users(actor, account, user, granted, api_key=within is not None)
    missing = role.perm_set - granted
    if not actor.is_staff and missing and not (actor.is_master and within is None):
        raise Forbidden(
            f"You cannot grant the role “{role.name}” in {account.name}: it includes permissions you do not "
            f"have there ({', '.join(sorted(p.label for p in missing))})."
        )
    membership = Membership.objects.filter(account=account, user=user).first()
    if membership is not None and membership.role_id == role.pk:
        return membership
    before = {"role": membership.role.name} if membership else None
    try:
        with transaction.atomic():
            if membership is None:
                membership = Membership.objects.create(
                    customer_id=account.customer_id, account=account, user=user, role=role
                )
            else:
                membership.role = role
                membership.save(update_fields=["role", "updated_at"])
    except IntegrityError:
        raise Conflict("That membership changed meanwhile; try again.") from None
    if before is not None:
        hotcache.forget_on_commit("apikey")  # the user's keys may hold less now (kontor/access/services.py)
    record(
        "membership.update" if before else "membership.create",
        membership,
        actor=actor,
        customer=account.customer_id,
        before=before,
        after={"user": user.email, "account": account.name, "role": role.name},
        account_id=account.pk,
    )
    return membership


def _check_manages_users(
    actor: User, account: Account, user: User, granted: frozenset | None = None, *, api_key: bool = False
) -> None:
    """Memberships of an account are changed by staff, master users, or whoever holds 'Manage users'
    in that very account; a master user's access is a master user's business."""
    if actor.is_staff or (actor.is_master and not api_key):
        return
    if user.is_master and (api_key or not actor.is_master):
        raise Forbidden("Only a master user, signed in, can change a master user's access.")
    granted = granted if granted is not None else perms_in_account(actor, account)
    if Perm.MANAGE_USERS not in granted:
        raise Forbidden(f"You need 'Manage users' in {account.name} to change who can use it.")
    # Demoting or removing someone who can do more there than you is acting beyond yourself too.
    current = Membership.objects.filter(account=account, user=user).select_related("role").first()
    if current is not None and current.role.perm_set - granted:
        raise Forbidden(f"{user} can do more in {account.name} than you can; you cannot change their access.")


@transaction.atomic
def remove_membership(membership: Membership, *, actor: User, within: frozenset[str] | None = None) -> None:
    granted = effective_perms(actor, membership.account, within)
    _check_manages_users(actor, membership.account, membership.user, granted, api_key=within is not None)
    record(
        "membership.delete",
        membership,
        actor=actor,
        customer=membership.customer_id,
        before={
            "user": membership.user.email,
            "account": membership.account.name,
            "role": membership.role.name,
        },
        account_id=membership.account_id,
    )
    membership.delete()
    hotcache.forget_on_commit("apikey")  # the user's keys lose this account's permissions at once
