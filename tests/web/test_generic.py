"""The generic pages (kontor/web/generic.py): a page class must declare its guard, and what the URLconf
gets carries the same declaration the permission matrix reads from a view function."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import resolve, reverse

from kontor.access.perms import Perm
from kontor.tenancy.models import Office
from kontor.web.decorators import customer_view, staff_view
from kontor.web.generic import ConfirmView, ListView, fill


def test_a_page_without_a_guard_is_refused_at_import():
    class Unguarded(ListView):
        pass

    with pytest.raises(ImproperlyConfigured):
        Unguarded.as_view()


def test_the_guard_is_not_inherited():
    @customer_view(Perm.MANAGE_OFFICES)
    class Guarded(ConfirmView[Office]):
        model = Office

    class Child(Guarded):
        pass

    Guarded.as_view()
    with pytest.raises(ImproperlyConfigured):
        Child.as_view()


def test_as_view_carries_the_declaration():
    @staff_view(Perm.STAFF_MANAGE_FEATURES)
    class StaffPage(ListView):
        pass

    @customer_view(any_of=(Perm.VIEW_USERS, Perm.MANAGE_USERS))
    class CustomerPage(ListView):
        pass

    staff = StaffPage.as_view()
    assert staff.kind == "staff" and staff.required_perms == (Perm.STAFF_MANAGE_FEATURES,)
    customer = CustomerPage.as_view()
    assert customer.kind == "customer" and customer.any_perms == (Perm.VIEW_USERS, Perm.MANAGE_USERS)


def test_declared_pages_in_the_urlconf():
    callback = resolve(reverse("tenancy:office_delete", args=[1])).func
    assert callback.kind == "customer" and callback.required_perms == (Perm.MANAGE_OFFICES,)
    export = resolve(reverse("access:users_export")).func
    assert export.view_initkwargs == {"export": True}


def test_fill_reads_attribute_paths():
    class Number:
        value = "+46701234567"

    class Order:
        word = "STOP"
        number = Number()

    assert fill("%(word)s on %(number.value)s", Order()) == "STOP on +46701234567"
