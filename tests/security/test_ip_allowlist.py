"""The per-customer IP allowlist: at login, on every web request and every API call, proxy-aware, and
impossible to lock oneself out with by a slip."""

from __future__ import annotations

import json
import re

import pytest
from django.test import RequestFactory
from django.urls import resolve, reverse

from kontor.access.login import GENERIC_FAILURE, attempt_login
from kontor.audit.models import AuditEntry
from kontor.core.errors import Conflict, ErrorCode
from kontor.tenancy.models import Customer
from kontor.web.views import home
from tests.isolation.walk import authenticated_get_path

pytestmark = pytest.mark.django_db

INSIDE_V4, OUTSIDE_V4 = "203.0.113.7", "198.51.100.7"
INSIDE_V6, OUTSIDE_V6 = "2001:db8:1::7", "2001:db9::7"


def allow(customer: Customer, *entries: str) -> None:
    """Set the list directly: these tests are about enforcement, not about the editing service."""
    Customer.objects.filter(pk=customer.pk).update(ip_allowlist=list(entries))
    customer.refresh_from_db()


def login_request(ip: str | None):
    request = RequestFactory().post("/login/")
    request.client_ip = ip
    return request


# --- (a) at login --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "inside", "outside"),
    [
        (["203.0.113.7"], INSIDE_V4, "203.0.113.8"),
        (["203.0.113.0/24"], INSIDE_V4, OUTSIDE_V4),
        (["2001:db8:1::7"], INSIDE_V6, "2001:db8:1::8"),
        (["2001:db8::/32"], INSIDE_V6, OUTSIDE_V6),
        (["203.0.113.0/24", "2001:db8::/32"], INSIDE_V6, OUTSIDE_V4),
        (["203.0.113.0/24", "2001:db8::/32"], INSIDE_V4, OUTSIDE_V6),
    ],
)
def test_login_is_refused_outside_and_allowed_inside_the_list(world, entries, inside, outside):
    user = world.acme.users["sender"]
    allow(world.acme.customer, *entries)
    refused = attempt_login(login_request(outside), user.email, world.password)
    assert refused.user is None
    # Answered exactly like a wrong password (issue 8 §4.3): the list must not confirm a guessed password.
    assert (refused.code, refused.error) == ("invalid", GENERIC_FAILURE)
    row = AuditEntry.objects.get(action="user.login_refused")
    assert (row.actor_id, row.customer_id, row.after["ip"]) == (user.pk, world.acme.customer.pk, outside)
    ok = attempt_login(login_request(inside), user.email, world.password)
    assert ok.user == user


def test_unknown_address_is_refused_when_a_list_is_set(world):
    allow(world.acme.customer, "203.0.113.0/24")
    result = attempt_login(login_request(None), world.acme.master.email, world.password)
    assert result.user is None and result.code == "invalid"
    assert AuditEntry.objects.filter(action="user.login_refused").count() == 1


def test_a_wrong_password_from_outside_says_nothing_about_the_list(world):
    allow(world.acme.customer, "203.0.113.0/24")
    result = attempt_login(login_request(OUTSIDE_V4), world.acme.master.email, "wrong-password")
    assert result.code == "invalid"
    assert OUTSIDE_V4 not in result.error
    assert not AuditEntry.objects.filter(action="user.login_refused").exists()


def test_right_and_wrong_passwords_from_outside_get_the_same_answer(world, client, settings):
    """Issue 8 §4.3: from outside the list, the right password once got "only approved addresses" and a
    wrong one "not correct". Now the page is the same, and the attempts count towards the throttle."""
    allow(world.acme.customer, "203.0.113.0/24")
    url = reverse("access:login")
    email = world.acme.master.email

    def answer(password: str) -> bytes:
        response = client.post(url, {"email": email, "password": password}, REMOTE_ADDR=OUTSIDE_V4)
        assert response.status_code == 200 and "_auth_user_id" not in client.session
        return response.content.replace(password.encode(), b"")

    right, wrong = answer(world.password), answer("wrong-password")
    strip = re.compile(rb'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]*"')  # masked per response
    assert strip.sub(b"", right) == strip.sub(b"", wrong)
    assert b"approved addresses" not in right
    # Refusals at the list are failures to the throttle: guessing from outside does not go on for ever.
    settings.KONTOR_LOGIN_MAX_PER_USER = 3
    for _ in range(3):
        answer(world.password)
    assert attempt_login(login_request(OUTSIDE_V4), email, world.password).code == "throttled"


def test_another_customers_list_does_not_apply(world):
    allow(world.globex.customer, "203.0.113.0/24")
    assert attempt_login(login_request(OUTSIDE_V4), world.acme.master.email, world.password).user is not None
    assert attempt_login(login_request(OUTSIDE_V4), world.staff["csr"].email, world.password).user is not None


