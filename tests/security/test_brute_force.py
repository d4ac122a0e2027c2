"""Login throttling per (email, address), per address and per email, without letting an attacker lock
the owner out and without telling known and unknown emails apart."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.test import RequestFactory
from django.urls import resolve, reverse
from django.utils import timezone

from kontor.access.login import DEVICE_COOKIE, DEVICE_SALT, GENERIC_FAILURE, attempt_login
from kontor.access.models import LoginThrottle
from kontor.web.views import home

pytestmark = pytest.mark.django_db

PER_USER = 3  # pair limit 3, per-email limit 3 * 3 = 9
PER_ADDRESS = 5
WRONG = "not-the-password"
CSRF = re.compile(r"[A-Za-z0-9]{64}")


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.KONTOR_LOGIN_MAX_PER_USER = PER_USER
    settings.KONTOR_LOGIN_MAX_PER_ADDRESS = PER_ADDRESS
    settings.KONTOR_LOGIN_WINDOW_SECONDS = 600


def req(ip: str | None, device_for: str | None = None):
    request = RequestFactory().post("/login/")
    request.client_ip = ip
    if device_for is not None:
        request.COOKIES[DEVICE_COOKIE] = signing.dumps(device_for, salt=DEVICE_SALT)
    return request


def fail(email: str, ip: str, times: int = 1) -> None:
    for _ in range(times):
        result = attempt_login(req(ip), email, WRONG)
        assert result.user is None and result.code == "invalid"


def test_per_pair_limit(world):
    user = world.acme.users["sender"]
    fail(user.email, "198.51.100.1", PER_USER)
    throttled = attempt_login(req("198.51.100.1"), user.email, world.password)
    assert throttled.user is None and throttled.code == "throttled"
    # Throttling never tells whether the password was right.
    assert attempt_login(req("198.51.100.1"), user.email, WRONG).code == "throttled"
    # The owner elsewhere is not locked out by an attacker at one address.
    assert attempt_login(req("198.51.100.2"), user.email, world.password).user == user


def test_just_below_the_pair_limit_a_correct_password_works(world):
    user = world.acme.users["sender"]
    fail(user.email, "198.51.100.1", PER_USER - 1)
    assert attempt_login(req("198.51.100.1"), user.email, world.password).user == user


def test_per_address_limit_spans_emails(world):
    ip = "198.51.100.7"
    emails = [f"guess{i}@acme.test" for i in range(PER_ADDRESS)]
    for email in emails:
        fail(email, ip)  # one try each: no pair comes near its limit
    blocked = attempt_login(req(ip), world.acme.master.email, world.password)
    assert blocked.user is None and blocked.code == "throttled"
    assert attempt_login(req("198.51.100.8"), world.acme.master.email, world.password).user == world.acme.master


def test_per_address_limit_works_for_ipv6(world):
    ip = "2001:db8::66"
    for i in range(PER_ADDRESS):
        fail(f"guess{i}@acme.test", ip)
    assert attempt_login(req(ip), world.acme.master.email, world.password).code == "throttled"


def test_per_user_limit_across_many_addresses(world):
    user = world.acme.users["sender"]
    for i in range(PER_USER * 3):  # one try from each of many addresses (a botnet)
        fail(user.email, f"198.51.100.{10 + i}")
    blocked = attempt_login(req("203.0.113.1"), user.email, world.password)
    assert blocked.user is None and blocked.code == "throttled"
    # Below that, one failure per address would have been let through:
    other = world.acme.users["support"]
    for i in range(PER_USER * 3 - 1):
        fail(other.email, f"198.51.100.{10 + i}")
    assert attempt_login(req("203.0.113.1"), other.email, world.password).user == other


def test_device_cookie_waives_the_per_user_limit_only(world):
    user = world.acme.users["sender"]
    for i in range(PER_USER * 3):
        fail(user.email, f"198.51.100.{10 + i}")
    # The owner's browser, which signed in before, still gets in.
    assert attempt_login(req("203.0.113.1", device_for=user.email), user.email, world.password).user == user


def test_device_cookie_of_another_user_or_forged_does_not_help(world):
    user = world.acme.users["sender"]
    for i in range(PER_USER * 3):
        fail(user.email, f"198.51.100.{10 + i}")
    other = req("203.0.113.1", device_for=world.acme.master.email)
    assert attempt_login(other, user.email, world.password).code == "throttled"
    forged = req("203.0.113.1")
    forged.COOKIES[DEVICE_COOKIE] = signing.dumps(user.email, salt="something-else")
    assert attempt_login(forged, user.email, world.password).code == "throttled"
    garbage = req("203.0.113.1")
    garbage.COOKIES[DEVICE_COOKIE] = "garbage"
    assert attempt_login(garbage, user.email, world.password).code == "throttled"


def test_device_cookie_does_not_waive_the_pair_or_address_limits(world):
    user = world.acme.users["sender"]
    fail(user.email, "198.51.100.1", PER_USER)
    attacker_with_cookie = req("198.51.100.1", device_for=user.email)
    assert attempt_login(attacker_with_cookie, user.email, world.password).code == "throttled"
    for i in range(PER_ADDRESS):
        fail(f"guess{i}@acme.test", "198.51.100.50")
    assert attempt_login(req("198.51.100.50", device_for=user.email), user.email, world.password).code == ("throttled")


def test_known_and_unknown_emails_get_identical_answers(world):
    known = attempt_login(req("198.51.100.1"), world.acme.master.email, WRONG)
    unknown = attempt_login(req("198.51.100.1"), "nobody@acme.test", WRONG)
    assert (known.user, known.code, known.error) == (unknown.user, unknown.code, unknown.error)
    assert known.error == GENERIC_FAILURE
    # Throttled answers too: unknown emails are counted exactly like known ones.
    fail(world.acme.master.email, "198.51.100.2", PER_USER)
    fail("nobody@acme.test", "198.51.100.3", PER_USER)
    t_known = attempt_login(req("198.51.100.2"), world.acme.master.email, WRONG)
    t_unknown = attempt_login(req("198.51.100.3"), "nobody@acme.test", WRONG)
    assert (t_known.code, t_known.error) == (t_unknown.code, t_unknown.error) == ("throttled", t_known.error)


def test_disabled_user_gets_the_generic_answer(world):
    user = world.acme.users["sender"]
    user.is_active = False
    user.save(update_fields=["is_active"])
    result = attempt_login(req("198.51.100.1"), user.email, world.password)
    assert (result.user, result.code, result.error) == (None, "invalid", GENERIC_FAILURE)


def test_every_answer_costs_a_password_hash(world, monkeypatch):
    """No shortcut for unknown emails or throttled attempts: timing does not tell them apart."""
    from django.contrib.auth import hashers

    calls: list[str] = []
    hasher = type(hashers.get_hasher())
    for name in ("encode", "verify"):
        original = getattr(hasher, name)

        def counting(self, *args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(hasher, name, counting)
    for email in (world.acme.master.email, "nobody@acme.test"):
        calls.clear()
        attempt_login(req("198.51.100.1"), email, WRONG)
        assert len(calls) >= 1, email
    fail("nobody@acme.test", "198.51.100.9", PER_USER)
    calls.clear()
    assert attempt_login(req("198.51.100.9"), "nobody@acme.test", WRONG).code == "throttled"
    assert len(calls) >= 1


def test_counters_reset_after_the_window(world, settings):
    settings.KONTOR_LOGIN_WINDOW_SECONDS = 60
    user = world.acme.users["sender"]
    fail(user.email, "198.51.100.1", PER_USER)
    assert attempt_login(req("198.51.100.1"), user.email, world.password).code == "throttled"
    LoginThrottle.objects.update(window_start=timezone.now() - timedelta(seconds=61))
    assert attempt_login(req("198.51.100.1"), user.email, world.password).user == user


def test_an_old_window_restarts_counting_from_one(world, settings):
    settings.KONTOR_LOGIN_WINDOW_SECONDS = 60
    user = world.acme.users["sender"]
    fail(user.email, "198.51.100.1", PER_USER)
    LoginThrottle.objects.update(window_start=timezone.now() - timedelta(seconds=61))
    fail(user.email, "198.51.100.1")
    pair = LoginThrottle.objects.get(key=f"pair:{user.email}|198.51.100.1")
    assert pair.failures == 1
    assert timezone.now() - pair.window_start < timedelta(seconds=30)
    assert attempt_login(req("198.51.100.1"), user.email, world.password).user == user


def test_success_clears_the_pair_counter(world):
    user = world.acme.users["sender"]
    ip = "198.51.100.1"
    fail(user.email, ip, PER_USER - 1)
    assert LoginThrottle.objects.filter(key=f"pair:{user.email}|{ip}").exists()
    assert attempt_login(req(ip), user.email, world.password).user == user
    assert not LoginThrottle.objects.filter(key=f"pair:{user.email}|{ip}").exists()
    # Without the reset these would add up to more than the limit.
    fail(user.email, ip, PER_USER - 1)
    assert attempt_login(req(ip), user.email, world.password).user == user


def test_email_case_and_spaces_do_not_give_fresh_counters(world):
    user = world.acme.users["sender"]
    for variant in (user.email.upper(), f"  {user.email} ", user.email.title()):
        fail(variant, "198.51.100.1")
    assert attempt_login(req("198.51.100.1"), user.email, world.password).code == "throttled"


def test_login_page_shows_the_same_page_for_known_and_unknown_emails(world, client):
    assert resolve(reverse("access:login")).func is not home  # the real login view, not a placeholder
    pages = []
    for email in (world.acme.master.email, "nobody@acme.test"):
        response = client.post(reverse("access:login"), {"email": email, "password": WRONG})
        assert response.status_code == 200
        assert GENERIC_FAILURE.encode() in response.content
        # Apart from the echoed email and per-request CSRF tokens, the pages are the same.
        pages.append(CSRF.sub("", response.content.decode().replace(email, "EMAIL")))
    assert pages[0] == pages[1]
