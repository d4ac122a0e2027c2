"""The staff API: lookup, onboarding, customer changes, caller verification, catalogue, audit."""

from __future__ import annotations

import pytest
from django.core import mail

from kontor.access.models import User
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Account, Customer
from tests.factories import FeatureFactory

BASE = "/api/v1/staff"
ONBOARD = {
    "first_name": "Api",
    "last_name": "Person",
    "email": "api.person@apico.test",
    "phone": "+46701234567",
    "time_zone": "Europe/Stockholm",
    "billing_id": "not_used",
    "company_name": "ApiCo",
}


@pytest.fixture
def staff(client, world):
    def login(role: str = "csr"):
        client.force_login(world.staff[role])
        return client

    return login


def _problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    return body


def test_onboard_201_with_ids_and_one_mail(staff, world, django_capture_on_commit_callbacks):
    client = staff("csr")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{BASE}/customers", ONBOARD, content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    customer = Customer.objects.get(pk=body["customer_id"])
    assert body["subscriber_id"] == customer.subscriber_id
    master = User.objects.get(pk=body["master_user_id"])
    assert master.customer == customer and master.is_master
    assert Account.objects.get(pk=body["account_id"]).name == "Main"
    assert len(mail.outbox) == 1 and "/welcome/" in mail.outbox[0].body
    assert AuditEntry.objects.filter(customer=customer, action="customer.create").exists()


def test_onboard_422_with_field_errors_creates_nothing(staff, world):
    client = staff("csr")
    before = (Customer.objects.count(), User.objects.count())
    bad = {**ONBOARD, "billing_id": "", "email": "nope", "phone": "12", "time_zone": "Mars/Base"}
    body = _problem(client.post(f"{BASE}/customers", bad, content_type="application/json"), 422, "validation_error")
    assert {"billing_id", "email", "phone", "time_zone"} <= set(body["errors"])
    dup = {**ONBOARD, "email": "master@acme.test"}
    body = _problem(client.post(f"{BASE}/customers", dup, content_type="application/json"), 422, "duplicate")
    assert "already exists" in body["errors"]["email"][0]
    assert (Customer.objects.count(), User.objects.count()) == before
    assert mail.outbox == []


def test_billing_staff_cannot_onboard(staff, world):
    client = staff("billing")
    response = client.post(f"{BASE}/customers", ONBOARD, content_type="application/json")
    _problem(response, 403, "permission_denied")
    assert not Customer.objects.filter(name="ApiCo").exists()


def test_customer_key_and_customer_session_get_403(client, world):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world.acme.key_secret}"}
    calls = [
        ("get", f"{BASE}/customers", None),
        ("get", f"{BASE}/customers/{world.acme.customer.pk}", None),
        ("post", f"{BASE}/customers", ONBOARD),
        ("patch", f"{BASE}/customers/{world.acme.customer.pk}", {"name": "X"}),
        ("put", f"{BASE}/customers/{world.acme.customer.pk}/features", {"features": []}),
        ("put", f"{BASE}/customers/{world.acme.customer.pk}/credit-mode", {"credit_mode": "individual"}),
        ("post", f"{BASE}/customers/{world.acme.customer.pk}/verify-caller", {"user_id": 1, "pin": "4321"}),
        ("get", f"{BASE}/cost-centers", None),
        ("post", f"{BASE}/cost-centers", {"code": "X", "name": "X"}),
        ("get", f"{BASE}/features", None),
        ("post", f"{BASE}/features", {"code": "x", "name": "X"}),
        ("get", f"{BASE}/audit", None),
    ]
    for method, url, data in calls:
        kwargs = {"content_type": "application/json", "data": data} if data is not None else {}
        _problem(getattr(client, method)(url, **auth, **kwargs), 403, "permission_denied")
    client.force_login(world.acme.master)
    for method, url, data in calls:
        kwargs = {"content_type": "application/json", "data": data} if data is not None else {}
        _problem(getattr(client, method)(url, **kwargs), 403, "permission_denied")
    assert Customer.objects.get(pk=world.acme.customer.pk).name == "Acme"


def test_unauthenticated_is_401(client, world):
    _problem(client.get(f"{BASE}/customers"), 401, "not_authenticated")


def test_lookup_and_detail(staff, world):
    client = staff("csr")
    body = client.get(f"{BASE}/customers", {"q": "master@globex.test"}).json()
    assert body["count"] == 1 and body["items"][0]["subscriber_id"] == world.globex.customer.subscriber_id
    assert body["items"][0]["master_email"] == "master@globex.test"
    body = client.get(f"{BASE}/customers", {"limit": 1, "offset": 1}).json()
    assert body["count"] == 2 and len(body["items"]) == 1
    _problem(client.get(f"{BASE}/customers", {"limit": 500}), 422, "validation_error")
    _problem(client.get(f"{BASE}/customers", {"status": "sleepy"}), 422, "validation_error")

    detail = client.get(f"{BASE}/customers/{world.acme.customer.pk}").json()
    assert {a["name"] for a in detail["accounts"]} == {"Sales", "Support desk"}
    emails = {u["email"] for u in detail["users"]}
    assert "master@acme.test" in emails and not any("globex" in e for e in emails)
    assert all("pin" not in key and "hash" not in key for u in detail["users"] for key in u)
    _problem(client.get(f"{BASE}/customers/999999"), 404, "not_found")


