"""The provider's price lists (per-credit price in volume tiers), VAT and currency per customer country,
and the tax invoices issued for credit purchases.

Prices are integers in millionths of the currency's major unit (0.35 SEK = 350 000), so a quote is exact
integer arithmetic; money amounts are integers in the currency's minor unit (öre, pence, cent)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from kontor.core.models import TenantModel, TimeStamped
from kontor.core.scope import Scope

FALLBACK_COUNTRY = "ZZ"  # the row used when a customer's country has none of its own


class PriceList(TimeStamped):
    name = models.CharField(max_length=120, unique=True)
    currency = models.CharField(max_length=3, help_text="ISO 4217, e.g. SEK")
    unit = models.CharField(max_length=8, default="SMS")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class PriceTier(TimeStamped):
    """From `min_quantity` credits on, each credit costs `unit_price_micro` (the highest tier not above
    the quantity applies to the whole purchase)."""

    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="tiers")
    min_quantity = models.PositiveIntegerField()
    unit_price_micro = models.BigIntegerField(help_text="Millionths of the major unit per credit")

    class Meta:
        ordering = ["price_list", "min_quantity"]
        constraints = [
            models.UniqueConstraint(fields=["price_list", "min_quantity"], name="price_tier_unique_min"),
            models.CheckConstraint(condition=Q(min_quantity__gte=1), name="price_tier_min_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price_micro__gt=0), name="price_tier_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.price_list.name}: from {self.min_quantity}"


class CountryTax(TimeStamped):
    """The price list, currency and VAT rate for customers in one country (ZZ: everyone else)."""

    country = models.CharField(max_length=2, unique=True, help_text="ISO 3166 alpha-2; ZZ is the fallback")
    vat_rate_bp = models.PositiveIntegerField(help_text="VAT in basis points: 2500 = 25%")
    currency = models.CharField(max_length=3)
    price_list = models.ForeignKey(PriceList, on_delete=models.PROTECT, related_name="countries")

    class Meta:
        ordering = ["country"]
        verbose_name_plural = "country taxes"
        constraints = [
            models.CheckConstraint(condition=Q(vat_rate_bp__lte=10000), name="country_tax_vat_rate_range"),
        ]

    def __str__(self) -> str:
        return f"{self.country}: {self.vat_rate_bp / 100:g}% {self.currency}"


class InvoiceSequence(models.Model):
    """The last invoice number used in a year. Its row is locked while a number is taken, in the
    transaction that writes the invoice, so numbers are sequential and gap-free."""

    year = models.PositiveIntegerField(unique=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Invoice(TenantModel):
    """A tax invoice (a receipt when paid at once). Seller, buyer and lines are snapshots taken when it
    was issued, so a later change of address or price never rewrites an issued invoice."""

    class Status(models.TextChoices):
        PAID = "paid", "Paid"
        DUE = "due", "Due"

    number = models.CharField(max_length=32, unique=True)
    issued_at = models.DateTimeField(db_index=True)
    seller = models.JSONField(default=dict)
    buyer = models.JSONField(default=dict)
    lines = models.JSONField(default=list)
    quantity = models.PositiveIntegerField(help_text="Credits bought")
    currency = models.CharField(max_length=3)
    net_minor = models.BigIntegerField()
    vat_rate_bp = models.PositiveIntegerField()
    vat_minor = models.BigIntegerField()
    gross_minor = models.BigIntegerField()
    payment_method = models.CharField(max_length=32)
    payment_reference = models.CharField(max_length=64, blank=True)
    payment_last4 = models.CharField(max_length=4, blank=True, help_text="Card payments: the last four digits only")
    status = models.CharField(max_length=8, choices=Status.choices)
    journal_id = models.UUIDField(
        null=True, blank=True, db_index=True, help_text="The ledger transaction that applied the credits"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["customer", "-issued_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(net_minor__gte=0) & Q(vat_minor__gte=0), name="invoice_amounts"),
            models.CheckConstraint(condition=Q(gross_minor=F("net_minor") + F("vat_minor")), name="invoice_gross"),
            models.CheckConstraint(condition=Q(status__in=["paid", "due"]), name="invoice_status_valid"),
        ]

    def __str__(self) -> str:
        return self.number

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        """An invoice carries billing details and what someone bought: master users, auditors (view_audit)
        and provider staff see all of the customer's; everyone else only the ones they bought."""
        q = Q(customer_id=scope.customer.pk)
        user = scope.user
        if scope.staff or scope.has("view_audit") or (user is not None and user.is_master and scope.api_key is None):
            return q
        return q & Q(created_by_id=user.pk if user is not None else None)

    @property
    def is_paid(self) -> bool:
        return self.status == self.Status.PAID
