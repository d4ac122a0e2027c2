"""Subscriber lookup, its CSV export, and the CSR "Add Enterprise Account" form."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from kontor.access.perms import Perm
from kontor.access.services import onboard_enterprise
from kontor.core.errors import DomainError
from kontor.staff.filters import CustomerFilter
from kontor.staff.forms import OnboardForm
from kontor.staff.selectors import customers_with_master
from kontor.staff.tables import CustomerTable
from kontor.web.decorators import staff_actor, staff_view
from kontor.web.lists import Action, export_csv, form_errors_from, list_page


@staff_view(Perm.STAFF_VIEW_CUSTOMERS)
def customers(request: HttpRequest) -> HttpResponse:
    perms = {p.value for p in staff_actor(request).staff_perms}
    actions = []
    if Perm.STAFF_ONBOARD.value in perms:
        actions.append(Action("Add enterprise account", reverse("staff:onboard")))
    return list_page(
        request,
        title="Customers · Subscriber lookup",
        queryset=customers_with_master(),
        table_class=CustomerTable,
        filterset_class=CustomerFilter,
        actions=actions,
        export_url=reverse("staff:customers_export"),
        intro="Search by the email or name of any user, the company name, the subscriber ID "
        "(S000012 or 12) or the billing ID.",
    )


@staff_view(Perm.STAFF_VIEW_CUSTOMERS)
def customers_export(request: HttpRequest) -> HttpResponse:
    return export_csv(  # type: ignore[return-value]  # a streamed response
        request,
        queryset=customers_with_master(),
        filterset_class=CustomerFilter,
        table_class=CustomerTable,
        filename="customers.csv",
    )


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
