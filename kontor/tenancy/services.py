"""Every write to customers, accounts, custom columns, offices and teams. Memberships (who may do what in
an account) are access's: kontor/access/services.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from kontor.audit.services import record, snapshot
from kontor.core import validation
from kontor.core.errors import Conflict, ErrorCode, Invalid
from kontor.core.netaddr import address_allowed, parse_network
from kontor.tenancy import columns as column_changes
from kontor.tenancy.models import (
    MAX_CUSTOM_COLUMNS,
    Account,
    CostCenter,
    CreditMode,
    CustomColumn,
    Customer,
    Feature,
    Membership,
    Office,
    Team,
)
from kontor.tenancy.registry import account_data

if TYPE_CHECKING:
    from kontor.access.models import User

_KEEP = object()  # "leave unchanged" where None is a meaningful value
CUSTOMER_FIELDS = ["name", "billing_id", "time_zone", "country", "status", "credit_mode"]
ACCOUNT_FIELDS = ["name", "cost_center", "office_hours_only", "status"]


# --- customers -----------------------------------------------------------------------------------


@transaction.atomic
def update_customer(
    customer: Customer,
    *,
    actor: User,
    name: str | None = None,
    billing_id: str | None = None,
    time_zone: str | None = None,
    country: str | None = None,
    status: str | None = None,
) -> Customer:
    before = snapshot(customer, CUSTOMER_FIELDS)
    if name is not None:
        customer.name = validation.required_text(name, field="name", label="Company name", max_length=200)
    if billing_id is not None:
        customer.billing_id = validation.required_text(
            billing_id, field="billing_id", label="Billing ID", max_length=100
        )
    if time_zone is not None:
        customer.time_zone = validation.time_zone(time_zone)
    if country is not None:
        customer.country = validation.country(country)
    if status is not None:
        if status not in Customer.Status.values:
            raise Invalid.field("status", f"“{status}” is not a customer status.")
        customer.status = status
    after = snapshot(customer, CUSTOMER_FIELDS)
    if after == before:
        return customer
    customer.save()
    record("customer.update", customer, actor=actor, customer=customer, before=before, after=after)
    return customer


@transaction.atomic
def set_credit_mode(customer: Customer, mode: str, *, actor: User) -> Customer:
    if mode not in CreditMode.values:
        raise Invalid.field("credit_mode", f"“{mode}” is not a credit mode.")
    if customer.credit_mode == mode:
        return customer
    before = {"credit_mode": customer.credit_mode}
    customer.credit_mode = mode
    customer.save(update_fields=["credit_mode", "updated_at"])
    record(
        "customer.credit_mode",
        customer,
        actor=actor,
        customer=customer,
        before=before,
        after={"credit_mode": mode},
    )
    return customer


@transaction.atomic
def set_features(customer: Customer, codes: Sequence[str], *, actor: User) -> Customer:
    wanted = set(codes)
    features = list(Feature.objects.filter(code__in=wanted))
    unknown = wanted - {f.code for f in features}
    if unknown:
        raise Invalid.field("features", f"Unknown feature: {', '.join(sorted(unknown))}.")
    before = sorted(customer.features.values_list("code", flat=True))
    if before == sorted(wanted):
        return customer
    customer.features.set(features)
    record(
        "customer.features",
        customer,
        actor=actor,
        customer=customer,
        before={"features": before},
        after={"features": sorted(wanted)},
    )
    return customer


@transaction.atomic
def set_ip_allowlist(
    customer: Customer,
    entries: Sequence[str],
    *,
    actor: User,
    current_ip: str | None,
    confirm_lockout: bool = False,
) -> Customer:
    """Replace the allowlist. A list that would shut out the address this change comes from is only
    saved with `confirm_lockout`, so nobody locks their own organisation out by a slip."""
    networks: list[str] = []
    errors: list[str] = []
    for line_no, raw in enumerate(entries, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            net = str(parse_network(text))
        except ValueError as exc:
            errors.append(f"Entry {line_no}: {exc}.")
            continue
        if net not in networks:
            networks.append(net)
    if errors:
        raise Invalid("The allowlist has invalid entries.", fields={"entries": errors})
    if len(networks) > 200:
        raise Invalid.field("entries", "An allowlist can hold at most 200 entries.")
    excludes_me = bool(networks) and actor.customer_id == customer.pk and not address_allowed(current_ip, networks)
    if excludes_me and not confirm_lockout:
        raise Conflict(
            f"This list does not include your current address ({current_ip or 'unknown'}): saving it would "
            "log you out and keep you out. Add your address, or confirm that you mean it.",
            code=ErrorCode.LOCKOUT_RISK,
            fields={"entries": [f"Your current address {current_ip or '(unknown)'} is not in the list."]},
        )
    before = list(customer.ip_allowlist)
    if before == networks:
        return customer
    customer.ip_allowlist = networks
    customer.save(update_fields=["ip_allowlist", "updated_at"])
    record(
        "customer.ip_allowlist",
        customer,
        actor=actor,
        customer=customer,
        before={"ip_allowlist": before},
        after={"ip_allowlist": networks},
    )
    return customer


# --- cost centers and features (provider catalogue) ----------------------------------------------


@transaction.atomic
def save_cost_center(
    cost_center: CostCenter | None, *, actor: User, code: str, name: str, customer: Customer | None
) -> CostCenter:
    code = validation.required_text(code, field="code", label="Code", max_length=32)
    name = validation.required_text(name, field="name", label="Name", max_length=120)
    clash = CostCenter.objects.filter(code__iexact=code)
    if cost_center is not None:
        clash = clash.exclude(pk=cost_center.pk)
    if clash.exists():
        raise Invalid.field("code", f"A cost center with code “{code}” already exists.", code=ErrorCode.DUPLICATE)
    fields = ["code", "name", "customer"]
    before = snapshot(cost_center, fields) if cost_center else None
    obj = cost_center or CostCenter()
    obj.code, obj.name, obj.customer = code, name, customer
    if before is not None and snapshot(obj, fields) == before:
        return obj
    obj.save()
    record(
        "cost_center.update" if before else "cost_center.create",
        obj,
        actor=actor,
        customer=customer,
        before=before,
        after=snapshot(obj, fields),
    )
    return obj


@transaction.atomic
def save_feature(feature: Feature | None, *, actor: User, code: str, name: str, description: str = "") -> Feature:
    from django.utils.text import slugify

    code = slugify(validation.required_text(code, field="code", label="Code", max_length=64))
    name = validation.required_text(name, field="name", label="Name", max_length=120)
    clash = Feature.objects.filter(code=code)
    if feature is not None:
        clash = clash.exclude(pk=feature.pk)
    if clash.exists():
        raise Invalid.field("code", f"A feature with code “{code}” already exists.", code=ErrorCode.DUPLICATE)
    before = snapshot(feature, ["code", "name", "description"]) if feature else None
    obj = feature or Feature()
    obj.code, obj.name, obj.description = code, name, description.strip()
    if before is not None and snapshot(obj, ["code", "name", "description"]) == before:
        return obj
    obj.save()
    record(
        "feature.update" if before else "feature.create",
        obj,
        actor=actor,
        customer=None,
        before=before,
        after=snapshot(obj, ["code", "name", "description"]),
    )
    return obj


# --- accounts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str = CustomColumn.Type.TEXT


def _clean_columns(columns: Sequence[ColumnSpec]) -> list[ColumnSpec]:
    cleaned: list[ColumnSpec] = []
    seen: set[str] = set()
    errors: list[str] = []
    for index, col in enumerate(columns, start=1):
        name = (col.name or "").strip()
        if not name:
            continue
        if len(name) > 40:
            errors.append(f"Column {index}: a name can be at most 40 characters.")
        if name.lower() in {"phone", "phone number", "mobile", "msisdn"}:
            errors.append(f"Column {index}: “{name}” is the built-in phone number column; choose another name.")
        if name.lower() in seen:
            errors.append(f"Column {index}: “{name}” is used twice.")
        if col.type not in CustomColumn.Type.values:
            errors.append(f"Column {index}: “{col.type}” is not a column type.")
        seen.add(name.lower())
        cleaned.append(ColumnSpec(name=name, type=col.type))
    if len(cleaned) > MAX_CUSTOM_COLUMNS:
        errors.append(f"An account can have at most {MAX_CUSTOM_COLUMNS} custom columns.")
    if errors:
        raise Invalid("The custom columns are not valid.", fields={"custom_columns": errors})
    return cleaned


def _check_cost_center(customer: Customer, cost_center: CostCenter | None) -> None:
    if cost_center is not None and cost_center.customer_id not in (None, customer.pk):
        raise Invalid.field("cost_center", "That cost center is not available to this customer.")


def shared_cost_center_accounts(account: Account) -> list[Account]:
    """Other active accounts of the customer billed to the same cost center (so not billed separately)."""
    if account.cost_center_id is None:
        return []
    return list(
        Account.objects.filter(
            customer_id=account.customer_id,
            cost_center_id=account.cost_center_id,
            status=Account.Status.ACTIVE,
        ).exclude(pk=account.pk)
    )


def with_overview(accounts: QuerySet[Account]) -> QuerySet[Account]:
    """An (already scoped) account queryset annotated for list pages: `column_count` and
    `shares_cost_center` (another active account of the customer uses the same cost center)."""
    columns = (
        CustomColumn.objects.filter(account_id=OuterRef("pk"))
        .order_by()
        .values("account_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    sharing = Account.objects.filter(
        customer_id=OuterRef("customer_id"),
        cost_center_id=OuterRef("cost_center_id"),
        status=Account.Status.ACTIVE,
    ).exclude(pk=OuterRef("pk"))
    return accounts.select_related("cost_center").annotate(
        column_count=Coalesce(Subquery(columns, output_field=IntegerField()), Value(0)),
        shares_cost_center=Exists(sharing),
    )


def _account_after(account: Account) -> dict[str, object]:
    data = snapshot(account, ACCOUNT_FIELDS)
    data["custom_columns"] = [
        f"{c.name}:{c.type}" for c in CustomColumn.objects.filter(account=account).order_by("position")
    ]
    return data


@transaction.atomic
def create_account(
    customer: Customer,
    *,
    actor: User,
    name: str,
    cost_center: CostCenter | None = None,
    office_hours_only: bool = False,
    custom_columns: Sequence[ColumnSpec] = (),
    creator_from: Account | None = None,
) -> Account:
    """A new account. A creator who is not a master user gets in it the role they hold in
    `creator_from` (the account they are working in), never more: creating an account is no way to
    promote oneself."""
    errors: list[Invalid] = []
    columns: list[ColumnSpec] = []
    try:
        name = validation.required_text(name, field="name", label="Account name", max_length=120)
        if Account.objects.filter(customer=customer, name__iexact=name).exists():
            raise Invalid.field("name", f"An account named “{name}” already exists.", code=ErrorCode.DUPLICATE)
    except Invalid as exc:
        errors.append(exc)
    for check in (
        lambda: _check_cost_center(customer, cost_center),
        lambda: columns.extend(_clean_columns(custom_columns)),
    ):
        try:
            check()
        except Invalid as exc:
            errors.append(exc)
    if errors:
        # Every problem at once, so the person fixes the form in one go.
        raise validation.merge(*errors) if len(errors) > 1 else errors[0]
    account = Account.objects.create(
        customer=customer, name=name, cost_center=cost_center, office_hours_only=office_hours_only
    )
    for position, col in enumerate(columns, start=1):
        CustomColumn.objects.create(customer=customer, account=account, position=position, name=col.name, type=col.type)
    record(
        "account.create",
        account,
        actor=actor,
        customer=customer,
        after=_account_after(account),
        account_id=account.pk,
    )
    # Whoever creates an account can work in it; master users reach every account anyway.
    creator_role = (
        Membership.objects.filter(account=creator_from, user=actor).values_list("role", flat=True).first()
        if creator_from is not None and not actor.is_master and actor.customer_id == customer.pk
        else None
    )
    if creator_role is not None:
        membership = Membership.objects.create(customer=customer, account=account, user=actor, role_id=creator_role)
        record(
            "membership.create",
            membership,
            actor=actor,
            customer=customer,
            account_id=account.pk,
            after={"user": actor.email, "account": account.name, "role": membership.role.name},
        )
    return account


@transaction.atomic
def update_account(
    account: Account,
    *,
    actor: User,
    name: str | None = None,
    cost_center: CostCenter | object | None = _KEEP,
    office_hours_only: bool | None = None,
    custom_columns: Sequence[ColumnSpec] | None = None,
    confirm_column_changes: bool = False,
) -> Account:
    """Change the given fields. A column change that would hide or clear contact values is refused with
    409 `column_data_at_risk` (naming how many contacts) unless `confirm_column_changes`."""
    account = Account.objects.select_for_update().get(pk=account.pk)
    if not account.is_active:
        raise Conflict("This account is archived; restore it before changing it.", code=ErrorCode.ACCOUNT_ARCHIVED)
    before = _account_after(account)
    if name is not None:
        name = validation.required_text(name, field="name", label="Account name", max_length=120)
        if Account.objects.filter(customer_id=account.customer_id, name__iexact=name).exclude(pk=account.pk).exists():
            raise Invalid.field("name", f"An account named “{name}” already exists.", code=ErrorCode.DUPLICATE)
        account.name = name
    if cost_center is not _KEEP:
        _check_cost_center(account.customer, cost_center)  # type: ignore[arg-type]
        account.cost_center = cost_center  # type: ignore[assignment]
    if office_hours_only is not None:
        account.office_hours_only = office_hours_only
    account.save()
    if custom_columns is not None:
        column_changes.replace_columns(
            account, _clean_columns(custom_columns), actor=actor, confirm=confirm_column_changes
        )
    after = _account_after(account)
    if after != before:
        record(
            "account.update",
            account,
            actor=actor,
            customer=account.customer_id,
            before=before,
            after=after,
            account_id=account.pk,
        )
    return account


@dataclass(frozen=True)
class DeleteOutcome:
    deleted: bool  # False: archived because it holds data
    held: list[tuple[str, int]]


@transaction.atomic
def delete_account(account: Account, *, actor: User) -> DeleteOutcome:
    """Delete an empty account; one that holds data is archived instead, so nothing is lost."""
    account = Account.objects.select_for_update().get(pk=account.pk)
    before = _account_after(account)
    held = account_data(account)
    if held:
        if account.status == Account.Status.ARCHIVED:
            return DeleteOutcome(deleted=False, held=held)
        account.status = Account.Status.ARCHIVED
        account.archived_at = timezone.now()
        account.save(update_fields=["status", "archived_at", "updated_at"])
        record(
            "account.archive",
            account,
            actor=actor,
            customer=account.customer_id,
            before=before,
            after=_account_after(account),
            account_id=account.pk,
        )
        return DeleteOutcome(deleted=False, held=held)
    pk = account.pk
    record("account.delete", account, actor=actor, customer=account.customer_id, before=before, account_id=pk)
    account.delete()
    return DeleteOutcome(deleted=True, held=[])


@transaction.atomic
def restore_account(account: Account, *, actor: User) -> Account:
    account = Account.objects.select_for_update().get(pk=account.pk)
    if account.is_active:
        return account
    if (
        Account.objects.filter(customer_id=account.customer_id, name__iexact=account.name, status=Account.Status.ACTIVE)
        .exclude(pk=account.pk)
        .exists()
    ):
        raise Invalid.field("name", "An active account already has this name; rename that one first.")
    before = _account_after(account)
    account.status = Account.Status.ACTIVE
    account.archived_at = None
    account.save(update_fields=["status", "archived_at", "updated_at"])
    record(
        "account.restore",
        account,
        actor=actor,
        customer=account.customer_id,
        before=before,
        after=_account_after(account),
        account_id=account.pk,
    )
    return account


# --- offices and teams ---------------------------------------------------------------------------


@transaction.atomic
def save_office(customer: Customer, office: Office | None, *, actor: User, name: str, address: str = "") -> Office:
    name = validation.required_text(name, field="name", label="Office name", max_length=120)
    clash = Office.objects.filter(customer=customer, name__iexact=name)
    if office is not None:
        clash = clash.exclude(pk=office.pk)
    if clash.exists():
        raise Invalid.field("name", f"An office named “{name}” already exists.", code=ErrorCode.DUPLICATE)
    before = snapshot(office, ["name", "address"]) if office else None
    obj = office or Office(customer=customer)
    obj.name, obj.address = name, (address or "").strip()
    obj.save()
    record(
        "office.update" if before else "office.create",
        obj,
        actor=actor,
        customer=customer,
        before=before,
        after=snapshot(obj, ["name", "address"]),
    )
    return obj


@transaction.atomic
def delete_office(office: Office, *, actor: User) -> None:
    users = office.primary_users.count()
    if users:
        raise Conflict(f"{users} user(s) have this as their primary office; move them first.")
    record(
        "office.delete",
        office,
        actor=actor,
        customer=office.customer_id,
        before=snapshot(office, ["name", "address"]),
    )
    office.delete()


@transaction.atomic
def save_team(customer: Customer, team: Team | None, *, actor: User, name: str, office: Office | None = None) -> Team:
    name = validation.required_text(name, field="name", label="Team name", max_length=120)
    if office is not None and office.customer_id != customer.pk:
        raise Invalid.field("office", "No such office.")
    clash = Team.objects.filter(customer=customer, name__iexact=name)
    if team is not None:
        clash = clash.exclude(pk=team.pk)
    if clash.exists():
        raise Invalid.field("name", f"A team named “{name}” already exists.", code=ErrorCode.DUPLICATE)
    before = snapshot(team, ["name", "office"]) if team else None
    obj = team or Team(customer=customer)
    obj.name, obj.office = name, office
    obj.save()
    record(
        "team.update" if before else "team.create",
        obj,
        actor=actor,
        customer=customer,
        before=before,
        after=snapshot(obj, ["name", "office"]),
    )
    return obj


@transaction.atomic
def delete_team(team: Team, *, actor: User) -> None:
    record("team.delete", team, actor=actor, customer=team.customer_id, before=snapshot(team, ["name", "office"]))
    team.delete()
