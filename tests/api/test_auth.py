"""Authentication, permissions and the caller, across the whole customer API."""

from __future__ import annotations

from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from kontor.access.services import create_api_key, revoke_api_key, set_user_active
from tests.api.conftest import Api, problem


def test_no_credentials_is_401_problem(world, anon):
    for method, path in [
        ("get", "/me"),
        ("get", "/accounts"),
        ("post", "/accounts"),
        ("get", "/users"),
        ("get", "/audit"),
        ("put", "/security/ip-allowlist"),
    ]:
        response = getattr(anon, method)(path) if method == "get" else getattr(anon, method)(path, {})
        problem(response, 401, "not_authenticated")


def test_garbage_and_revoked_keys_are_401(world, client):
    problem(Api(client, "kon_nope_nope").get("/me"), 401, "not_authenticated")
    problem(Api(client, "not-a-key").get("/me"), 401, "not_authenticated")
    api = Api(client, world.acme.key_secret)
    assert api.get("/me").status_code == 200
    revoke_api_key(world.acme.key, actor=world.acme.master)
    problem(api.get("/me"), 401, "not_authenticated")


def test_me_with_a_key(world, client):
    body = Api(client, world.acme.key_secret).get("/me").json()
    assert body["api_key"]["id"] == world.acme.key.pk
    assert body["user"]["email"] == world.acme.master.email
    assert body["customer"] == {
        "subscriber_id": world.acme.customer.subscriber_id,
        "name": "Acme",
        "time_zone": "Europe/Stockholm",
        "country": "SE",
        "credit_mode": "pool",
    }
    assert body["account"] == {"id": world.acme.account.pk, "name": "Sales"}
    assert body["permissions"] == sorted(["view_users", "manage_accounts", "view_audit", "send_sms"])
    # A key works in its own account only.
    assert body["accounts"] == [{"id": world.acme.account.pk, "name": "Sales"}]


def test_me_with_a_session(world, client):
    client.force_login(world.acme.users["administrator"])
    body = Api(client).get("/me").json()
    assert body["api_key"] is None
    assert body["user"]["email"] == "administrator@acme.test"
    assert {a["name"] for a in body["accounts"]} == {"Sales", "Support desk"}
    assert "manage_users" in body["permissions"]


def test_missing_permission_is_403(world, client, make_key):
    api = Api(client, make_key(world.acme, "send_sms"))
    problem(api.get("/users"), 403, "permission_denied")
    problem(api.post("/accounts", {"name": "X"}), 403, "permission_denied")
    problem(api.get("/audit"), 403, "permission_denied")
    problem(api.get("/api-keys"), 403, "permission_denied")
    problem(api.get("/security/ip-allowlist"), 403, "permission_denied")
    # A role's limits apply to the session too: Support may only search by mobile number.
    client.force_login(world.acme.users["support"])
    problem(Api(client).get("/users"), 403, "permission_denied")


def test_a_key_never_exceeds_its_creator(world, client, make_key):
    secret = make_key(world.acme, "view_users")
    issued_by_admin = create_api_key(
        world.acme.account, actor=world.acme.users["administrator"], name="Admin's", perms=["view_users"]
    )
    api = Api(client, issued_by_admin.secret)
    assert api.get("/users").status_code == 200
    set_user_active(world.acme.users["administrator"], False, actor=world.acme.master)
    # A key acts for its creator: a disabled creator's key does not authenticate at all.
    problem(api.get("/users"), 401, "not_authenticated")
    assert Api(client, secret).get("/users").status_code == 200


def test_session_auth_needs_csrf_on_writes(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.acme.master)
    api = Api(client)
    assert api.get("/accounts").status_code == 200
    refused = api.post("/accounts", {"name": "Marketing"})
    problem(refused, 403, "permission_denied")
    assert "CSRF" in refused.json()["detail"]
    # With the token (as the web pages send it) the same call works.
    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    ok = client.post(
        "/api/v1/accounts",
        data={"name": "Marketing"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert ok.status_code == 201, ok.content


def test_session_without_csrf_enforcement_works(world, client):
    client.force_login(world.acme.master)
    assert Api(client).post("/offices", {"name": "Gothenburg"}).status_code == 201


def test_staff_session_has_no_customer_scope(world, client):
    client.force_login(world.staff["csr"])
    problem(Api(client).get("/accounts"), 403, "permission_denied")


def test_pagination_limits(world, acme):
    problem(acme.get("/accounts", {"limit": 201}), 422, "validation_error")
    problem(acme.get("/users", {"limit": 0}), 422, "validation_error")
    problem(acme.get("/audit", {"offset": -1}), 422, "validation_error")
    body = acme.get("/users", {"limit": 2, "offset": 1}).json()
    assert body["limit"] == 2 and body["offset"] == 1
    assert len(body["items"]) == 2
    assert body["count"] == 7  # master + one user per built-in role


def test_ip_allowlist_applies_to_keys(world, client):
    world.acme.customer.ip_allowlist = ["10.0.0.0/8"]
    world.acme.customer.save()
    problem(Api(client, world.acme.key_secret).get("/me"), 403, "ip_not_allowed")
    other = Client(REMOTE_ADDR="10.1.2.3")
    assert Api(other, world.acme.key_secret).get("/me").status_code == 200
