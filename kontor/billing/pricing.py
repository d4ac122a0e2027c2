"""Quotes: the price of N credits for a customer, in exact integer arithmetic.

The customer's country picks a price list, currency and VAT rate (CountryTax; ZZ when the country has
no row or its list is switched off); the tier with the highest `min_quantity` not above the quantity
prices every credit of the purchase."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kontor.billing.models import FALLBACK_COUNTRY, CountryTax, PriceTier
from kontor.core.errors import Invalid

if TYPE_CHECKING:
    from kontor.tenancy.models import Customer

MIN_QUANTITY = 1
MAX_QUANTITY = 10_000_000
MICRO = 1_000_000

# ISO 4217 minor-unit exponents that are not 2.
_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def minor_exponent(currency: str) -> int:
    """Digits after the decimal point in `currency` (2 for SEK, 0 for JPY, 3 for KWD)."""
    return _EXPONENTS.get(currency.upper(), 2)


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, for non-negative integers (no floats anywhere)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("round_half_up takes a non-negative numerator and a positive denominator")
    return (2 * numerator + denominator) // (2 * denominator)


def net_minor(quantity: int, unit_price_micro: int, currency: str) -> int:
    return round_half_up(quantity * unit_price_micro, 10 ** (6 - minor_exponent(currency)))


def vat_minor(net: int, vat_rate_bp: int) -> int:
    return round_half_up(net * vat_rate_bp, 10_000)


@dataclass(frozen=True)
class Quote:
    quantity: int
    currency: str
    unit_price_micro: int
    net_minor: int
    vat_rate_bp: int
    vat_minor: int
    gross_minor: int
    tier_min_quantity: int
    tax_country: str = ""  # the CountryTax row used: the customer's country, or ZZ
    price_list_id: int | None = None

    @property
    def net(self) -> str:
        return format_money(self.net_minor, self.currency)

    @property
    def vat(self) -> str:
        return format_money(self.vat_minor, self.currency)

    @property
    def gross(self) -> str:
        return format_money(self.gross_minor, self.currency)

    @property
    def unit_price(self) -> str:
        return format_unit_price(self.unit_price_micro, self.currency)

    @property
    def vat_rate(self) -> str:
        return format_rate(self.vat_rate_bp)


def check_quantity(quantity: object) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise Invalid.field("quantity", "Enter the number of credits as a whole number.")
    if quantity < MIN_QUANTITY:
        raise Invalid.field("quantity", f"Buy at least {MIN_QUANTITY} credit.")
    if quantity > MAX_QUANTITY:
        raise Invalid.field("quantity", f"At most {MAX_QUANTITY:,} credits can be bought at once.".replace(",", " "))
    return quantity


def country_tax_for(country: str) -> CountryTax:
    """The CountryTax row for `country`, or the fallback (ZZ) row."""
    rows = {
        row.country: row
        for row in CountryTax.objects.select_related("price_list").filter(
            country__in={(country or "").upper(), FALLBACK_COUNTRY}, price_list__is_active=True
        )
    }
    row = rows.get((country or "").upper()) or rows.get(FALLBACK_COUNTRY)
    if row is None:
        raise Invalid("No price list applies to this customer's country; ask the provider to set one up.")
    return row


def quote(customer: Customer, quantity: int) -> Quote:
    """The price of `quantity` credits for `customer`. Invalid (field `quantity`) for anything but a
    whole number from 1 to 10 000 000, or below the smallest tier of the customer's price list."""
    quantity = check_quantity(quantity)
    tax = country_tax_for(customer.country)
    tier = (
        PriceTier.objects.filter(price_list_id=tax.price_list_id, min_quantity__lte=quantity)
        .order_by("-min_quantity")
        .first()
    )
    if tier is None:
        smallest = PriceTier.objects.filter(price_list_id=tax.price_list_id).order_by("min_quantity").first()
        if smallest is None:
            raise Invalid("The price list has no prices yet; ask the provider to set them up.")
        raise Invalid.field("quantity", f"Buy at least {smallest.min_quantity} credits.")
    currency = tax.price_list.currency
    net = net_minor(quantity, tier.unit_price_micro, currency)
    vat = vat_minor(net, tax.vat_rate_bp)
    return Quote(
        quantity=quantity,
        currency=currency,
        unit_price_micro=tier.unit_price_micro,
        net_minor=net,
        vat_rate_bp=tax.vat_rate_bp,
        vat_minor=vat,
        gross_minor=net + vat,
        tier_min_quantity=tier.min_quantity,
        tax_country=tax.country,
        price_list_id=tax.price_list_id,
    )


# --- formatting ----------------------------------------------------------------------------------


def _group(digits: str) -> str:
    out: list[str] = []
    while len(digits) > 3:
        out.insert(0, digits[-3:])
        digits = digits[:-3]
    out.insert(0, digits)
    return " ".join(out)


def format_money(minor: int, currency: str) -> str:
    """123450 (öre) → "1 234.50 SEK": `minor` is an integer in the currency's minor unit."""
    exp = minor_exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp)
    text = _group(str(whole)) + (f".{frac:0{exp}d}" if exp else "")
    return f"{sign}{text} {currency.upper()}"


def format_unit_price(micro: int, currency: str) -> str:
    """A per-credit price with as many decimals as it needs, at least the currency's: "0.035 GBP"."""
    exp = minor_exponent(currency)
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    decimals = f"{frac:06d}".rstrip("0")
    decimals = decimals.ljust(exp, "0")
    return f"{sign}{_group(str(whole))}{'.' + decimals if decimals else ''} {currency.upper()}"


def format_rate(bp: int) -> str:
    """Basis points as a percentage: 2500 → "25%", 1250 → "12.5%"."""
    whole, frac = divmod(bp, 100)
    return f"{whole}.{f'{frac:02d}'.rstrip('0')}%" if frac else f"{whole}%"
