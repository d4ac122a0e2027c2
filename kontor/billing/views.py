"""Billing pages: the customer's invoices (list, CSV, PDF) and the staff price list editor."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest
from kontor.billing.filters import InvoiceFilter
from kontor.billing.forms import CountryTaxForm, PriceListForm, TierForm
from kontor.billing.models import CountryTax, Invoice, PriceList, PriceTier
from kontor.billing.pdf import pdf_response
from kontor.billing.pricing import format_money, format_rate, format_unit_price, net_minor
from kontor.billing.services import delete_tier, save_country_tax, save_price_list, save_tier
from kontor.billing.tables import InvoiceTable
from kontor.core.scope import get_scoped, scoped
from kontor.web.decorators import customer_view, staff_view
from kontor.web.generic import ConfirmView, EditView, ListView

# --- customer: invoices --------------------------------------------------------------------------


def _invoices(request: ScopedRequest) -> QuerySet[Invoice]:
    return scoped(request.scope, Invoice).order_by("-issued_at", "-id")


@customer_view(Perm.VIEW_CREDITS)
class InvoiceList(ListView):
    title = _("Invoices")
    table_class = InvoiceTable
    filterset_class = InvoiceFilter
    export_url = "billing:invoices_export"
    export_filename = "invoices.csv"
    intro = _("Tax invoices and receipts for SMS credits bought. Download each one as a PDF.")

    def get_queryset(self) -> QuerySet[Invoice]:
        return _invoices(self.request)


@customer_view(Perm.VIEW_CREDITS)
def invoice_pdf(request: ScopedRequest, pk: int) -> HttpResponse:
    return pdf_response(get_scoped(request.scope, Invoice, pk=pk))


# --- staff: price lists, tiers, country taxes ----------------------------------------------------


@staff_view(Perm.STAFF_MANAGE_BILLING)
def price_lists(request: HttpRequest) -> HttpResponse:
    lists = PriceList.objects.prefetch_related(
        Prefetch("tiers", queryset=PriceTier.objects.order_by("min_quantity"))
    ).order_by("name")
    cards = [
        {
            "list": pl,
            "tiers": [
                {
                    "tier": t,
                    "price": format_unit_price(t.unit_price_micro, pl.currency),
                    "example": format_money(net_minor(t.min_quantity, t.unit_price_micro, pl.currency), pl.currency),
                }
                for t in pl.tiers.all()
            ],
        }
        for pl in lists
    ]
    taxes = [
        {"tax": t, "rate": format_rate(t.vat_rate_bp)}
        for t in CountryTax.objects.select_related("price_list").order_by("country")
    ]
    return render(request, "billing/price_lists.html", {"title": "Prices", "cards": cards, "taxes": taxes})


class _PricesPage(EditView[Any]):
    catalogue = True
    success_url = "billing:price_lists"


@staff_view(Perm.STAFF_MANAGE_BILLING)
class PriceListEdit(_PricesPage):
    model = PriceList
    form_class = PriceListForm
    title = _("Edit price list %(name)s")
    add_title = _("Add price list")
    intro = _("A switched-off list is not used: its countries fall back to the ZZ row.")
    success_message = _("Price list %(name)s saved.")

    def get_initial(self, obj: PriceList) -> dict[str, Any]:
        return {"name": obj.name, "currency": obj.currency, "is_active": obj.is_active}

    def save(self, form: PriceListForm, obj: PriceList | None) -> PriceList:
        return save_price_list(obj, actor=self.actor, **form.cleaned_data)


@staff_view(Perm.STAFF_MANAGE_BILLING)
class TierEdit(_PricesPage):
    """A tier of a price list: added under the list's URL (list_pk), changed under its own (pk)."""

    model = PriceTier
    form_class = TierForm
    success_message = _("Prices of %(name)s saved.")  # of the price list

    def price_list(self, tier: PriceTier | None) -> PriceList:
        if tier is not None:
            return tier.price_list
        found: PriceList = self.lookup(self.kwargs["list_pk"], PriceList)
        return found

    def get_initial(self, tier: PriceTier) -> dict[str, Any]:
        return {"min_quantity": tier.min_quantity, "unit_price": tier.unit_price_micro / 1_000_000}

    def get_title(self, tier: PriceTier | None) -> str:
        name = self.price_list(tier).name
        if tier is None:
            return gettext("%(list)s: add tier") % {"list": name}
        return gettext("%(list)s: tier from %(min)s") % {"list": name, "min": tier.min_quantity}

    def get_intro(self, tier: PriceTier | None) -> str:
        return gettext("Prices in %(currency)s per credit.") % {"currency": self.price_list(tier).currency}

    def save(self, form: TierForm, tier: PriceTier | None) -> PriceList:
        price_list = self.price_list(tier)
        save_tier(
            tier,
            actor=self.actor,
            price_list=price_list,
            min_quantity=form.cleaned_data["min_quantity"],
            unit_price_micro=form.unit_price_micro(),
        )
        return price_list


@staff_view(Perm.STAFF_MANAGE_BILLING)
class TierDelete(ConfirmView[PriceTier]):
    model = PriceTier
    catalogue = True
    title = _("Remove price tier")
    confirm_label = _("Remove tier")
    done_message = _("Tier from %(min_quantity)s removed from %(price_list.name)s.")
    done_url = "billing:price_lists"

    def get_question(self, tier: PriceTier) -> str:
        return gettext("Remove the tier from %(min)s credits (%(price)s per credit) from %(list)s?") % {
            "min": tier.min_quantity,
            "price": format_unit_price(tier.unit_price_micro, tier.price_list.currency),
            "list": tier.price_list.name,
        }

    def get_details(self, tier: PriceTier) -> list[str]:
        return [
            gettext("Purchases of that size will be priced by the next smaller tier."),
            gettext("Issued invoices keep their prices."),
        ]

    def act(self, tier: PriceTier) -> None:
        delete_tier(tier, actor=self.actor)


@staff_view(Perm.STAFF_MANAGE_BILLING)
class CountryTaxEdit(_PricesPage):
    model = CountryTax
    not_found = "country"
    form_class = CountryTaxForm
    title = _("Country %(country)s")
    add_title = _("Add country")
    intro = _("Customers in this country are quoted from this price list, in its currency, with this VAT rate.")
    success_message = _("%(country)s: VAT and price list saved.")

    def get_initial(self, obj: CountryTax) -> dict[str, Any]:
        return {"country": obj.country, "vat_rate": obj.vat_rate_bp / 100, "price_list": obj.price_list_id}

    def make_form(self, obj: CountryTax | None) -> CountryTaxForm:
        form: CountryTaxForm = super().make_form(obj)
        if obj is not None:
            form.fields["country"].disabled = True  # a country's row is changed, never moved
        return form

    def save(self, form: CountryTaxForm, obj: CountryTax | None) -> CountryTax:
        return save_country_tax(
            obj,
            actor=self.actor,
            country=form.cleaned_data["country"],
            vat_rate_bp=form.vat_rate_bp(),
            price_list=form.cleaned_data["price_list"],
        )
