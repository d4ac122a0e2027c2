"""Subscriber lookup, its CSV export, and the CSR "Add Enterprise Account" form."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kontor.access.perms import Perm
from kontor.access.services import onboard_enterprise
from kontor.core.errors import DomainError
from kontor.staff.filters import CustomerFilter
from kontor.staff.forms import OnboardForm
from kontor.staff.selectors import customers_with_master
from kontor.staff.tables import CustomerTable
from kontor.tenancy.models import Customer
from kontor.web.decorators import staff_actor, staff_view
from kontor.web.generic import ListView
from kontor.web.lists import Action, form_errors_from


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
def onboard(request: HttpRequest) -> HttpResponse:
    form = OnboardForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            done = onboard_enterprise(actor=staff_actor(request), **form.cleaned_data)
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(
                request,
                f"Account created. A welcome email was sent to {done.master.email}; "
                f"subscriber ID {done.customer.subscriber_id}.",
            )
            return redirect("staff:customer", done.customer.pk)
    return render(
        request,
        "web/form.html",
        {
            "title": "Add Enterprise Account",
            "intro": "Creates the enterprise customer (subscriber), its first account “Main” and its master "
            "user, who receives a welcome email with a link to set a password, a PIN and a security "
            "question. Assign a phone number and enable features afterwards.",
            "form": form,
            "submit": "Create Account",
            "cancel_url": reverse("staff:customers"),
        },
    )
