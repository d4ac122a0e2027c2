"""The provider catalogue: cost centers and product features."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet
from django.utils.translation import gettext_lazy as _

from kontor.access.perms import Perm
from kontor.staff.forms import CostCenterForm, FeatureForm
from kontor.staff.tables import CostCenterTable, FeatureTable
from kontor.tenancy.models import CostCenter, Feature
from kontor.tenancy.services import save_cost_center, save_feature
from kontor.web.decorators import staff_view
from kontor.web.generic import EditView, Link, ListView

# --- cost centers --------------------------------------------------------------------------------


@staff_view(Perm.STAFF_MANAGE_COST_CENTERS)
class CostCenterList(ListView):
    title = _("Cost centers")
    table_class = CostCenterTable
    actions = [Link(_("Add cost center"), "staff:cost_center_add")]
    intro = _(
        "Customers bill each account to a cost center; accounts on different cost centers are billed "
        "separately. A cost center limited to one customer is offered only to that customer's accounts."
    )

    def get_queryset(self) -> QuerySet[CostCenter]:
        return CostCenter.objects.select_related("customer").order_by("code")


@staff_view(Perm.STAFF_MANAGE_COST_CENTERS)
class CostCenterEdit(EditView[CostCenter]):
    model = CostCenter
    catalogue = True
    form_class = CostCenterForm
    title = _("Edit cost center %(code)s")
    add_title = _("Add cost center")
    success_message = _("Cost center %(code)s saved.")
    success_url = "staff:cost_centers"

    def get_initial(self, obj: CostCenter) -> dict[str, Any]:
        return {"code": obj.code, "name": obj.name, "customer": obj.customer_id}

    def save(self, form: CostCenterForm, obj: CostCenter | None) -> CostCenter:
        return save_cost_center(obj, actor=self.actor, **form.cleaned_data)


# --- features ------------------------------------------------------------------------------------


@staff_view(Perm.STAFF_MANAGE_FEATURES)
class FeatureList(ListView):
    title = _("Features")
    table_class = FeatureTable
    actions = [Link(_("Add feature"), "staff:feature_add")]
    intro = _("Product features the provider switches on per customer (on the customer's page).")

    def get_queryset(self) -> QuerySet[Feature]:
        return Feature.objects.annotate(customer_count=Count("customers")).order_by("name")


@staff_view(Perm.STAFF_MANAGE_FEATURES)
class FeatureEdit(EditView[Feature]):
    model = Feature
    catalogue = True
    form_class = FeatureForm
    title = _("Edit feature %(name)s")
    add_title = _("Add feature")
    success_message = _("Feature %(name)s saved.")
    success_url = "staff:features"

    def get_initial(self, obj: Feature) -> dict[str, Any]:
        return {"code": obj.code, "name": obj.name, "description": obj.description}

    def save(self, form: FeatureForm, obj: Feature | None) -> Feature:
        return save_feature(obj, actor=self.actor, **form.cleaned_data)
