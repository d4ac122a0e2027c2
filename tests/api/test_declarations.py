"""The declarations on API operations (kontor/api/permissions.py, kontor/api/idempotency.py): the
permission is checked before the body is read, the declaration is readable on the view function, and a
write declared idempotent answers a repeated key once."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from ninja import Router

from kontor.access.perms import Perm
from kontor.api.idempotency import idempotent_write
from kontor.api.permissions import public, requires, requires_staff
from tests.api.conftest import Api, problem

pytestmark = pytest.mark.django_db


def test_a_caller_without_the_permission_is_refused_before_its_body_is_read(world, client, make_key):
    api = Api(client, make_key(world.acme, "view_credits"))
    # Not a valid body at all: 403 all the same, as the permission is checked first.
    problem(api.post("/users", {"first_name": 7}), 403, "permission_denied")
    problem(api.post("/credits/transfers", {}), 403, "permission_denied")


def test_a_staff_operation_refuses_a_key_whatever_its_body(world, client, make_key):
    api = Api(client, make_key(world.acme))
    body = problem(api.post("/staff/customers", {"not": "an onboarding"}), 403, "permission_denied")
    assert body["detail"] == "Only provider staff can do this."


def test_an_allowed_caller_gets_past_the_check_to_the_body(world, client, make_key):
    api = Api(client, make_key(world.acme, "manage_users"))
    problem(api.post("/users", {"first_name": 7}), 422, "validation_error")


def test_the_credit_writers_keep_their_words(world, client, make_key):
    api = Api(client, make_key(world.acme, "view_credits"))
    body = problem(api.post("/credits/purchases", {}), 403, "permission_denied")
    assert body["detail"] == "Buying or moving credits needs 'Send SMS' or 'Manage Office SMS Credits'."


def test_the_declaration_is_readable_on_the_view():
    router = Router()

    @router.get("/a")
    @requires(Perm.SEND_SMS, any_of=(Perm.VIEW_CREDITS, Perm.MANAGE_OFFICE_CREDITS))
    def a(request):  # type: ignore[no-untyped-def]
        return {}

    @router.get("/b")
    @requires_staff(Perm.STAFF_VIEW_CUSTOMERS)
    def b(request):  # type: ignore[no-untyped-def]
        return {}

    @router.post("/c", auth=None)
    @public("a provider's callback with its own token")
    def c(request):  # type: ignore[no-untyped-def]
        return {}

    assert (a.kind, a.required_perms, a.any_perms) == (  # type: ignore[attr-defined]
        "customer",
        (Perm.SEND_SMS,),
        (Perm.VIEW_CREDITS, Perm.MANAGE_OFFICE_CREDITS),
    )
    assert (b.kind, b.required_perms) == ("staff", (Perm.STAFF_VIEW_CUSTOMERS,))  # type: ignore[attr-defined]
    assert (c.kind, c.public_reason) == ("public", "a provider's callback with its own token")  # type: ignore[attr-defined]


def test_declaring_twice_is_an_error():
    with pytest.raises(TypeError, match="twice"):

        @requires(Perm.SEND_SMS)
        @requires_staff(Perm.STAFF_VIEW_CUSTOMERS)
        def both(request):  # type: ignore[no-untyped-def]
            return {}


def test_an_idempotent_write_must_take_the_key():
    with pytest.raises(TypeError, match="idempotency_key"):

        @idempotent_write()
        def keyless(request):  # type: ignore[no-untyped-def]
            return lambda: HttpResponse()
