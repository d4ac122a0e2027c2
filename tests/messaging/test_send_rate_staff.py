"""Provider staff see and set an account's send rate, on the staff page of the account and through
`/api/v1/staff/customers/{customer_id}/accounts/{account_id}/send-rate`: viewing needs
staff.view_customers, changing also staff.manage_customers; another customer's account is a 404, bad
input a clear error, and every change is audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.audit.models import AuditEntry
from kontor.messaging.models import SendRate
from kontor.messaging.rules import sendrate as throttle
from kontor.messaging.services.sendrate import set_send_rate
from tests.api.conftest import Api, problem

pytestmark = pytest.mark.django_db

PAGE = "messaging:staff_send_rate"
SET = "messaging:staff_send_rate_set"


def api_path(customer_id: int, account_id: int) -> str:
    return f"/staff/customers/{customer_id}/accounts/{account_id}/send-rate"


def nothing_changed() -> None:
    assert not SendRate.objects.exists()
    assert not AuditEntry.objects.filter(action="send_rate.set").exists()


# --- web ------------------------------------------------------------------------------------------


def test_page_shows_the_default_then_the_rate_a_tam_sets(client, world, settings):
    settings.KONTOR_DEFAULT_SEND_RATE = 50
    acme = world.acme
    client.force_login(world.staff["tam"])
    url = reverse(PAGE, args=[acme.customer.pk, acme.account.pk])
    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "50 messages per second (the default)" in html and 'name="messages_per_second"' in html

    done = client.post(reverse(SET, args=[acme.customer.pk, acme.account.pk]), {"messages_per_second": "7"})
    assert done.status_code == 302 and done["Location"] == url
    assert throttle.rate_for(acme.account) == 7
    assert throttle.rate_for(acme.other_account) == 50
    html = client.get(url).content.decode()
    assert "Sales now sends at most 7 messages per second." in html
    assert "7 messages per second (set for this account; the default is 50)" in html
    entry = AuditEntry.objects.get(action="send_rate.set")
    assert entry.actor == world.staff["tam"] and entry.after == {"messages_per_second": 7}


def test_customer_page_links_each_account_to_its_send_rate(client, world):
    client.force_login(world.staff["csr"])
    html = client.get(reverse("staff:customer", args=[world.acme.customer.pk])).content.decode()
    for account in (world.acme.account, world.acme.other_account):
        assert reverse(PAGE, args=[world.acme.customer.pk, account.pk]) in html


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("0", "Give a whole number from 1 to 10,000."),
        ("10001", "Give a whole number from 1 to 10,000."),
        ("-3", "Give a whole number from 1 to 10,000."),
        ("fast", "Enter a whole number."),
        ("", "This field is required."),
    ],
)
def test_page_refuses_bad_rates_inline(client, world, value, error):
    acme = world.acme
    client.force_login(world.staff["tam"])
    res = client.post(reverse(SET, args=[acme.customer.pk, acme.account.pk]), {"messages_per_second": value})
    assert res.status_code == 200
    assert res.context["form"].errors["messages_per_second"] == [error]
    nothing_changed()


def test_viewers_see_the_rate_but_only_managers_change_it(client, world):
    acme = world.acme
    set_send_rate(acme.account, 9, actor=world.staff["tam"])
    client.force_login(world.staff["csr"])  # views customers, does not manage them
    page = client.get(reverse(PAGE, args=[acme.customer.pk, acme.account.pk]))
    assert page.status_code == 200 and "9 messages per second" in page.content.decode()
    assert 'name="messages_per_second"' not in page.content.decode()
    refused = client.post(reverse(SET, args=[acme.customer.pk, acme.account.pk]), {"messages_per_second": "1"})
    assert refused.status_code == 403
    assert throttle.rate_for(acme.account) == 9


def test_customer_users_are_refused_and_get_is_not_a_change(client, world):
    acme = world.acme
    client.force_login(acme.master)
    assert client.get(reverse(PAGE, args=[acme.customer.pk, acme.account.pk])).status_code == 403
    assert (
        client.post(reverse(SET, args=[acme.customer.pk, acme.account.pk]), {"messages_per_second": "1"}).status_code
        == 403
    )
    client.force_login(world.staff["tam"])
    assert client.get(reverse(SET, args=[acme.customer.pk, acme.account.pk])).status_code == 405
    nothing_changed()


def test_an_account_of_another_customer_is_not_found(client, world):
    client.force_login(world.staff["admin"])
    acme, globex = world.acme, world.globex
    # The account exists, but not under this customer: the same answer as a missing one.
    for customer_pk, account_pk in (
        (acme.customer.pk, globex.account.pk),
        (acme.customer.pk, 987654321),
        (987654321, acme.account.pk),
    ):
        assert client.get(reverse(PAGE, args=[customer_pk, account_pk])).status_code == 404
        res = client.post(reverse(SET, args=[customer_pk, account_pk]), {"messages_per_second": "5"})
        assert res.status_code == 404
    nothing_changed()


# --- API ------------------------------------------------------------------------------------------


def test_api_get_and_put(client, world, settings):
    settings.KONTOR_DEFAULT_SEND_RATE = 50
    acme = world.acme
    client.force_login(world.staff["tam"])
    api = Api(client)
    path = api_path(acme.customer.pk, acme.account.pk)
    assert api.get(path).json() == {
        "customer_id": acme.customer.pk,
        "account_id": acme.account.pk,
        "messages_per_second": 50,
        "is_default": True,
        "default": 50,
    }
    res = api.put(path, {"messages_per_second": 250})
    assert res.status_code == 200, res.content
    assert res.json()["messages_per_second"] == 250 and res.json()["is_default"] is False
    assert api.get(path).json()["messages_per_second"] == 250
    assert throttle.rate_for(acme.account) == 250
    entry = AuditEntry.objects.get(action="send_rate.set")
    assert entry.before == {"messages_per_second": 50} and entry.after == {"messages_per_second": 250}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages_per_second": 0}, "messages_per_second"),
        ({"messages_per_second": 10_001}, "messages_per_second"),
        ({"messages_per_second": "5"}, "messages_per_second"),
        ({"messages_per_second": True}, "messages_per_second"),
        ({"messages_per_second": 2.5}, "messages_per_second"),
        ({}, "messages_per_second"),
        ({"messages_per_second": 5, "burst": 10}, "burst"),
    ],
)
def test_api_refuses_bad_bodies_with_the_field(client, world, body, field):
    acme = world.acme
    client.force_login(world.staff["tam"])
    res = Api(client).put(api_path(acme.customer.pk, acme.account.pk), body)
    found = problem(res, 422, "validation_error")
    assert any(name == field or name.endswith(f".{field}") for name in found["errors"]), found
    nothing_changed()


def test_api_permissions(client, world):
    acme = world.acme
    path = api_path(acme.customer.pk, acme.account.pk)
    client.force_login(world.staff["csr"])
    assert Api(client).get(path).status_code == 200
    problem(Api(client).put(path, {"messages_per_second": 5}), 403, "permission_denied")
    client.force_login(acme.master)
    problem(Api(client).get(path), 403, "permission_denied")
    problem(Api(client).put(path, {"messages_per_second": 5}), 403, "permission_denied")
    client.logout()
    keyed = Api(client, acme.key_secret)  # a customer's key, whatever its permissions
    problem(keyed.get(path), 403, "permission_denied")
    problem(keyed.put(path, {"messages_per_second": 5}), 403, "permission_denied")
    nothing_changed()


def test_api_other_customers_account_is_404(client, world):
    acme, globex = world.acme, world.globex
    client.force_login(world.staff["admin"])
    api = Api(client)
    for path in (
        api_path(acme.customer.pk, globex.account.pk),
        api_path(acme.customer.pk, 987654321),
        api_path(987654321, acme.account.pk),
    ):
        problem(api.get(path), 404, "not_found")
        problem(api.put(path, {"messages_per_second": 5}), 404, "not_found")
    nothing_changed()