def test_login_page_refuses_outside_addresses(world, client):
    # The real login view, not the home placeholder it once pointed at.
    assert resolve(reverse("access:login")).func is not home
    allow(world.acme.customer, "203.0.113.0/24", "2001:db8::/32")
    data = {"email": world.acme.master.email, "password": world.password}
    for outside in (OUTSIDE_V4, OUTSIDE_V6):
        response = client.post(reverse("access:login"), data, REMOTE_ADDR=outside)
        assert response.status_code == 200, outside
        assert "_auth_user_id" not in client.session
    for inside in (INSIDE_V4, INSIDE_V6):
        response = client.post(reverse("access:login"), data, REMOTE_ADDR=inside)
        assert response.status_code == 302, inside
        assert client.session["_auth_user_id"] == str(world.acme.master.pk)
        client.logout()


# --- (b) on every web request --------------------------------------------------------------------


def test_a_session_from_a_now_disallowed_address_is_refused_and_ended(world, client):
    client.force_login(world.acme.master)
    assert client.get("/", REMOTE_ADDR=OUTSIDE_V4).status_code == 200
    allow(world.acme.customer, "203.0.113.0/24")
    response = client.get("/", REMOTE_ADDR=OUTSIDE_V4)
    assert response.status_code == 403
    assert b"Address not allowed" in response.content
    assert "_auth_user_id" not in client.session
    # Signed out for good: even from an allowed address the old session no longer works.
    again = client.get("/", REMOTE_ADDR=INSIDE_V4)
    assert again.status_code == 302
    assert reverse("access:login") in again["Location"]


@pytest.mark.parametrize(
    ("entries", "inside", "outside"),
    [
        (["2001:db8::/32"], INSIDE_V6, OUTSIDE_V6),
        (["203.0.113.7"], INSIDE_V4, "203.0.113.8"),
    ],
)
def test_web_requests_follow_the_list(world, client, entries, inside, outside):
    allow(world.acme.customer, *entries)
    client.force_login(world.acme.users["read_only"])
    assert client.get("/", REMOTE_ADDR=inside).status_code == 200
    assert client.get("/", REMOTE_ADDR=outside).status_code == 403


def test_staff_are_not_bound_by_a_customers_list(world, client):
    allow(world.acme.customer, "203.0.113.0/24")
    client.force_login(world.staff["csr"])
    assert client.get("/", REMOTE_ADDR=OUTSIDE_V4).status_code in (200, 302)
    assert "_auth_user_id" in client.session


# --- (c) on every API call -----------------------------------------------------------------------


def _api_path() -> str:
    path = authenticated_get_path()
    assert path == "/api/v1/me", path
    return path


def test_api_key_from_outside_is_refused_with_problem_json(world, client):
    path = _api_path()
    allow(world.acme.customer, "203.0.113.0/24", "2001:db8::/32")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world.acme.key_secret}"}
    for outside in (OUTSIDE_V4, OUTSIDE_V6):
        response = client.get(path, REMOTE_ADDR=outside, **auth)
        assert response.status_code == 403, (path, outside)
        assert response["Content-Type"].startswith("application/problem+json")
        assert json.loads(response.content)["code"] == ErrorCode.IP_NOT_ALLOWED.value
    for inside in (INSIDE_V4, INSIDE_V6):
        response = client.get(path, REMOTE_ADDR=inside, **auth)
        assert response.status_code not in (401, 403, 500), (path, inside, response.content[:300])


def test_api_session_from_outside_is_refused(world, client):
    path = _api_path()
    client.force_login(world.acme.master)
    allow(world.acme.customer, "203.0.113.0/24")
    response = client.get(path, REMOTE_ADDR=OUTSIDE_V4)
    assert response.status_code == 403
    assert json.loads(response.content)["code"] == ErrorCode.IP_NOT_ALLOWED.value


def test_another_customers_list_does_not_refuse_a_key(world, client):
    path = _api_path()
    allow(world.globex.customer, "203.0.113.0/24")
    response = client.get(path, REMOTE_ADDR=OUTSIDE_V4, HTTP_AUTHORIZATION=f"Bearer {world.acme.key_secret}")
    assert response.status_code not in (401, 403, 500)


# --- (d) proxies ---------------------------------------------------------------------------------


def test_forwarded_for_from_a_trusted_proxy_is_honoured(world, client, settings):
    settings.KONTOR_TRUSTED_PROXIES = ["10.0.0.1"]
    allow(world.acme.customer, "203.0.113.0/24")
    client.force_login(world.acme.master)
    response = client.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.1, {INSIDE_V4}")
    assert response.status_code == 200
    response = client.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"{INSIDE_V4}, {OUTSIDE_V4}")
    assert response.status_code == 403  # the right-most untrusted hop is the client


