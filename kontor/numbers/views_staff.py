"""Provider staff pages: the number inventory, adding and importing numbers, Assign/Unassign Number by
subscriber ID (manual 002) and the queue of keyword orders."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.core.errors import DomainError
from kontor.numbers import services
from kontor.numbers.filters import KeywordOrderFilter, NumberFilter
from kontor.numbers.forms import AssignNumberForm, NumberEditForm, NumberForm, NumberImportForm, RejectForm
from kontor.numbers.selectors import inventory, keyword_orders_for_staff, number_for_staff, order_for_staff
from kontor.numbers.tables import NumberTable, StaffKeywordOrderTable
from kontor.web.decorators import staff_view
from kontor.web.lists import Action, export_csv, form_errors_from, list_page

MANAGE = Perm.STAFF_MANAGE_NUMBERS


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@staff_view(MANAGE)
def inventory_list(request: HttpRequest) -> HttpResponse:
    return list_page(
        request,
        title="Numbers",
        queryset=inventory(),
        table_class=NumberTable,
        filterset_class=NumberFilter,
        actions=[
            Action("Add number", reverse("numbers:number_add")),
            Action("Import CSV", reverse("numbers:number_import")),
            Action("Assign/Unassign Number", reverse("numbers:assign")),
            Action("Keyword orders", reverse("numbers:orders_staff")),
        ],
        export_url=reverse("numbers:inventory_export"),
        intro="The provider's short codes, long codes and DNIS numbers. Two-way numbers can receive messages.",
    )


@staff_view(MANAGE)
def inventory_export(request: HttpRequest) -> HttpResponse:
    return export_csv(  # type: ignore[return-value]  # a streamed response
        request,
        queryset=inventory(),
        filterset_class=NumberFilter,
        table_class=NumberTable,
        filename="numbers.csv",
    )


@staff_view(MANAGE)
def number_add(request: HttpRequest) -> HttpResponse:
    form = NumberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            number = services.add_number(actor=_actor(request), **form.cleaned_data)
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"{number.value} was added to the inventory.")
            return redirect("numbers:inventory")
    return render(
        request,
        "web/form.html",
        {"title": "Add number", "form": form, "submit": "Add", "cancel_url": reverse("numbers:inventory")},
        status=422 if form.errors else 200,
    )


@staff_view(MANAGE)
def number_edit(request: HttpRequest, pk: int) -> HttpResponse:
    number = number_for_staff(pk)
    initial = {"operator": number.operator, "two_way": number.two_way, "suspended": number.status == "suspended"}
    form = NumberEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.update_number(number, actor=_actor(request), **form.cleaned_data)
        messages.success(request, f"{number.value} was saved.")
        return redirect("numbers:inventory")
    owner = (
        f"assigned to {number.customer.name} ({number.customer.subscriber_id})" if number.customer else "not assigned"
    )
    return render(
        request,
        "web/form.html",
        {
            "title": f"Number {number.value}",
            "intro": f"{number.get_kind_display()}, {number.country}, {owner}. Assign or unassign it on the "
            "Assign/Unassign Number page.",
            "form": form,
            "cancel_url": reverse("numbers:inventory"),
        },
    )


@staff_view(MANAGE)
def number_import(request: HttpRequest) -> HttpResponse:
    form = NumberImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        try:
            report = services.import_numbers(
                form.cleaned_data["file"].read(), actor=_actor(request), only_valid=form.cleaned_data["only_valid"]
            )
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            if report.created:
                messages.success(request, f"{len(report.created)} number(s) imported.")
                if not report.errors:
                    return redirect("numbers:inventory")
    return render(
        request,
        "numbers/import.html",
        {"title": "Import numbers", "form": form, "report": report},
        status=422 if (form.errors or (report and report.errors)) else 200,
    )


@staff_view(MANAGE)
def assign(request: HttpRequest) -> HttpResponse:
    """Assign/Unassign Number (manual 002): Phone Number + Subscriber ID; the confirmation shows at the
    top of the page."""
    form = AssignNumberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        unassign = "unassign" in request.POST
        try:
            number = services.number_by_value(data["phone_number"])
            if unassign:
                services.unassign_number(number, data["subscriber_id"], actor=_actor(request), force=data["force"])
            else:
                services.assign_number(number, data["subscriber_id"], actor=_actor(request))
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            customer = services.customer_by_subscriber_id(data["subscriber_id"])
            verb = "unassigned from" if unassign else "assigned to"
            messages.success(request, f"{number.value} was {verb} {customer.name} ({customer.subscriber_id}).")
            return redirect("numbers:assign")
    return render(
        request,
        "numbers/assign.html",
        {"title": "Assign/Unassign Number", "form": form},
        status=422 if form.errors else 200,
    )


@staff_view(MANAGE)
def orders_staff(request: HttpRequest) -> HttpResponse:
    return list_page(
        request,
        title="Keyword orders",
        queryset=keyword_orders_for_staff(),
        table_class=StaffKeywordOrderTable,
        filterset_class=KeywordOrderFilter,
        intro="Customers' orders for keywords on shared short codes.",
    )


@staff_view(MANAGE)
def order_approve(request: HttpRequest, pk: int) -> HttpResponse:
    order = order_for_staff(pk)
    if request.method == "POST":
        try:
            services.approve_keyword_order(order, actor=_actor(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, f"The keyword {order.word} on {order.number.value} now belongs to {order.account.name}."
            )
        return redirect("numbers:orders_staff")
    return render(
        request,
        "web/confirm.html",
        {
            "title": "Approve keyword order",
            "question": f"Give the keyword {order.word} on {order.number.value} to {order.account.name} "
            f"({order.customer.name})?",
            "confirm_label": "Approve",
            "cancel_url": reverse("numbers:orders_staff"),
        },
    )


@staff_view(MANAGE)
def order_reject(request: HttpRequest, pk: int) -> HttpResponse:
    order = order_for_staff(pk)
    form = RejectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.reject_keyword_order(order, actor=_actor(request), reason=form.cleaned_data["reason"])
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"The order for {order.word} on {order.number.value} was rejected.")
            return redirect("numbers:orders_staff")
    return render(
        request,
        "web/form.html",
        {
            "title": f"Reject keyword {order.word} on {order.number.value}",
            "form": form,
            "submit": "Reject",
            "cancel_url": reverse("numbers:orders_staff"),
        },
        status=422 if form.errors else 200,
    )
