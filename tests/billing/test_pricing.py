"""Quotes: volume tiers and their boundaries, exact VAT rounding, the fallback country, bad quantities."""

from __future__ import annotations

import pytest

from kontor.billing.models import CountryTax, PriceList, PriceTier
from kontor.billing.pricing import (
    format_money,
    format_rate,
    format_unit_price,
    quote,
    round_half_up,
)
from kontor.core.errors import Invalid
from tests.factories import CustomerFactory


@pytest.mark.parametrize(
    ("quantity", "unit_micro", "tier", "net"),
    [
        (1, 450_000, 1, 45),
        (999, 450_000, 1, 44_955),
        (1000, 390_000, 1000, 39_000),
        (9_999, 390_000, 1000, 389_961),
        (10_000, 350_000, 10_000, 350_000),
        (99_999, 350_000, 10_000, 3_499_965),
        (100_000, 290_000, 100_000, 2_900_000),
        (10_000_000, 290_000, 100_000, 290_000_000),
    ],
)
def test_swedish_tiers_and_boundaries(world, quantity, unit_micro, tier, net):
    q = quote(world.acme.customer, quantity)
    assert (q.currency, q.unit_price_micro, q.tier_min_quantity, q.net_minor) == ("SEK", unit_micro, tier, net)
    assert q.vat_rate_bp == 2500
    assert q.vat_minor == round_half_up(net * 25, 100)
    assert q.gross_minor == q.net_minor + q.vat_minor
    assert q.tax_country == "SE"


def test_999_costs_more_than_1000(world):
    assert quote(world.acme.customer, 999).gross_minor > quote(world.acme.customer, 1000).gross_minor


def test_one_credit_vat_rounds_half_up(world):
    # 0.45 SEK net; 25% VAT = 11.25 öre -> 11; total 0.56 SEK
    q = quote(world.acme.customer, 1)
    assert (q.net_minor, q.vat_minor, q.gross_minor) == (45, 11, 56)
    assert q.gross == "0.56 SEK"


def test_british_customer_pays_gbp_with_20_percent(world):
    q = quote(world.globex.customer, 1000)
    assert (q.currency, q.unit_price_micro, q.net_minor, q.vat_rate_bp, q.vat_minor, q.gross_minor) == (
        "GBP",
        35_000,
        3_500,
        2000,
        700,
        4_200,
    )


def test_vat_and_net_round_half_up_not_to_even(db):
    price_list = PriceList.objects.create(name="Norway", currency="NOK")
    PriceTier.objects.create(price_list=price_list, min_quantity=1, unit_price_micro=20_000)  # 2 øre
    PriceTier.objects.create(price_list=price_list, min_quantity=10, unit_price_micro=5_000)  # 0.5 øre
    CountryTax.objects.create(country="NO", vat_rate_bp=2500, currency="NOK", price_list=price_list)
    customer = CustomerFactory(country="NO")
    q = quote(customer, 1)
    assert (q.net_minor, q.vat_minor) == (2, 1)  # VAT 0.5 -> 1 (banker's rounding would give 0)
    q = quote(customer, 11)
    assert q.net_minor == 6  # 5.5 -> 6
    q = quote(customer, 13)
    assert q.net_minor == 7  # 6.5 -> 7 (banker's rounding would give 6)


def test_unknown_country_uses_the_zz_fallback(db):
    q = quote(CustomerFactory(country="US"), 500)
    assert (q.currency, q.unit_price_micro, q.vat_rate_bp, q.vat_minor, q.tax_country) == ("EUR", 40_000, 0, 0, "ZZ")
    assert q.net_minor == 2_000
    assert quote(CustomerFactory(country="US"), 10_000).unit_price_micro == 30_000


def test_switched_off_price_list_falls_back(world):
    PriceList.objects.filter(countries__country="SE").update(is_active=False)
    assert quote(world.acme.customer, 1000).currency == "EUR"


def test_no_price_at_all_is_a_clear_refusal(db):
    CountryTax.objects.all().delete()
    with pytest.raises(Invalid, match="No price list"):
        quote(CustomerFactory(country="US"), 5)


@pytest.mark.parametrize("quantity", [0, -1, 10_000_001, "5", 1.5, True, None, 10**30])
def test_invalid_quantity(world, quantity):
    with pytest.raises(Invalid) as exc:
        quote(world.acme.customer, quantity)
    assert "quantity" in exc.value.fields


def test_quantity_below_the_smallest_tier(db):
    price_list = PriceList.objects.create(name="Bulk only", currency="EUR")
    PriceTier.objects.create(price_list=price_list, min_quantity=100, unit_price_micro=10_000)
    CountryTax.objects.create(country="DE", vat_rate_bp=1900, currency="EUR", price_list=price_list)
    with pytest.raises(Invalid) as exc:
        quote(CustomerFactory(country="DE"), 99)
    assert exc.value.fields["quantity"] == ["Buy at least 100 credits."]
    assert quote(CustomerFactory(country="DE"), 100).net_minor == 100


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (123_450, "SEK", "1 234.50 SEK"),
        (5, "SEK", "0.05 SEK"),
        (0, "EUR", "0.00 EUR"),
        (-150, "EUR", "-1.50 EUR"),
        (100_000_000, "GBP", "1 000 000.00 GBP"),
        (1_234_567, "JPY", "1 234 567 JPY"),
        (1_234, "KWD", "1.234 KWD"),
    ],
)
def test_format_money(minor, currency, text):
    assert format_money(minor, currency) == text


def test_format_unit_price_and_rate():
    assert format_unit_price(350_000, "SEK") == "0.35 SEK"
    assert format_unit_price(35_000, "GBP") == "0.035 GBP"
    assert format_unit_price(40_000, "GBP") == "0.04 GBP"
    assert format_unit_price(1_000_000, "EUR") == "1.00 EUR"
    assert format_rate(2500) == "25%"
    assert format_rate(1250) == "12.5%"
    assert format_rate(0) == "0%"


def test_round_half_up():
    assert [round_half_up(n, 10) for n in (4, 5, 14, 15, 25)] == [0, 1, 1, 2, 3]
    with pytest.raises(ValueError):
        round_half_up(-1, 10)
