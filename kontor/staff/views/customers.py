"""Subscriber lookup, its CSV export, and the CSR "Add Enterprise Account" form."""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kontor.access.perms import Perm
from kontor.access.services import Onboarded, onboard_enterprise
from kontor.staff.filters import CustomerFilter
from kontor.staff.forms import OnboardForm
from kontor.staff.selectors import customers_with_master
from kontor.staff.tables import CustomerTable
from kontor.tenancy.models import Customer
from kontor.web.decorators import staff_view
from kontor.web.generic import EditView, ListView
from kontor.web.lists import Action


@staff_view(Perm.STAFF_VIEW_CUSTOMERS)
class CustomerList(ListView):
    title = _("Customers · Subscriber lookup")
    table_class = CustomerTable
    filterset_class = CustomerFilter
    export_url = "staff:customers_export"
    export_filename = "customers.csv"
    intro = _(
        "Search by the email or name of any user, the company name, the subscriber ID (S000012 or 12) or the "
        "billing ID."
    )

    def get_actions(self) -> list[Action]:
        perms = {p.value for p in self.actor.staff_perms}
        if Perm.STAFF_ONBOARD.value not in perms:
            return []
        return [Action(gettext("Add enterprise account"), reverse("staff:onboard"))]

    def get_queryset(self) -> QuerySet[Customer]:
        return customers_with_master()


@staff_view(Perm.STAFF_ONBOARD)
class Onboard(EditView[Customer]):
    """The CSR "Add Enterprise Account" form."""

    form_class = OnboardForm
    add_title = _("Add Enterprise Account")
    intro = _(
        "Creates the enterprise customer (subscriber), its first account “Main” and its master user, who "
        "receives a welcome email with a link to set a password, a PIN and a security question. Assign a phone "
        "number and enable features afterwards."
    )
    submit = _("Create Account")
    success_message = _(
        "Account created. A welcome email was sent to %(master.email)s; subscriber ID %(customer.subscriber_id)s."
    )
    cancel_url = "staff:customers"

    def save(self, form: OnboardForm, customer: Customer | None) -> Onboarded:
        return onboard_enterprise(actor=self.actor, **form.cleaned_data)

    def get_success_url(self, done: Onboarded) -> str:
        return reverse("staff:customer", args=[done.customer.pk])