def test_patch_features_credit_mode(staff, world):
    FeatureFactory(code="ivr", name="IVR")
    pk = world.acme.customer.pk
    client = staff("tam")
    response = client.patch(f"{BASE}/customers/{pk}", {"billing_id": "ERP-1"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["billing_id"] == "ERP-1"
    _problem(
        client.patch(f"{BASE}/customers/{pk}", {"time_zone": "Nowhere"}, content_type="application/json"),
        422,
        "validation_error",
    )
    _problem(client.patch(f"{BASE}/customers/999999", {"name": "X"}, content_type="application/json"), 404, "not_found")

    response = client.put(f"{BASE}/customers/{pk}/features", {"features": ["ivr"]}, content_type="application/json")
    assert response.status_code == 200 and response.json()["features"] == ["ivr"]
    assert AuditEntry.objects.filter(action="customer.features", customer_id=pk).count() == 1
    _problem(
        client.put(f"{BASE}/customers/{pk}/features", {"features": ["nope"]}, content_type="application/json"),
        422,
        "validation_error",
    )
    # TAM has no billing rights
    _problem(
        client.put(
            f"{BASE}/customers/{pk}/credit-mode", {"credit_mode": "individual"}, content_type="application/json"
        ),
        403,
        "permission_denied",
    )
    client = staff("billing")
    response = client.put(
        f"{BASE}/customers/{pk}/credit-mode", {"credit_mode": "individual"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["credit_mode"] == "individual"


@pytest.mark.parametrize(
    ("said", "matched"),
    [({"pin": "4321"}, True), ({"pin": "0000"}, False), ({"answer": "REX"}, True), ({"answer": "max"}, False)],
)
def test_verify_caller_api(staff, world, said, matched):
    client = staff("csr")
    user = world.acme.users["support"]
    url = f"{BASE}/customers/{world.acme.customer.pk}/verify-caller"
    response = client.post(url, {"user_id": user.pk, **said}, content_type="application/json")
    assert response.status_code == 200 and response.json() == {"matched": matched}
    assert AuditEntry.objects.filter(action="user.caller_verification", object_id=str(user.pk)).count() == 1


def test_verify_caller_api_refusals(staff, world):
    client = staff("csr")
    url = f"{BASE}/customers/{world.acme.customer.pk}/verify-caller"
    # another customer's user through this customer: 404, as if missing
    response = client.post(url, {"user_id": world.globex.master.pk, "pin": "4321"}, content_type="application/json")
    _problem(response, 404, "not_found")
    _problem(
        client.post(url, {"user_id": world.acme.master.pk}, content_type="application/json"), 422, "validation_error"
    )
    assert not AuditEntry.objects.filter(action="user.caller_verification").exists()


def test_catalogue_and_audit(staff, world):
    client = staff("admin")
    response = client.post(f"{BASE}/cost-centers", {"code": "CC-X", "name": "X"}, content_type="application/json")
    assert response.status_code == 201 and response.json()["code"] == "CC-X"
    _problem(
        client.post(f"{BASE}/cost-centers", {"code": "cc-x", "name": "Y"}, content_type="application/json"),
        422,
        "duplicate",
    )
    _problem(
        client.post(
            f"{BASE}/cost-centers",
            {"code": "CC-Y", "name": "Y", "customer_id": 999999},
            content_type="application/json",
        ),
        422,
        "validation_error",
    )
    assert client.get(f"{BASE}/cost-centers").json()["count"] == 2
    response = client.post(f"{BASE}/features", {"code": "ivr", "name": "IVR"}, content_type="application/json")
    assert response.status_code == 201
    assert [f["code"] for f in client.get(f"{BASE}/features").json()["items"]] == ["ivr"]

    body = client.get(f"{BASE}/audit", {"customer": world.globex.customer.subscriber_id, "limit": 200}).json()
    assert body["count"] >= 1 and all(e["customer_id"] == world.globex.customer.pk for e in body["items"])
    body = client.get(f"{BASE}/audit", {"action": "cost_center."}).json()
    assert body["count"] == 1 and body["items"][0]["after"]["code"] == "CC-X"
    _problem(client.get(f"{BASE}/audit", {"date_from": "yesterday"}), 422, "validation_error")
