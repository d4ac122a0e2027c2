"""CSR "Add Enterprise Account" (manual 002) through the web form."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from kontor.access.models import User
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Account, Customer

GOOD = {
    "first_name": "Nora",
    "last_name": "Nilsson",
    "email": "Nora.Nilsson@Newco.test",
    "phone": "+46 70 123 45 67",
    "time_zone": "Europe/Stockholm",
    "billing_id": "not_used",
    "company_name": "Newco AB",
    "country": "SE",
}


def _counts() -> tuple[int, int, int, int]:
    return (Customer.objects.count(), User.objects.count(), Account.objects.count(), AuditEntry.objects.count())


@pytest.fixture
def csr_client(client, world):
    client.force_login(world.staff["csr"])
    return client


def test_form_shows_the_manuals_fields(csr_client):
    response = csr_client.get(reverse("staff:onboard"))
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("First Name", "Last Name", "Email Address", "Phone Number", "Time Zone", "Billing ID"):
        assert label in html
    assert "Create Account" in html
    assert "not_used" in html
    # every IANA zone is offered, Stockholm is preselected
    assert '<option value="Pacific/Auckland"' in html
    assert '<option value="Europe/Stockholm" selected' in html


def test_onboarding_creates_customer_master_main_account_and_one_welcome_mail(
    csr_client, world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = csr_client.post(reverse("staff:onboard"), GOOD)
    customer = Customer.objects.get(name="Newco AB")
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:customer", args=[customer.pk])
    assert customer.billing_id == "not_used" and customer.time_zone == "Europe/Stockholm"
    master = User.objects.get(customer=customer)
    assert master.email == "nora.nilsson@newco.test" and master.is_master and master.phone == "+46701234567"
    assert not master.has_usable_password() and not master.has_pin
    assert list(Account.objects.filter(customer=customer).values_list("name", flat=True)) == ["Main"]

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["nora.nilsson@newco.test"]
    assert re.search(r"/welcome/[\w-]+/", message.body)

    actions = set(AuditEntry.objects.filter(customer=customer).values_list("action", flat=True))
    assert {"customer.create", "account.create", "user.create"} <= actions
    assert AuditEntry.objects.filter(customer=customer, actor=world.staff["csr"]).count() >= 3

    page = csr_client.get(response["Location"])
    text = page.content.decode()
    assert "Account created. A welcome email was sent to nora.nilsson@newco.test" in text
    assert customer.subscriber_id in text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"billing_id": ""}, "billing_id"),
        ({"billing_id": "   "}, "billing_id"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"phone": "call me maybe"}, "phone"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"first_name": ""}, "first_name"),
        ({"country": "XX"}, "country"),
    ],
)
def test_bad_input_shows_an_inline_error_and_creates_nothing(csr_client, change, field):
    before = _counts()
    response = csr_client.post(reverse("staff:onboard"), {**GOOD, **change})
    assert response.status_code == 200
    assert f'id="id_{field}_error"' in response.content.decode()
    assert _counts() == before
    assert mail.outbox == []


def test_duplicate_email_shows_an_inline_error_and_creates_nothing(csr_client, world):
    before = _counts()
    response = csr_client.post(reverse("staff:onboard"), {**GOOD, "email": "MASTER@acme.test"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_email_error"' in html and "already exists" in html
    assert _counts() == before
    assert mail.outbox == []


def test_billing_staff_cannot_onboard(client, world):
    client.force_login(world.staff["billing"])
    before = _counts()
    assert client.get(reverse("staff:onboard")).status_code == 403
    assert client.post(reverse("staff:onboard"), GOOD).status_code == 403
    assert _counts() == before


def test_anonymous_is_sent_to_login(client, world):
    response = client.get(reverse("staff:onboard"))
    assert response.status_code == 302 and "login" in response["Location"]
