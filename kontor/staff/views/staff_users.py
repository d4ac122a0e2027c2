"""Provider staff users: list, add (a welcome email goes out), enable and disable."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.services import create_staff_user, set_user_active
from kontor.core.errors import DomainError, NotFound
from kontor.staff.forms import StaffUserForm
from kontor.staff.tables import StaffUserTable
from kontor.web.decorators import staff_actor, staff_view
from kontor.web.lists import Action, form_errors_from, list_page


def _staff_users():  # type: ignore[no-untyped-def]
    # Staff users belong to no customer, so they are not tenant rows: the provider sees them all.
    return User.objects.filter(is_staff=True, customer__isnull=True)


@staff_view(Perm.STAFF_MANAGE_STAFF)
def staff_users(request: HttpRequest) -> HttpResponse:
    return list_page(
        request,
        title="Staff users",
        queryset=_staff_users().order_by("last_name", "first_name", "email"),
        table_class=StaffUserTable,
        actions=[Action("Add staff user", reverse("staff:staff_user_add"))],
        intro="Provider staff and their roles: CSR, technical account manager, billing, administrator.",
    )


@staff_view(Perm.STAFF_MANAGE_STAFF)
def staff_user_add(request: HttpRequest) -> HttpResponse:
    form = StaffUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = create_staff_user(actor=staff_actor(request), **form.cleaned_data)
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Staff user added. A welcome email was sent to {user.email}.")
            return redirect("staff:staff_users")
    return render(
        request,
        "web/form.html",
        {"title": "Add staff user", "form": form, "submit": "Add", "cancel_url": reverse("staff:staff_users")},
    )


@staff_view(Perm.STAFF_MANAGE_STAFF)
def staff_user_active(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST flips enabled/disabled (disabling ends their sessions)."""
    user = _staff_users().filter(pk=pk).first()
    if user is None:
        raise NotFound("staff user")
    enable = not user.is_active
    if request.method == "POST":
        try:
            set_user_active(user, enable, actor=staff_actor(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{user.email} is now {'enabled' if enable else 'disabled'}.")
        return redirect("staff:staff_users")
    return render(
        request,
        "web/confirm.html",
        {
            "title": f"{'Enable' if enable else 'Disable'} staff user",
            "question": (
                f"Enable {user.email} again? They can sign in with their password."
                if enable
                else f"Disable {user.email}? They are signed out at once and cannot sign in until enabled again."
            ),
            "confirm_label": "Enable" if enable else "Disable",
            "cancel_url": reverse("staff:staff_users"),
        },
    )