def test_forwarded_for_from_an_untrusted_peer_is_ignored(world, client, settings):
    settings.KONTOR_TRUSTED_PROXIES = ["10.0.0.1"]
    allow(world.acme.customer, "203.0.113.0/24")
    client.force_login(world.acme.master)
    response = client.get("/", REMOTE_ADDR=OUTSIDE_V4, HTTP_X_FORWARDED_FOR=INSIDE_V4)
    assert response.status_code == 403


def test_forwarded_for_is_ignored_when_no_proxy_is_configured(world, client, settings):
    settings.KONTOR_TRUSTED_PROXIES = []
    allow(world.acme.customer, "203.0.113.0/24")
    client.force_login(world.acme.master)
    response = client.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=INSIDE_V4)
    assert response.status_code == 403


def test_api_key_through_a_trusted_proxy(world, client, settings):
    path = _api_path()
    settings.KONTOR_TRUSTED_PROXIES = ["10.0.0.0/24"]
    allow(world.acme.customer, "203.0.113.0/24")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world.acme.key_secret}"}
    ok = client.get(path, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=INSIDE_V4, **auth)
    assert ok.status_code not in (401, 403, 500)
    refused = client.get(path, REMOTE_ADDR="198.51.100.99", HTTP_X_FORWARDED_FOR=INSIDE_V4, **auth)
    assert refused.status_code == 403
    assert json.loads(refused.content)["code"] == ErrorCode.IP_NOT_ALLOWED.value


def test_the_audit_log_records_the_forwarded_client_address(world, client, settings):
    settings.KONTOR_TRUSTED_PROXIES = ["10.0.0.1"]
    from kontor.core.middleware import RequestContextMiddleware
    from kontor.tenancy.services import update_customer

    seen = {}

    def view(request):
        update_customer(world.acme.customer, actor=world.acme.master, billing_id="B-proxy")
        seen["ip"] = request.client_ip
        from django.http import HttpResponse

        return HttpResponse("ok")

    request = RequestFactory().get("/x", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=INSIDE_V4)
    RequestContextMiddleware(view)(request)
    assert seen["ip"] == INSIDE_V4
    assert AuditEntry.objects.get(action="customer.update").ip == INSIDE_V4


# --- (e) the lockout guard -----------------------------------------------------------------------


def test_saving_a_list_that_excludes_the_current_address_needs_confirmation(world):
    from kontor.tenancy.services import set_ip_allowlist

    customer, actor = world.acme.customer, world.acme.master
    with pytest.raises(Conflict) as exc:
        set_ip_allowlist(customer, ["203.0.113.0/24"], actor=actor, current_ip=OUTSIDE_V4)
    assert exc.value.code == ErrorCode.LOCKOUT_RISK
    assert exc.value.code.value == "allowlist_excludes_current_address"
    assert exc.value.status == 409
    assert OUTSIDE_V4 in exc.value.message
    assert "entries" in exc.value.fields
    assert Customer.objects.get(pk=customer.pk).ip_allowlist == []
    # v6 and unknown addresses alike
    for current in (OUTSIDE_V6, None):
        with pytest.raises(Conflict):
            set_ip_allowlist(customer, ["203.0.113.0/24"], actor=actor, current_ip=current)
    set_ip_allowlist(customer, ["203.0.113.0/24"], actor=actor, current_ip=OUTSIDE_V4, confirm_lockout=True)
    assert Customer.objects.get(pk=customer.pk).ip_allowlist == ["203.0.113.0/24"]


def test_a_list_that_includes_the_current_address_needs_no_confirmation(world):
    from kontor.tenancy.services import set_ip_allowlist

    customer, actor = world.acme.customer, world.acme.master
    set_ip_allowlist(customer, ["2001:db8::/32", "203.0.113.0/24"], actor=actor, current_ip=INSIDE_V6)
    assert Customer.objects.get(pk=customer.pk).ip_allowlist == ["2001:db8::/32", "203.0.113.0/24"]
    set_ip_allowlist(customer, [], actor=actor, current_ip=OUTSIDE_V4)  # clearing never locks out
    assert Customer.objects.get(pk=customer.pk).ip_allowlist == []


def test_provider_staff_are_not_asked_to_confirm(world):
    from kontor.tenancy.services import set_ip_allowlist

    set_ip_allowlist(world.acme.customer, ["203.0.113.0/24"], actor=world.staff["tam"], current_ip=OUTSIDE_V4)
    assert Customer.objects.get(pk=world.acme.customer.pk).ip_allowlist == ["203.0.113.0/24"]
