"""Customers (enterprise subscribers), their data-separated accounts, offices, teams and memberships."""

from __future__ import annotations

import zoneinfo
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from kontor.core.models import AccountModel, ScopedManager, TenantModel, TimeStamped
from kontor.core.scope import Scope

MAX_CUSTOM_COLUMNS = 10


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"“{value}” is not an IANA time zone (e.g. Europe/Stockholm).")


class CreditMode(models.TextChoices):
    POOL = "pool", "Account pool"
    INDIVIDUAL = "individual", "Individual User SMS Credits"


class Feature(TimeStamped):
    """A product feature (entitlement) the provider switches on per customer."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(TimeStamped):
    """An enterprise customer (subscriber): the tenant. Its id is the subscriber ID."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        CLOSED = "closed", "Closed"

    name = models.CharField("company name", max_length=200)
    billing_id = models.CharField("billing ID", max_length=100)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    country = models.CharField(max_length=2, default="SE", help_text="ISO 3166 alpha-2")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    credit_mode = models.CharField(max_length=16, choices=CreditMode.choices, default=CreditMode.POOL)
    features = models.ManyToManyField(Feature, blank=True, related_name="customers")
    # Addresses and CIDR subnets (v4 and v6) its users and keys may come from; empty means anywhere.
    ip_allowlist = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def subscriber_id(self) -> str:
        return f"S{self.pk:06d}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class CostCenter(TimeStamped):
    """A billing category set up by the provider; a customer's accounts are billed per cost center.
    `customer` empty means any customer may use it."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"

    objects: ClassVar[models.Manager[CostCenter]] = models.Manager()

    @classmethod
    def available_q(cls, customer: Customer) -> Q:
        return Q(customer__isnull=True) | Q(customer=customer)


class Account(TenantModel):
    """A data-separated workspace of a customer."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    name = models.CharField(max_length=120)
    cost_center = models.ForeignKey(CostCenter, null=True, blank=True, on_delete=models.PROTECT)
    office_hours_only = models.BooleanField(
        default=False, help_text="Campaigns go out only 10:00–17:00 on weekdays, never on public holidays."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "customer", name="account_name_unique_per_customer"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return Q(customer_id=scope.customer.pk)


class _ActiveColumns(ScopedManager):
    """Every read of an account's columns sees the ones in use; only kontor.tenancy.columns sees the rest."""

    def get_queryset(self) -> Any:
        return super().get_queryset().filter(removed_at__isnull=True)


class CustomColumn(AccountModel):
    """One of up to ten extra contact columns of an account (e.g. Name, Account Number)."""

    class Type(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone number"

    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=40)
    type = models.CharField(max_length=8, choices=Type.choices, default=Type.TEXT)
    # A removed column that held values stays for 30 days, hidden, so that its values (keyed by its id on
    # every contact) come back when a column of the same name is added again; then it is purged.
    removed_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[Any] = _ActiveColumns()
    all_objects: ClassVar[Any] = ScopedManager()

    class Meta:
        ordering = ["account", "position"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "account", name="custom_column_name_unique"),
            models.CheckConstraint(
                condition=Q(position__gte=1) & Q(position__lte=MAX_CUSTOM_COLUMNS),
                name="custom_column_position_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Office(TenantModel):
    name = models.CharField(max_length=120)
    address = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), "customer", name="office_name_unique")]

    def __str__(self) -> str:
        return self.name


class Team(TenantModel):
    name = models.CharField(max_length=120)
    office = models.ForeignKey(Office, null=True, blank=True, on_delete=models.SET_NULL, related_name="teams")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), "customer", name="team_name_unique")]

    def __str__(self) -> str:
        return self.name


class Membership(TenantModel):
    """A user's access to one account, with a role there."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey("access.User", on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey("access.Role", on_delete=models.PROTECT, related_name="memberships")

    class Meta:
        ordering = ["account__name", "user__email"]
        constraints = [models.UniqueConstraint(fields=["account", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} as {self.role}"
