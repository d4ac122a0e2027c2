"""Staff page of one account's send rate (messages per second handed to the connector): everyone who
views customers sees it; those who manage customers change it (`services.sendrate.set_send_rate`, audited)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from kontor.access.perms import Perm
from kontor.access.requests import StaffRequest
from kontor.core.errors import DomainError
from kontor.messaging.selectors.sendrate import send_rate_of, staff_account
from kontor.messaging.services.sendrate import set_send_rate
from kontor.tenancy.models import Account
from kontor.web.decorators import staff_view
from kontor.web.lists import form_errors_from


class SendRateForm(forms.Form):
    # The range is the service's rule; the form only reads a whole number.
    messages_per_second = forms.IntegerField(label="Messages per second")


def _page(request: StaffRequest, account: Account, form: SendRateForm | None = None) -> HttpResponse:
    rate = send_rate_of(request.user, account)
    if form is None:
        form = SendRateForm(initial={"messages_per_second": rate.messages_per_second})
    context: dict[str, Any] = {"account": account, "customer": account.customer, "rate": rate, "form": form}
    return render(request, "messaging/staff_send_rate.html", context)


@staff_view(Perm.STAFF_VIEW_CUSTOMERS)
def send_rate(request: StaffRequest, pk: int, account_pk: int) -> HttpResponse:
    return _page(request, staff_account(request.user, pk, account_pk))


@staff_view(Perm.STAFF_VIEW_CUSTOMERS, Perm.STAFF_MANAGE_CUSTOMERS)
@require_POST
def send_rate_set(request: StaffRequest, pk: int, account_pk: int) -> HttpResponse:
    actor = request.user
    account = staff_account(actor, pk, account_pk)
    form = SendRateForm(request.POST)
    if form.is_valid():
        try:
            set_send_rate(account, form.cleaned_data["messages_per_second"], actor=actor)
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            rate = form.cleaned_data["messages_per_second"]
            messages.success(request, f"{account.name} now sends at most {rate:,} messages per second.")
            return redirect("messaging:staff_send_rate", pk=pk, account_pk=account_pk)
    return _page(request, account, form)
