"""One customer as staff see it: facts, accounts and users, and the panels that change it (features,
company data, credit mode, caller verification, resending a welcome link). Each panel posts to its own
URL guarded by its own staff permission; a refused or invalid post re-renders the page with the error
beside that panel and changes nothing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.requests import StaffRequest
from kontor.access.selectors import staff_scope
from kontor.access.services import resend_welcome, verify_caller
from kontor.core.errors import DomainError
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.staff.forms import AllowlistClearForm, CreditModeForm, CustomerEditForm, FeaturesForm, VerifyCallerForm
from kontor.staff.services import clear_ip_allowlist, master_emails
from kontor.tenancy.models import Account, Customer
from kontor.tenancy.selectors import get_customer
from kontor.tenancy.services import set_credit_mode, set_features, update_customer
from kontor.web.decorators import staff_view
from kontor.web.lists import form_errors_from


def _users(scope: Scope) -> list[User]:
    return list(scoped(scope, User).order_by("-is_master", "last_name", "first_name", "email"))


def _render(request: StaffRequest, customer: Customer, **override: Any) -> HttpResponse:
    scope = staff_scope(request.user, customer)
    users = _users(scope)
    accounts = scoped(scope, Account).select_related("cost_center").order_by("status", "name")
    context: dict[str, Any] = {
        "customer": customer,
        "scope_perms": scope.perms,
        "accounts": accounts,
        "users": [(u, u.has_usable_password() and u.has_pin) for u in users],
        "enabled_features": list(customer.features.order_by("name")),
        "edit_form": CustomerEditForm.for_customer(customer),
        "features_form": FeaturesForm.for_customer(customer),
        "credit_form": CreditModeForm.for_customer(customer),
        "verify_form": VerifyCallerForm(users=[u for u in users if u.is_active]),
        "verify_result": None,
        "allowlist_form": AllowlistClearForm(),
        "allowlist_masters": master_emails(customer),
        **override,
    }
    return render(request, "staff/customer_detail.html", context)


@staff_view(Perm.STAFF_VIEW_CUSTOMERS)
def customer_detail(request: StaffRequest, pk: int) -> HttpResponse:
    return _render(request, get_customer(pk))


def _apply(
    request: StaffRequest, customer: Customer, form: forms.Form, key: str, action: Any, success: str
) -> HttpResponse:
    """Validate `form`, run `action(cleaned_data)` (a service call); on success go back to the page with
    a message, otherwise show the page again with the errors on this panel."""
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, success)
            return redirect("staff:customer", customer.pk)
    return _render(request, customer, **{key: form})


@staff_view(Perm.STAFF_VIEW_CUSTOMERS, Perm.STAFF_MANAGE_FEATURES)
@require_POST
def customer_features(request: StaffRequest, pk: int) -> HttpResponse:
    customer = get_customer(pk)
    actor = request.user
    return _apply(
        request,
        customer,
        FeaturesForm.for_customer(customer, request.POST),
        "features_form",
        lambda data: set_features(customer, data["features"], actor=actor),
        "Features saved.",
    )


@staff_view(Perm.STAFF_VIEW_CUSTOMERS, Perm.STAFF_MANAGE_CUSTOMERS)
@require_POST
def customer_edit(request: StaffRequest, pk: int) -> HttpResponse:
    customer = get_customer(pk)
    actor = request.user
    return _apply(
        request,
        customer,
        CustomerEditForm.for_customer(customer, request.POST),
        "edit_form",
        lambda data: update_customer(customer, actor=actor, **data),
        "Customer saved.",
    )


@staff_view(Perm.STAFF_VIEW_CUSTOMERS, Perm.STAFF_MANAGE_BILLING)
@require_POST
def customer_credit_mode(request: StaffRequest, pk: int) -> HttpResponse:
    customer = get_customer(pk)
    actor = request.user
    return _apply(
        request,
        customer,
        CreditModeForm.for_customer(customer, request.POST),
        "credit_form",
        lambda data: set_credit_mode(customer, data["credit_mode"], actor=actor),
        "Credit mode saved.",
    )


@staff_view(Perm.STAFF_VIEW_CUSTOMERS, Perm.STAFF_VERIFY_CALLER)
@require_POST
def customer_verify(request: StaffRequest, pk: int) -> HttpResponse:
    customer = get_customer(pk)
    actor = request.user
    scope = staff_scope(actor, customer)
    form = VerifyCallerForm(request.POST, users=[u for u in _users(scope) if u.is_active])
    result: dict[str, Any] | None = None
    if form.is_valid():
        caller = get_scoped(scope, User, pk=form.cleaned_data["user"])
        pin, answer = form.cleaned_data["pin"].strip(), form.cleaned_data["answer"].strip()
        try:
            matched = verify_caller(caller, actor=actor, pin=pin, answer=answer)
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            result = {"user": caller, "method": "PIN" if pin else "security answer", "matched": matched}
            # What the caller said is never echoed back into the page.
            form = VerifyCallerForm(initial={"user": caller.pk}, users=[u for u in _users(scope) if u.is_active])
    return _render(request, customer, verify_form=form, verify_result=result)


@staff_view(Perm.STAFF_VIEW_CUSTOMERS, Perm.STAFF_ONBOARD)
@require_POST
def customer_resend_welcome(request: StaffRequest, pk: int, user_pk: int) -> HttpResponse:
    customer = get_customer(pk)
    actor = request.user
    user = get_scoped(staff_scope(actor, customer), User, pk=user_pk)
    try:
        resend_welcome(user, actor=actor)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"A new welcome email was sent to {user.email}.")
    return redirect("staff:customer", customer.pk)


@staff_view(Perm.STAFF_VIEW_CUSTOMERS, Perm.STAFF_MANAGE_ALLOWLIST)
@require_POST
def customer_allowlist(request: StaffRequest, pk: int) -> HttpResponse:
    """Clear the customer's IP allowlist: how a customer that locked itself out gets back in."""
    customer = get_customer(pk)
    actor = request.user
    return _apply(
        request,
        customer,
        AllowlistClearForm(request.POST),
        "allowlist_form",
        lambda data: clear_ip_allowlist(customer, actor=actor, reason=data["reason"]),
        "The IP allowlist was cleared and the master users were told by mail.",
    )
