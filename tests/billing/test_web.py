"""Invoice pages (list, CSV, PDF) and the staff price editor: scoping, permissions, inline errors."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.audit.models import AuditEntry
from kontor.billing.models import CountryTax, PriceList, PriceTier
from tests.billing.conftest import buy


@pytest.fixture
def invoices(world):
    return buy(world.acme), buy(world.globex)


def test_invoice_pdf_download(client, world, invoices):
    mine, _ = invoices
    client.force_login(world.acme.master)
    response = client.get(reverse("billing:invoice_pdf", args=[mine.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{mine.number}.pdf"'
    assert response.content.startswith(b"%PDF-")


def test_other_customers_invoice_pdf_is_404(client, world, invoices):
    _, theirs = invoices
    client.force_login(world.acme.master)
    assert client.get(reverse("billing:invoice_pdf", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("billing:invoice_pdf", args=[999_999])).status_code == 404


def test_invoice_pages_need_view_credits(client, world, invoices):
    mine, _ = invoices
    client.force_login(world.acme.users["support"])  # no view_credits
    for url in (reverse("billing:invoices"), reverse("billing:invoice_pdf", args=[mine.pk])):
        assert client.get(url).status_code == 403


def test_invoice_list_and_csv_show_only_own(client, world, invoices):
    mine, theirs = invoices
    client.force_login(world.acme.users["read_only"])
    html = client.get(reverse("billing:invoices")).content.decode()
    assert mine.number in html and theirs.number not in html
    assert reverse("billing:invoice_pdf", args=[mine.pk]) in html
    assert "487.50 SEK" in html
    response = client.get(reverse("billing:invoices_export"))
    body = b"".join(response.streaming_content).decode()
    assert mine.number in body and theirs.number not in body
    assert "487.50" in body


def test_invoice_list_filters(client, world, invoices):
    due = buy(world.acme, method="invoice")
    client.force_login(world.acme.master)
    html = client.get(reverse("billing:invoices"), {"status": "due"}).content.decode()
    assert due.number in html and invoices[0].number not in html


# --- staff prices --------------------------------------------------------------------------------


STAFF_URLS = [
    ("billing:price_lists", {}),
    ("billing:price_list_add", {}),
    ("billing:country_tax_add", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), STAFF_URLS)
@pytest.mark.parametrize("who", ["csr", "tam", "customer_master", "customer_admin"])
def test_price_pages_refuse_csr_and_customer_users(client, world, name, kwargs, who):
    user = {
        "customer_master": world.acme.master,
        "customer_admin": world.acme.users["administrator"],
    }.get(who) or world.staff[who]
    client.force_login(user)
    assert client.get(reverse(name, kwargs=kwargs)).status_code == 403


def test_tier_pages_refuse_csr(client, world):
    tier = PriceTier.objects.filter(price_list__countries__country="SE", min_quantity=1000).get()
    client.force_login(world.staff["csr"])
    for url in (
        reverse("billing:tier_edit", args=[tier.pk]),
        reverse("billing:tier_delete", args=[tier.pk]),
        reverse("billing:tier_add", args=[tier.price_list_id]),
    ):
        assert client.get(url).status_code == 403
        assert client.post(url, {"min_quantity": 5, "unit_price": "0.01"}).status_code == 403
    assert PriceTier.objects.filter(pk=tier.pk, unit_price_micro=390_000).exists()


@pytest.mark.parametrize("who", ["billing", "admin"])
def test_price_page_shows_tiers_and_countries(client, world, who):
    client.force_login(world.staff[who])
    html = client.get(reverse("billing:price_lists")).content.decode()
    for text in ("Sweden", "0.39 SEK", "0.035 GBP", "ZZ", "25%", "20%"):
        assert text in html


def test_edit_tier_price(client, world):
    tier = PriceTier.objects.get(price_list__countries__country="SE", min_quantity=1000)
    client.force_login(world.staff["billing"])
    response = client.post(reverse("billing:tier_edit", args=[tier.pk]), {"min_quantity": 1000, "unit_price": "0.38"})
    assert response.status_code == 302
    assert PriceTier.objects.get(pk=tier.pk).unit_price_micro == 380_000
    entry = AuditEntry.objects.get(action="price_tier.update")
    assert entry.before["unit_price_micro"] == 390_000 and entry.after["unit_price_micro"] == 380_000
    assert entry.actor == world.staff["billing"]


def test_add_tier_with_a_duplicate_quantity_is_an_inline_error(client, world):
    price_list = PriceList.objects.get(countries__country="SE")
    client.force_login(world.staff["billing"])
    before = list(PriceTier.objects.values_list("pk", "min_quantity", "unit_price_micro").order_by("pk"))
    url = reverse("billing:tier_add", args=[price_list.pk])
    response = client.post(url, {"min_quantity": 1000, "unit_price": "0.10"})
    assert response.status_code == 200
    assert "already has a tier from 1000" in response.content.decode()
    response = client.post(url, {"min_quantity": 0, "unit_price": "-1"})
    assert response.status_code == 200 and response.content.decode().count('class="error"') >= 2
    assert list(PriceTier.objects.values_list("pk", "min_quantity", "unit_price_micro").order_by("pk")) == before
    assert not AuditEntry.objects.filter(action__startswith="price_tier.").exists()
    response = client.post(url, {"min_quantity": 500_000, "unit_price": "0.25"})
    assert response.status_code == 302
    assert PriceTier.objects.get(price_list=price_list, min_quantity=500_000).unit_price_micro == 250_000


def test_delete_tier_confirms_and_keeps_the_first_tier(client, world):
    price_list = PriceList.objects.get(countries__country="GB")
    tier = PriceTier.objects.get(price_list=price_list, min_quantity=10_000)
    first = PriceTier.objects.get(price_list=price_list, min_quantity=1)
    client.force_login(world.staff["billing"])
    url = reverse("billing:tier_delete", args=[tier.pk])
    assert "Remove the tier from 10000" in client.get(url).content.decode()
    assert PriceTier.objects.filter(pk=tier.pk).exists()
    assert client.post(url).status_code == 302
    assert not PriceTier.objects.filter(pk=tier.pk).exists()
    assert AuditEntry.objects.filter(action="price_tier.delete").count() == 1
    response = client.post(reverse("billing:tier_delete", args=[first.pk]), follow=True)
    assert "cannot be removed" in response.content.decode()
    assert PriceTier.objects.filter(pk=first.pk).exists()
    assert client.get(reverse("billing:tier_delete", args=[999_999])).status_code == 404


def test_add_and_edit_country_tax(client, world):
    sweden = PriceList.objects.get(countries__country="SE")
    client.force_login(world.staff["billing"])
    response = client.post(
        reverse("billing:country_tax_add"), {"country": "NO", "vat_rate": "25", "price_list": sweden.pk}
    )
    assert response.status_code == 302
    tax = CountryTax.objects.get(country="NO")
    assert (tax.vat_rate_bp, tax.currency) == (2500, "SEK")
    response = client.post(
        reverse("billing:country_tax_add"), {"country": "NO", "vat_rate": "12", "price_list": sweden.pk}
    )
    assert response.status_code == 200 and "already has a row" in response.content.decode()
    response = client.post(
        reverse("billing:country_tax_edit", args=[tax.pk]),
        {"country": "DK", "vat_rate": "12.5", "price_list": sweden.pk},
    )
    assert response.status_code == 302
    tax.refresh_from_db()
    assert (tax.country, tax.vat_rate_bp) == ("NO", 1250)  # the country field is fixed on edit
    response = client.post(
        reverse("billing:country_tax_edit", args=[tax.pk]), {"vat_rate": "101", "price_list": sweden.pk}
    )
    assert response.status_code == 200
    tax.refresh_from_db()
    assert tax.vat_rate_bp == 1250
    actions = AuditEntry.objects.filter(action__startswith="country_tax.").order_by("pk")
    assert list(actions.values_list("action", flat=True)) == ["country_tax.create", "country_tax.update"]
