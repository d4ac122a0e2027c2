"""Billing pages: the customer's invoices (list, CSV, PDF) and the staff price list editor."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.billing.filters import InvoiceFilter
from kontor.billing.forms import CountryTaxForm, PriceListForm, TierForm
from kontor.billing.models import CountryTax, Invoice, PriceList, PriceTier
from kontor.billing.pdf import pdf_response
from kontor.billing.pricing import format_money, format_rate, format_unit_price, net_minor
from kontor.billing.services import delete_tier, save_country_tax, save_price_list, save_tier
from kontor.billing.tables import InvoiceTable
from kontor.core.errors import DomainError, NotFound
from kontor.core.scope import get_scoped, scoped
from kontor.web.decorators import customer_view, staff_view
from kontor.web.lists import export_csv, form_errors_from, list_page

# --- customer: invoices --------------------------------------------------------------------------


def _invoices(request: HttpRequest) -> QuerySet[Invoice]:
    return scoped(request.scope, Invoice).order_by("-issued_at", "-id")  # type: ignore[attr-defined]


@customer_view(Perm.VIEW_CREDITS)
def invoices(request: HttpRequest) -> HttpResponse:
    return list_page(
        request,
        title="Invoices",
        queryset=_invoices(request),
        table_class=InvoiceTable,
        filterset_class=InvoiceFilter,
        export_url=reverse("billing:invoices_export"),
        intro="Tax invoices and receipts for SMS credits bought. Download each one as a PDF.",
    )


@customer_view(Perm.VIEW_CREDITS)
def invoices_export(request: HttpRequest) -> HttpResponse:
    return export_csv(  # type: ignore[return-value]  # a streamed response
        request,
        queryset=_invoices(request),
        filterset_class=InvoiceFilter,
        table_class=InvoiceTable,
        filename="invoices.csv",
    )


@customer_view(Perm.VIEW_CREDITS)
def invoice_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    return pdf_response(get_scoped(request.scope, Invoice, pk=pk))  # type: ignore[attr-defined]


# --- staff: price lists, tiers, country taxes ----------------------------------------------------


def _staff(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # staff_view guarantees a signed-in staff user
    return user


def _get(model: type[Any], pk: int | None, what: str) -> Any:
    if pk is None:
        return None
    obj = model.objects.filter(pk=pk).first()
    if obj is None:
        raise NotFound(what)
    return obj


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


def _form_page(request: HttpRequest, title: str, form: Any, intro: str = "") -> HttpResponse:
    return render(
        request,
        "web/form.html",
        {"title": title, "form": form, "intro": intro, "cancel_url": reverse("billing:price_lists")},
    )


@staff_view(Perm.STAFF_MANAGE_BILLING)
def price_list_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    obj: PriceList | None = _get(PriceList, pk, "price list")
    initial = {"name": obj.name, "currency": obj.currency, "is_active": obj.is_active} if obj else None
    form = PriceListForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = save_price_list(obj, actor=_staff(request), **form.cleaned_data)
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Price list {saved.name} saved.")
            return redirect("billing:price_lists")
    return _form_page(
        request,
        f"Edit price list {obj.name}" if obj else "Add price list",
        form,
        "A switched-off list is not used: its countries fall back to the ZZ row.",
    )


@staff_view(Perm.STAFF_MANAGE_BILLING)
def tier_add(request: HttpRequest, list_pk: int) -> HttpResponse:
    return _tier_form(request, _get(PriceList, list_pk, "price list"), None)


@staff_view(Perm.STAFF_MANAGE_BILLING)
def tier_edit(request: HttpRequest, pk: int) -> HttpResponse:
    tier: PriceTier = _get(PriceTier, pk, "price tier")
    return _tier_form(request, tier.price_list, tier)


def _tier_form(request: HttpRequest, price_list: PriceList, tier: PriceTier | None) -> HttpResponse:
    initial = None
    if tier is not None:
        initial = {"min_quantity": tier.min_quantity, "unit_price": tier.unit_price_micro / 1_000_000}
    form = TierForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            save_tier(
                tier,
                actor=_staff(request),
                price_list=price_list,
                min_quantity=form.cleaned_data["min_quantity"],
                unit_price_micro=form.unit_price_micro(),
            )
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Prices of {price_list.name} saved.")
            return redirect("billing:price_lists")
    title = f"{price_list.name}: " + (f"tier from {tier.min_quantity}" if tier else "add tier")
    return _form_page(request, title, form, f"Prices in {price_list.currency} per credit.")


@staff_view(Perm.STAFF_MANAGE_BILLING)
def tier_delete(request: HttpRequest, pk: int) -> HttpResponse:
    tier: PriceTier = _get(PriceTier, pk, "price tier")
    price = format_unit_price(tier.unit_price_micro, tier.price_list.currency)
    if request.method == "POST":
        try:
            delete_tier(tier, actor=_staff(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Tier from {tier.min_quantity} removed from {tier.price_list.name}.")
        return redirect("billing:price_lists")
    return render(
        request,
        "web/confirm.html",
        {
            "title": "Remove price tier",
            "question": f"Remove the tier from {tier.min_quantity} credits ({price} per credit) "
            f"from {tier.price_list.name}?",
            "details": [
                "Purchases of that size will be priced by the next smaller tier.",
                "Issued invoices keep their prices.",
            ],
            "confirm_label": "Remove tier",
            "cancel_url": reverse("billing:price_lists"),
        },
    )


@staff_view(Perm.STAFF_MANAGE_BILLING)
def country_tax_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    obj: CountryTax | None = _get(CountryTax, pk, "country")
    initial = None
    if obj is not None:
        initial = {"country": obj.country, "vat_rate": obj.vat_rate_bp / 100, "price_list": obj.price_list_id}
    form = CountryTaxForm(request.POST or None, initial=initial)
    if obj is not None:
        form.fields["country"].disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            saved = save_country_tax(
                obj,
                actor=_staff(request),
                country=form.cleaned_data["country"],
                vat_rate_bp=form.vat_rate_bp(),
                price_list=form.cleaned_data["price_list"],
            )
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"{saved.country}: VAT and price list saved.")
            return redirect("billing:price_lists")
    return _form_page(
        request,
        f"Country {obj.country}" if obj else "Add country",
        form,
        "Customers in this country are quoted from this price list, in its currency, with this VAT rate.",
    )
