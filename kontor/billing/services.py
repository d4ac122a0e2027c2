"""Every write to the provider's price lists, tiers and country taxes (staff only), audited."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pycountry
from django.db import transaction

from kontor.audit.services import record, snapshot
from kontor.billing.models import FALLBACK_COUNTRY, CountryTax, PriceList, PriceTier
from kontor.billing.pricing import MAX_QUANTITY
from kontor.core import validation
from kontor.core.errors import ErrorCode, Invalid

if TYPE_CHECKING:
    from kontor.access.models import User

TIER_FIELDS = ["price_list", "min_quantity", "unit_price_micro"]
COUNTRY_TAX_FIELDS = ["country", "vat_rate_bp", "currency", "price_list"]
PRICE_LIST_FIELDS = ["name", "currency", "unit", "is_active"]
MAX_UNIT_PRICE_MICRO = 1_000_000_000  # 1 000 major units per credit: anything above is a typo


def _int(value: object, *, field: str, label: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise Invalid.field(field, f"{label} must be a whole number.")
    if not low <= value <= high:
        raise Invalid.field(field, f"{label} must be from {low} to {high}.")
    return value


def currency_code(value: str, *, field: str = "currency") -> str:
    code = (value or "").strip().upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise Invalid.field(field, f"“{value}” is not an ISO 4217 currency code (e.g. SEK, EUR, GBP).")
    return code


def country_code(value: str, *, field: str = "country") -> str:
    code = (value or "").strip().upper()
    if code == FALLBACK_COUNTRY:
        return code
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise Invalid.field(field, f"“{value}” is not an ISO 3166 country code (e.g. SE, GB; ZZ for all others).")
    return code


@transaction.atomic
def save_price_list(
    price_list: PriceList | None, *, actor: User, name: str, currency: str, is_active: bool = True
) -> PriceList:
    name = validation.required_text(name, field="name", label="Name", max_length=120)
    currency = currency_code(currency)
    clash = PriceList.objects.filter(name__iexact=name)
    if price_list is not None:
        clash = clash.exclude(pk=price_list.pk)
    if clash.exists():
        raise Invalid.field("name", f"A price list named “{name}” already exists.", code=ErrorCode.DUPLICATE)
    if price_list is not None and currency != price_list.currency and price_list.countries.exists():
        raise Invalid.field("currency", "Countries use this price list in its currency; move them first.")
    before = snapshot(price_list, PRICE_LIST_FIELDS) if price_list else None
    obj = price_list or PriceList()
    obj.name, obj.currency, obj.is_active = name, currency, bool(is_active)
    if before == snapshot(obj, PRICE_LIST_FIELDS):
        return obj
    obj.save()
    record(
        "price_list.update" if before else "price_list.create",
        obj,
        actor=actor,
        customer=None,
        before=before,
        after=snapshot(obj, PRICE_LIST_FIELDS),
    )
    return obj


@transaction.atomic
def save_tier(
    tier: PriceTier | None, *, actor: User, price_list: PriceList, min_quantity: int, unit_price_micro: int
) -> PriceTier:
    """Add a tier to `price_list` or change one. Every list keeps its tier at 1 credit, so any quantity
    has a price."""
    min_quantity = _int(min_quantity, field="min_quantity", label="From quantity", low=1, high=MAX_QUANTITY)
    unit_price_micro = _int(
        unit_price_micro, field="unit_price", label="Price per credit (millionths)", low=1, high=MAX_UNIT_PRICE_MICRO
    )
    if tier is not None and tier.price_list_id != price_list.pk:
        raise Invalid.field("price_list", "A tier cannot move to another price list.")
    if tier is not None and tier.min_quantity == 1 and min_quantity != 1:
        raise Invalid.field("min_quantity", "The first tier starts at 1 credit; add a new tier instead.")
    clash = PriceTier.objects.filter(price_list=price_list, min_quantity=min_quantity)
    if tier is not None:
        clash = clash.exclude(pk=tier.pk)
    if clash.exists():
        raise Invalid.field(
            "min_quantity", f"This price list already has a tier from {min_quantity}.", code=ErrorCode.DUPLICATE
        )
    before = snapshot(tier, TIER_FIELDS) if tier else None
    obj = tier or PriceTier(price_list=price_list)
    obj.min_quantity, obj.unit_price_micro = min_quantity, unit_price_micro
    if before == snapshot(obj, TIER_FIELDS):
        return obj
    obj.save()
    record(
        "price_tier.update" if before else "price_tier.create",
        obj,
        actor=actor,
        customer=None,
        before=before,
        after=snapshot(obj, TIER_FIELDS),
    )
    return obj


@transaction.atomic
def delete_tier(tier: PriceTier, *, actor: User) -> None:
    if tier.min_quantity == 1:
        raise Invalid.field("min_quantity", "The tier from 1 credit cannot be removed; change its price instead.")
    before = snapshot(tier, TIER_FIELDS)
    record("price_tier.delete", tier, actor=actor, customer=None, before=before)
    tier.delete()


@transaction.atomic
def save_country_tax(
    tax: CountryTax | None, *, actor: User, country: str, vat_rate_bp: int, price_list: PriceList
) -> CountryTax:
    """Set a country's price list and VAT rate (the currency is the price list's)."""
    country = country_code(country)
    vat_rate_bp = _int(vat_rate_bp, field="vat_rate", label="VAT rate (basis points)", low=0, high=10_000)
    if tax is not None and country != tax.country:
        raise Invalid.field("country", "The country of a row cannot change; add a row for the other country.")
    clash = CountryTax.objects.filter(country=country)
    if tax is not None:
        clash = clash.exclude(pk=tax.pk)
    if clash.exists():
        raise Invalid.field("country", f"{country} already has a row; edit that one.", code=ErrorCode.DUPLICATE)
    before = snapshot(tax, COUNTRY_TAX_FIELDS) if tax else None
    obj = tax or CountryTax(country=country)
    obj.vat_rate_bp, obj.price_list, obj.currency = vat_rate_bp, price_list, price_list.currency
    if before == snapshot(obj, COUNTRY_TAX_FIELDS):
        return obj
    obj.save()
    record(
        "country_tax.update" if before else "country_tax.create",
        obj,
        actor=actor,
        customer=None,
        before=before,
        after=snapshot(obj, COUNTRY_TAX_FIELDS),
    )
    return obj
