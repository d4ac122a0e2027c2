"""The provider's starting prices, for an empty database (the demo, tests after a flush). The
migration 0002_seed_prices carries its own frozen copy of the same rows."""

from __future__ import annotations

from django.db import transaction

from kontor.billing.models import CountryTax, PriceList, PriceTier

# (price list name, currency, country, VAT basis points, [(from quantity, price in millionths)])
DEFAULT_PRICES: list[tuple[str, str, str, int, list[tuple[int, int]]]] = [
    ("Sweden", "SEK", "SE", 2500, [(1, 450_000), (1_000, 390_000), (10_000, 350_000), (100_000, 290_000)]),
    ("United Kingdom", "GBP", "GB", 2000, [(1, 40_000), (1_000, 35_000), (10_000, 30_000)]),
    ("Default (EUR)", "EUR", "ZZ", 0, [(1, 40_000), (10_000, 30_000)]),
]


@transaction.atomic
def ensure_default_prices() -> None:
    """Create the default price lists, tiers and country rows that are missing; changes nothing else."""
    for name, currency, country, vat_bp, tiers in DEFAULT_PRICES:
        price_list, _ = PriceList.objects.get_or_create(name=name, defaults={"currency": currency, "unit": "SMS"})
        for min_quantity, micro in tiers:
            PriceTier.objects.get_or_create(
                price_list=price_list, min_quantity=min_quantity, defaults={"unit_price_micro": micro}
            )
        CountryTax.objects.get_or_create(
            country=country, defaults={"vat_rate_bp": vat_bp, "currency": currency, "price_list": price_list}
        )
