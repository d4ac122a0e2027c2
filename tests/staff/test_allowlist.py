"""Lifting an IP allowlist lock-out (issue 8 §3): a customer that saved an allowlist excluding itself can
sign in again once provider staff with 'staff.manage_allowlist' clear it, on the customer's staff page or
through the staff API. The change is audited and mailed, on commit, to the customer's master users."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from kontor.access.perms import STAFF_ROLE_PERMS, Perm, StaffRole
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Customer
from kontor.tenancy.services import set_ip_allowlist
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

API = "/api/v1/staff/customers/{}/ip-allowlist"
LOCKED = ["192.0.2.0/24"]  # the test client comes from 127.0.0.1


@pytest.fixture
def locked(world):
    """Acme's master saved an allowlist that leaves out the address everyone signs in from."""
    acme = world.acme
    set_ip_allowlist(acme.customer, LOCKED, actor=acme.master, current_ip="127.0.0.1", confirm_lockout=True)
    acme.customer.refresh_from_db()
    return acme


def _can_sign_in(client, email: str) -> bool:
    client.logout()
    response = client.post(reverse("access:login"), {"email": email, "password": PASSWORD})
    return response.status_code == 302


def test_the_permission_is_given_to_csr_tam_and_admin_only():
    holders = {role for role, perms in STAFF_ROLE_PERMS.items() if Perm.STAFF_MANAGE_ALLOWLIST in perms}
    assert holders == {StaffRole.CSR, StaffRole.TAM, StaffRole.ADMIN}


def test_staff_clear_the_allowlist_on_the_page_and_the_customer_signs_in_again(
    client, world, locked, django_capture_on_commit_callbacks
):
    assert not _can_sign_in(client, locked.master.email)
    client.force_login(world.staff["csr"])
    page = client.get(reverse("staff:customer", args=[locked.customer.pk])).content.decode()
    assert "192.0.2.0/24" in page and reverse("staff:customer_allowlist", args=[locked.customer.pk]) in page
    # Without the explicit confirmation nothing changes.
    refused = client.post(
        reverse("staff:customer_allowlist", args=[locked.customer.pk]), {"allowlist-reason": "Locked out"}
    )
    assert refused.status_code == 200 and 'id="id_allowlist-confirm_error"' in refused.content.decode()
    assert Customer.objects.get(pk=locked.customer.pk).ip_allowlist == LOCKED
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("staff:customer_allowlist", args=[locked.customer.pk]),
            {"allowlist-reason": "Caller verified, locked out", "allowlist-confirm": "on"},
        )
    assert response.status_code == 302
    assert Customer.objects.get(pk=locked.customer.pk).ip_allowlist == []
    entry = AuditEntry.objects.get(customer=locked.customer, action="customer.ip_allowlist_cleared")
    assert entry.actor == world.staff["csr"]
    assert entry.before["ip_allowlist"] == LOCKED and entry.after["ip_allowlist"] == []
    assert entry.after["reason"] == "Caller verified, locked out"
    # Mailed to the master users, and only to them.
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [locked.master.email]
    assert "192.0.2.0/24" in mail.outbox[0].body and "Caller verified" in mail.outbox[0].body
    assert _can_sign_in(client, locked.master.email)


@pytest.mark.parametrize("role", ["billing"])
def test_staff_without_the_permission_are_refused(client, world, locked, role):
    client.force_login(world.staff[role])
    response = client.post(
        reverse("staff:customer_allowlist", args=[locked.customer.pk]),
        {"allowlist-reason": "x", "allowlist-confirm": "on"},
    )
    assert response.status_code == 403
    page = client.get(reverse("staff:customer", args=[locked.customer.pk])).content.decode()
    assert reverse("staff:customer_allowlist", args=[locked.customer.pk]) not in page
    api = client.delete(API.format(locked.customer.pk))
    assert api.status_code == 403 and api.json()["code"] == "permission_denied"
    assert Customer.objects.get(pk=locked.customer.pk).ip_allowlist == LOCKED


def test_customer_users_cannot_use_the_staff_operation(client, world):
    client.force_login(world.acme.master)
    assert client.get(API.format(world.acme.customer.pk)).status_code == 403
    assert client.delete(API.format(world.acme.customer.pk)).status_code == 403


def test_api_view_and_clear(client, world, locked, django_capture_on_commit_callbacks):
    client.force_login(world.staff["tam"])
    url = API.format(locked.customer.pk)
    view = client.get(url)
    assert view.status_code == 200 and view.json()["entries"] == LOCKED
    assert view.json()["master_emails"] == [locked.master.email]
    with django_capture_on_commit_callbacks(execute=True):
        cleared = client.delete(url + "?reason=Locked+out")
    assert cleared.status_code == 200, cleared.content
    assert cleared.json()["entries"] == []
    assert Customer.objects.get(pk=locked.customer.pk).ip_allowlist == []
    assert AuditEntry.objects.filter(customer=locked.customer, action="customer.ip_allowlist_cleared").count() == 1
    assert len(mail.outbox) == 1
    # Clearing an empty list again is a no-op: no audit row, no mail.
    with django_capture_on_commit_callbacks(execute=True):
        again = client.delete(url)
    assert again.status_code == 200
    assert AuditEntry.objects.filter(customer=locked.customer, action="customer.ip_allowlist_cleared").count() == 1
    assert len(mail.outbox) == 1


def test_api_unknown_customer_is_404(client, world):
    client.force_login(world.staff["admin"])
    response = client.delete(API.format(987654321))
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


def test_nothing_is_mailed_when_the_clear_rolls_back(world, locked, django_capture_on_commit_callbacks):
    from django.db import transaction

    from kontor.staff.services import clear_ip_allowlist

    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                clear_ip_allowlist(locked.customer, actor=world.staff["csr"], reason="oops")
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert Customer.objects.get(pk=locked.customer.pk).ip_allowlist == LOCKED
    assert mail.outbox == []
