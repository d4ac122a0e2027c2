"""The provider catalogue: cost centers and product features."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from kontor.access.perms import Perm
from kontor.core.errors import DomainError, NotFound
from kontor.staff.forms import CostCenterForm, FeatureForm
from kontor.staff.tables import CostCenterTable, FeatureTable
from kontor.tenancy.models import CostCenter, Feature
from kontor.tenancy.services import save_cost_center, save_feature
from kontor.web.decorators import staff_actor, staff_view
from kontor.web.lists import Action, form_errors_from, list_page

# --- cost centers --------------------------------------------------------------------------------


@staff_view(Perm.STAFF_MANAGE_COST_CENTERS)
def cost_centers(request: HttpRequest) -> HttpResponse:
    return list_page(
        request,
        title="Cost centers",
        queryset=CostCenter.objects.select_related("customer").order_by("code"),
        table_class=CostCenterTable,
        actions=[Action("Add cost center", reverse("staff:cost_center_add"))],
        intro="Customers bill each account to a cost center; accounts on different cost centers are billed "
        "separately. A cost center limited to one customer is offered only to that customer's accounts.",
    )


def _cost_center(pk: int | None) -> CostCenter | None:
    if pk is None:
        return None
    obj = CostCenter.objects.filter(pk=pk).first()
    if obj is None:
        raise NotFound("cost center")
    return obj


@staff_view(Perm.STAFF_MANAGE_COST_CENTERS)
def cost_center_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    obj = _cost_center(pk)
    initial = {"code": obj.code, "name": obj.name, "customer": obj.customer_id} if obj else None
    form = CostCenterForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = save_cost_center(obj, actor=staff_actor(request), **form.cleaned_data)
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Cost center {saved.code} saved.")
            return redirect("staff:cost_centers")
    return render(
        request,
        "web/form.html",
        {
            "title": f"Edit cost center {obj.code}" if obj else "Add cost center",
            "form": form,
            "cancel_url": reverse("staff:cost_centers"),
        },
    )


# --- features ------------------------------------------------------------------------------------


@staff_view(Perm.STAFF_MANAGE_FEATURES)
def features(request: HttpRequest) -> HttpResponse:
    return list_page(
        request,
        title="Features",
        queryset=Feature.objects.annotate(customer_count=Count("customers")).order_by("name"),
        table_class=FeatureTable,
        actions=[Action("Add feature", reverse("staff:feature_add"))],
        intro="Product features the provider switches on per customer (on the customer's page).",
    )


def _feature(pk: int | None) -> Feature | None:
    if pk is None:
        return None
    obj = Feature.objects.filter(pk=pk).first()
    if obj is None:
        raise NotFound("feature")
    return obj


@staff_view(Perm.STAFF_MANAGE_FEATURES)
def feature_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    obj = _feature(pk)
    initial = {"code": obj.code, "name": obj.name, "description": obj.description} if obj else None
    form = FeatureForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = save_feature(obj, actor=staff_actor(request), **form.cleaned_data)
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Feature {saved.name} saved.")
            return redirect("staff:features")
    return render(
        request,
        "web/form.html",
        {
            "title": f"Edit feature {obj.name}" if obj else "Add feature",
            "form": form,
            "cancel_url": reverse("staff:features"),
        },
    )
