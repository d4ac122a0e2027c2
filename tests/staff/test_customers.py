"""Subscriber lookup and the customer page: features, company data, credit mode, caller verification."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from kontor.access.perms import STAFF_ROLE_PERMS, Perm, StaffRole
from kontor.audit.models import AuditEntry
from kontor.staff import urls as staff_urls
from kontor.tenancy.models import CreditMode, Customer
from tests.factories import FeatureFactory


def _login(client, user):
    client.force_login(user)
    return client


def _rows(response) -> str:
    return response.content.decode()


# --- lookup --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["master@acme.test", "MASTER@ACME", "sender@acme", "Acme", "acme", "Sender Acme", "acme sender", "acme.test-001"],
)
def test_lookup_finds_acme_not_globex(client, world, query):
    _login(client, world.staff["csr"])
    html = _rows(client.get(reverse("staff:customers"), {"q": query}))
    assert world.acme.customer.subscriber_id in html
    assert world.globex.customer.subscriber_id not in html


@pytest.mark.parametrize("form", ["S{:06d}", "s{:d}", "S{:d}", " S{:06d} "])
def test_lookup_by_subscriber_id(client, world, form):
    _login(client, world.staff["csr"])
    html = _rows(client.get(reverse("staff:customers"), {"q": form.format(world.globex.customer.pk)}))
    assert world.globex.customer.subscriber_id in html
    assert world.acme.customer.subscriber_id not in html


def test_lookup_by_plain_number(client, world):
    _login(client, world.staff["csr"])
    html = _rows(client.get(reverse("staff:customers"), {"q": str(world.globex.customer.pk)}))
    assert world.globex.customer.subscriber_id in html


def test_lookup_by_person_name_finds_every_match(client, world):
    _login(client, world.staff["csr"])
    html = _rows(client.get(reverse("staff:customers"), {"q": "Mia Master"}))
    assert world.acme.customer.subscriber_id in html and world.globex.customer.subscriber_id in html
    html = _rows(client.get(reverse("staff:customers"), {"q": "Mia Nobody"}))
    assert world.acme.customer.subscriber_id not in html


def test_lookup_shows_copyable_id_and_master_email(client, world):
    _login(client, world.staff["csr"])
    html = _rows(client.get(reverse("staff:customers"), {"q": "acme"}))
    sid = world.acme.customer.subscriber_id
    assert f"<code>{sid}</code>" in html
    assert f'data-copy="{sid}"' in html  # web/kontor.js copies it
    assert "master@acme.test" in html


def test_lookup_with_no_match_and_odd_input_is_empty_not_an_error(client, world):
    _login(client, world.staff["csr"])
    for query in ["nobody@nowhere.test", "S99999999", "%", "' OR 1=1 --", "x" * 500]:
        response = client.get(reverse("staff:customers"), {"q": query})
        assert response.status_code == 200
        assert world.acme.customer.subscriber_id not in _rows(response)


def test_filters_status_and_country(client, world):
    _login(client, world.staff["tam"])
    html = _rows(client.get(reverse("staff:customers"), {"country": "GB"}))
    assert world.globex.customer.subscriber_id in html and world.acme.customer.subscriber_id not in html
    Customer.objects.filter(pk=world.acme.customer.pk).update(status="suspended")
    html = _rows(client.get(reverse("staff:customers"), {"status": "suspended"}))
    assert world.acme.customer.subscriber_id in html and world.globex.customer.subscriber_id not in html


def test_csv_export_uses_the_same_filter(client, world):
    _login(client, world.staff["csr"])
    response = client.get(reverse("staff:customers_export"), {"q": "globex"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = body.strip().splitlines()
    assert lines[0].startswith("subscriber_id,company,master_user_email")
    assert len(lines) == 2 and world.globex.customer.subscriber_id in lines[1]
    assert "master@globex.test" in lines[1]


# --- permissions ---------------------------------------------------------------------------------


def _every_staff_url(world) -> list[str]:
    """Every route in the staff namespace, with real ids of the world filled in."""
    ids = {"pk": world.acme.customer.pk, "user_pk": world.acme.master.pk}
    urls = []
    for pattern in staff_urls.urlpatterns:
        kwargs = {name: ids[name] for name in pattern.pattern.converters}
        urls.append(reverse(f"staff:{pattern.name}", kwargs=kwargs))
    return urls


@pytest.mark.parametrize("slug", ["master", "administrator", "read_only"])
def test_customer_users_get_403_on_every_staff_page(client, world, slug):
    _login(client, world.acme.user(slug))
    entries = AuditEntry.objects.count()
    urls = _every_staff_url(world)
    assert len(urls) >= 20
    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"features-features": [], "edit-name": "X"}).status_code == 403, url
    assert Customer.objects.get(pk=world.acme.customer.pk).name == "Acme"
    assert AuditEntry.objects.count() == entries


def test_anonymous_is_sent_to_login_everywhere(client, world):
    for url in _every_staff_url(world):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_staff_pages_match_staff_role_perms(client, world):
    """Each staff role opens exactly the list pages its permissions allow."""
    pages = {
        "staff:customers": Perm.STAFF_VIEW_CUSTOMERS,
        "staff:onboard": Perm.STAFF_ONBOARD,
        "staff:cost_centers": Perm.STAFF_MANAGE_COST_CENTERS,
        "staff:features": Perm.STAFF_MANAGE_FEATURES,
        "staff:staff_users": Perm.STAFF_MANAGE_STAFF,
        "staff:audit": Perm.STAFF_VIEW_AUDIT,
    }
    for role, user in world.staff.items():
        _login(client, user)
        for name, perm in pages.items():
            expected = 200 if perm in STAFF_ROLE_PERMS[StaffRole(role)] else 403
            assert client.get(reverse(name)).status_code == expected, (role, name)


def test_unknown_customer_is_404(client, world):
    _login(client, world.staff["admin"])
    assert client.get(reverse("staff:customer", args=[999999])).status_code == 404
    assert client.post(reverse("staff:customer_features", args=[999999]), {}).status_code == 404


def test_detail_shows_facts_accounts_and_users(client, world):
    _login(client, world.staff["csr"])
    html = _rows(client.get(reverse("staff:customer", args=[world.acme.customer.pk])))
    assert world.acme.customer.subscriber_id in html and "acme.test-001" in html
    assert "Europe/Stockholm" in html and "Sales" in html and "Support desk" in html
    assert "CC-GEN" in html and "sender@acme.test" in html
    assert "globex" not in html.lower()
    # a CSR has no edit or billing panel
    assert "Save customer" not in html and "Save credit mode" not in html
    assert "Verify caller" in html
    assert f"?customer={world.acme.customer.pk}" in html


# --- features ------------------------------------------------------------------------------------


def test_toggle_features_is_audited(client, world):
    ivr, sms = FeatureFactory(code="ivr", name="IVR"), FeatureFactory(code="sms", name="SMS")
    _login(client, world.staff["csr"])
    url = reverse("staff:customer_features", args=[world.acme.customer.pk])
    response = client.post(url, {"features-features": ["ivr", "sms"]})
    assert response.status_code == 302
    assert set(world.acme.customer.features.all()) == {ivr, sms}
    entry = AuditEntry.objects.get(action="customer.features", customer=world.acme.customer)
    assert entry.after == {"features": ["ivr", "sms"]} and entry.actor == world.staff["csr"]

    client.post(url, {"features-features": ["sms"]})
    assert set(world.acme.customer.features.all()) == {sms}
    assert AuditEntry.objects.filter(action="customer.features").count() == 2
    assert set(world.globex.customer.features.all()) == set()


def test_unknown_feature_changes_nothing(client, world):
    FeatureFactory(code="ivr", name="IVR")
    _login(client, world.staff["csr"])
    response = client.post(
        reverse("staff:customer_features", args=[world.acme.customer.pk]), {"features-features": ["nope"]}
    )
    assert response.status_code == 200 and "nope" in response.content.decode()
    assert world.acme.customer.features.count() == 0
    assert not AuditEntry.objects.filter(action="customer.features").exists()


def test_billing_staff_cannot_toggle_features(client, world):
    FeatureFactory(code="ivr", name="IVR")
    _login(client, world.staff["billing"])
    url = reverse("staff:customer_features", args=[world.acme.customer.pk])
    assert client.post(url, {"features-features": ["ivr"]}).status_code == 403
    assert world.acme.customer.features.count() == 0


# --- edit and credit mode ------------------------------------------------------------------------


def _edit(customer, **change):
    data = {
        "edit-name": customer.name,
        "edit-billing_id": customer.billing_id,
        "edit-time_zone": customer.time_zone,
        "edit-country": customer.country,
        "edit-status": customer.status,
    }
    data.update({f"edit-{k}": v for k, v in change.items()})
    return data


def test_tam_edits_customer_with_audit(client, world):
    _login(client, world.staff["tam"])
    customer = world.acme.customer
    response = client.post(
        reverse("staff:customer_edit", args=[customer.pk]), _edit(customer, billing_id="ERP-9", status="suspended")
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.billing_id == "ERP-9" and customer.status == "suspended"
    entry = AuditEntry.objects.get(action="customer.update", customer=customer)
    assert entry.before["billing_id"] == "acme.test-001" and entry.after["billing_id"] == "ERP-9"


def test_bad_edit_changes_nothing(client, world):
    _login(client, world.staff["tam"])
    customer = world.acme.customer
    response = client.post(
        reverse("staff:customer_edit", args=[customer.pk]), _edit(customer, billing_id="", time_zone="Nowhere/X")
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_edit-billing_id_error"' in html and 'id="id_edit-time_zone_error"' in html
    customer.refresh_from_db()
    assert customer.billing_id == "acme.test-001"
    assert not AuditEntry.objects.filter(action="customer.update").exists()


def test_csr_cannot_edit_customer(client, world):
    _login(client, world.staff["csr"])
    customer = world.acme.customer
    url = reverse("staff:customer_edit", args=[customer.pk])
    assert client.post(url, _edit(customer, name="Hijacked")).status_code == 403
    customer.refresh_from_db()
    assert customer.name == "Acme"


def test_billing_sets_credit_mode(client, world):
    customer = world.acme.customer
    _login(client, world.staff["billing"])
    html = client.get(reverse("staff:customer", args=[customer.pk])).content.decode()
    assert "keeps the account pool balances where they are" in html
    url = reverse("staff:customer_credit_mode", args=[customer.pk])
    assert client.post(url, {"credit-credit_mode": "individual"}).status_code == 302
    customer.refresh_from_db()
    assert customer.credit_mode == CreditMode.INDIVIDUAL
    assert AuditEntry.objects.filter(action="customer.credit_mode", customer=customer).count() == 1
    assert client.post(url, {"credit-credit_mode": "bogus"}).status_code == 200
    customer.refresh_from_db()
    assert customer.credit_mode == CreditMode.INDIVIDUAL

    _login(client, world.staff["csr"])
    assert client.post(url, {"credit-credit_mode": "pool"}).status_code == 403


# --- caller verification -------------------------------------------------------------------------


def _verify(client, world, user, **said):
    data = {"verify-user": user.pk, "verify-pin": "", "verify-answer": ""}
    data.update({f"verify-{k}": v for k, v in said.items()})
    return client.post(reverse("staff:customer_verify", args=[world.acme.customer.pk]), data)


@pytest.mark.parametrize(
    ("said", "matched"),
    [
        ({"pin": "4321"}, True),
        ({"pin": "1234"}, False),
        ({"answer": "rex"}, True),
        ({"answer": "  REX "}, True),
        ({"answer": "Fido"}, False),
    ],
)
def test_verify_caller(client, world, said, matched):
    _login(client, world.staff["csr"])
    user = world.acme.users["sender"]
    response = _verify(client, world, user, **said)
    assert response.status_code == 200
    html = response.content.decode()
    assert ("<strong>matches</strong>" in html) is matched
    assert ("<strong>does not match</strong>" in html) is not matched
    assert "First pet?" in html
    entry = AuditEntry.objects.get(action="user.caller_verification")
    assert entry.object_id == str(user.pk) and entry.after["matched"] is matched
    assert entry.customer_id == world.acme.customer.pk and entry.actor == world.staff["csr"]
    # what the caller said, and the stored hashes, never appear in the page or the audit row
    assert user.pin_hash not in html and user.security_answer_hash not in html
    assert "4321" not in str(entry.after) and "rex" not in str(entry.after).lower()


def test_verify_caller_needs_pin_or_answer_and_never_crosses_customers(client, world):
    _login(client, world.staff["csr"])
    response = _verify(client, world, world.acme.master)
    assert response.status_code == 200 and 'id="id_verify-pin_error"' in response.content.decode()
    # a user of another customer is not a valid choice on this customer's page
    response = _verify(client, world, world.globex.master, pin="4321")
    html = response.content.decode()
    assert response.status_code == 200 and 'id="id_verify-user_error"' in html
    assert "<strong>matches</strong>" not in html
    assert not AuditEntry.objects.filter(action="user.caller_verification").exists()


def test_billing_staff_cannot_verify_callers(client, world):
    _login(client, world.staff["billing"])
    assert _verify(client, world, world.acme.master, pin="4321").status_code == 403
    assert not AuditEntry.objects.filter(action="user.caller_verification").exists()


# --- resend welcome ------------------------------------------------------------------------------


def test_resend_welcome_only_before_completion(client, world, django_capture_on_commit_callbacks):
    from kontor.access.models import User

    customer = world.acme.customer
    pending = User.objects.create_user(email="pending@acme.test", first_name="Pen", last_name="Ding", customer=customer)
    _login(client, world.staff["csr"])
    html = client.get(reverse("staff:customer", args=[customer.pk])).content.decode()
    assert reverse("staff:customer_resend_welcome", args=[customer.pk, pending.pk]) in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("staff:customer_resend_welcome", args=[customer.pk, pending.pk]))
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["pending@acme.test"]
    assert AuditEntry.objects.filter(action="user.welcome_resent", object_id=str(pending.pk)).count() == 1
    # a user who completed the welcome gets no new link
    done = world.acme.users["sender"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("staff:customer_resend_welcome", args=[customer.pk, done.pk]))
    assert len(mail.outbox) == 1
    # another customer's user through this customer's URL: 404
    url = reverse("staff:customer_resend_welcome", args=[customer.pk, world.globex.master.pk])
    assert client.post(url).status_code == 404
