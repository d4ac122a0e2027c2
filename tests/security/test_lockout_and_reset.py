"""Issue 8 §4.4 and §4.5: the targeted lock-out and the password-reset requests.

30 failures from 3+ addresses lock the owner out on any browser without a device cookie; a completed
password reset must lift that, and the message must say what else the owner can do. Reset requests are
limited per email and per address, answering the same whether limited or not."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client, RequestFactory
from django.urls import reverse

from kontor.access.login import attempt_login
from kontor.access.models import LoginThrottle

pytestmark = pytest.mark.django_db

WRONG = "not-the-password"
NEW = "Brand-new-secret-1"


def req(ip: str):
    request = RequestFactory().post("/login/")
    request.client_ip = ip
    return request


def lock_out(email: str, settings) -> None:
    per_user = settings.KONTOR_LOGIN_MAX_PER_USER
    addresses = [f"198.51.100.{i}" for i in range(1, 4)]
    for ip in addresses:
        for _ in range(per_user):
            assert attempt_login(req(ip), email, WRONG).code == "invalid"


def reset_link(client: Client, email: str, capture) -> str:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        client.post(reverse("access:password_reset"), {"email": email})
    found = re.search(r"(/password/reset/[^/\s]+/)", mail.outbox[-1].body)
    assert found, mail.outbox[-1].body
    return found.group(1)


def test_a_completed_reset_lifts_the_lock_out(world, client, settings, django_capture_on_commit_callbacks):
    user = world.acme.users["sender"]
    lock_out(user.email, settings)
    locked = attempt_login(req("203.0.113.9"), user.email, world.password)
    assert locked.user is None and locked.code == "throttled"
    # The message says what the owner can do besides waiting.
    minutes = settings.KONTOR_LOGIN_WINDOW_SECONDS // 60
    assert "browser" in locked.error and f"{minutes} minutes" in locked.error
    assert "master user" in locked.error and "reset" in locked.error
    # Asking for a reset is not enough (anyone can ask); completing it is.
    path = reset_link(client, user.email, django_capture_on_commit_callbacks)
    assert attempt_login(req("203.0.113.9"), user.email, world.password).code == "throttled"
    done = client.post(path, {"password": NEW, "password2": NEW})
    assert done.status_code == 302
    ok = attempt_login(req("203.0.113.9"), user.email, NEW)
    assert ok.user == user
    assert not LoginThrottle.objects.filter(key__startswith=f"user:{user.email}").exists()


def test_a_reset_does_not_lift_an_addresses_own_limit(world, client, settings, django_capture_on_commit_callbacks):
    """The per-address limit is about the attacker's address, not about the owner."""
    user = world.acme.users["sender"]
    settings.KONTOR_LOGIN_MAX_PER_ADDRESS = 4
    for i in range(4):
        attempt_login(req("198.51.100.50"), f"someone{i}@acme.test", WRONG)
    path = reset_link(client, user.email, django_capture_on_commit_callbacks)
    assert client.post(path, {"password": NEW, "password2": NEW}).status_code == 302
    throttled = attempt_login(req("198.51.100.50"), user.email, NEW)
    assert throttled.code == "throttled"
    assert attempt_login(req("198.51.100.51"), user.email, NEW).user == user


def _ask(client: Client, email: str, ip: str, capture) -> bytes:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        response = client.post(reverse("access:password_reset"), {"email": email}, REMOTE_ADDR=ip)
    assert response.status_code == 200
    return re.sub(rb'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]*"', b"", response.content)


def test_reset_requests_are_limited_per_email(world, client, settings, django_capture_on_commit_callbacks):
    email = world.acme.users["sender"].email
    limit = settings.KONTOR_RESET_MAX_PER_EMAIL
    answers = {_ask(client, email, f"198.51.100.{i}", django_capture_on_commit_callbacks) for i in range(15)}
    assert len(mail.outbox) == limit < 15
    assert len(answers) == 1  # limited or not, the page is the same


def test_reset_requests_are_limited_per_address(world, client, settings, django_capture_on_commit_callbacks):
    limit = settings.KONTOR_RESET_MAX_PER_ADDRESS
    users = [world.acme.users[slug] for slug in sorted(world.acme.users)] + [world.acme.master]
    users += [world.globex.users[slug] for slug in sorted(world.globex.users)]
    assert len(users) > limit
    answers = {_ask(client, u.email, "198.51.100.77", django_capture_on_commit_callbacks) for u in users}
    assert len(mail.outbox) == limit
    assert len(answers) == 1
    # Another address is not held back by that one.
    _ask(client, users[-1].email, "198.51.100.78", django_capture_on_commit_callbacks)
    assert len(mail.outbox) == limit + 1
