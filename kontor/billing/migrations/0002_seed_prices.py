"""The provider's starting prices: Sweden in SEK with 25% VAT, the United Kingdom in GBP with 20%, and
everyone else (ZZ) in EUR without VAT. Staff change them on the price list page."""

from django.db import migrations

# (price list name, currency, country, VAT basis points, [(from quantity, price in millionths)])
SEED = [
    ("Sweden", "SEK", "SE", 2500, [(1, 450_000), (1_000, 390_000), (10_000, 350_000), (100_000, 290_000)]),
    ("United Kingdom", "GBP", "GB", 2000, [(1, 40_000), (1_000, 35_000), (10_000, 30_000)]),
    ("Default (EUR)", "EUR", "ZZ", 0, [(1, 40_000), (10_000, 30_000)]),
]


def seed(apps, schema_editor):
    PriceList = apps.get_model("billing", "PriceList")
    PriceTier = apps.get_model("billing", "PriceTier")
    CountryTax = apps.get_model("billing", "CountryTax")
    for name, currency, country, vat_bp, tiers in SEED:
        price_list, _ = PriceList.objects.get_or_create(name=name, defaults={"currency": currency, "unit": "SMS"})
        for min_quantity, micro in tiers:
            PriceTier.objects.get_or_create(
                price_list=price_list, min_quantity=min_quantity, defaults={"unit_price_micro": micro}
            )
        CountryTax.objects.get_or_create(
            country=country, defaults={"vat_rate_bp": vat_bp, "currency": currency, "price_list": price_list}
        )


def unseed(apps, schema_editor):
    CountryTax = apps.get_model("billing", "CountryTax")
    PriceList = apps.get_model("billing", "PriceList")
    CountryTax.objects.filter(country__in=[row[2] for row in SEED]).delete()
    PriceList.objects.filter(name__in=[row[0] for row in SEED], countries__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
