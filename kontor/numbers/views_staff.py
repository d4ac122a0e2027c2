"""Provider staff pages: the number inventory, adding and importing numbers, Assign/Unassign Number by
subscriber ID (manual 002) and the queue of keyword orders."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kontor.access.perms import Perm
from kontor.access.requests import StaffRequest
from kontor.core.errors import DomainError
from kontor.numbers import services
from kontor.numbers.filters import KeywordOrderFilter, NumberFilter
from kontor.numbers.forms import AssignNumberForm, NumberEditForm, NumberForm, NumberImportForm, RejectForm
from kontor.numbers.models import KeywordOrder, Number
from kontor.numbers.selectors import inventory, keyword_orders_for_staff, number_for_staff, order_for_staff
from kontor.numbers.tables import NumberTable, StaffKeywordOrderTable
from kontor.web.decorators import staff_view
from kontor.web.generic import ConfirmView, EditView, Link, ListView
from kontor.web.lists import form_errors_from

MANAGE = Perm.STAFF_MANAGE_NUMBERS


@staff_view(MANAGE)
class InventoryList(ListView):
    title = _("Numbers")
    table_class = NumberTable
    filterset_class = NumberFilter
    actions = [
        Link(_("Add number"), "numbers:number_add"),
        Link(_("Import CSV"), "numbers:number_import"),
        Link(_("Assign/Unassign Number"), "numbers:assign"),
        Link(_("Keyword orders"), "numbers:orders_staff"),
    ]
    export_url = "numbers:inventory_export"
    export_filename = "numbers.csv"
    intro = _("The provider's short codes, long codes and DNIS numbers. Two-way numbers can receive messages.")

    def get_queryset(self) -> QuerySet[Number]:
        return inventory()


@staff_view(MANAGE)
class NumberAdd(EditView[Number]):
    form_class = NumberForm
    add_title = _("Add number")
    submit = _("Add")
    success_message = _("%(value)s was added to the inventory.")
    success_url = "numbers:inventory"
    invalid_status = 422

    def save(self, form: NumberForm, number: Number | None) -> Number:
        return services.add_number(actor=self.actor, **form.cleaned_data)


@staff_view(MANAGE)
class NumberEdit(EditView[Number]):
    form_class = NumberEditForm
    title = _("Number %(value)s")
    success_message = _("%(value)s was saved.")
    success_url = "numbers:inventory"

    def get_object(self) -> Number:
        return number_for_staff(self.kwargs["pk"])

    def get_initial(self, number: Number) -> dict[str, Any]:
        return {"operator": number.operator, "two_way": number.two_way, "suspended": number.status == "suspended"}

    def get_intro(self, number: Number | None) -> str:
        assert number is not None
        customer = number.customer
        owner = (
            gettext("assigned to %(name)s (%(id)s)") % {"name": customer.name, "id": customer.subscriber_id}
            if customer
            else gettext("not assigned")
        )
        return gettext(
            "%(kind)s, %(country)s, %(owner)s. Assign or unassign it on the Assign/Unassign Number page."
        ) % {"kind": number.get_kind_display(), "country": number.country, "owner": owner}

    def save(self, form: NumberEditForm, number: Number | None) -> Number:
        assert number is not None
        services.update_number(number, actor=self.actor, **form.cleaned_data)
        return number


@staff_view(MANAGE)
def number_import(request: StaffRequest) -> HttpResponse:
    form = NumberImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        try:
            report = services.import_numbers(
                form.cleaned_data["file"].read(), actor=request.user, only_valid=form.cleaned_data["only_valid"]
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
def assign(request: StaffRequest) -> HttpResponse:
    """Assign/Unassign Number (manual 002): Phone Number + Subscriber ID; the confirmation shows at the
    top of the page."""
    form = AssignNumberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        unassign = "unassign" in request.POST
        try:
            number = services.number_by_value(data["phone_number"])
            if unassign:
                services.unassign_number(number, data["subscriber_id"], actor=request.user, force=data["force"])
            else:
                services.assign_number(number, data["subscriber_id"], actor=request.user)
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
class OrdersStaff(ListView):
    title = _("Keyword orders")
    table_class = StaffKeywordOrderTable
    filterset_class = KeywordOrderFilter
    intro = _("Customers' orders for keywords on shared short codes.")

    def get_queryset(self) -> QuerySet[KeywordOrder]:
        return keyword_orders_for_staff()


@staff_view(MANAGE)
class OrderApprove(ConfirmView[KeywordOrder]):
    title = _("Approve keyword order")
    question = _("Give the keyword %(word)s on %(number.value)s to %(account.name)s (%(customer.name)s)?")
    confirm_label = _("Approve")
    done_message = _("The keyword %(word)s on %(number.value)s now belongs to %(account.name)s.")
    done_url = "numbers:orders_staff"

    def get_object(self) -> KeywordOrder:
        return order_for_staff(self.kwargs["pk"])

    def act(self, order: KeywordOrder) -> None:
        services.approve_keyword_order(order, actor=self.actor)


@staff_view(MANAGE)
class OrderReject(EditView[KeywordOrder]):
    form_class = RejectForm
    title = _("Reject keyword %(word)s on %(number.value)s")
    submit = _("Reject")
    success_message = _("The order for %(word)s on %(number.value)s was rejected.")
    success_url = "numbers:orders_staff"
    invalid_status = 422

    def get_object(self) -> KeywordOrder:
        return order_for_staff(self.kwargs["pk"])

    def save(self, form: RejectForm, order: KeywordOrder | None) -> KeywordOrder:
        assert order is not None
        services.reject_keyword_order(order, actor=self.actor, reason=form.cleaned_data["reason"])
        return order
