"""Signing in and out, brute-force throttling, disabled users, welcome and password-reset links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kontor.access.login import DEVICE_COOKIE, GENERIC_FAILURE
from kontor.access.models import OneTimeToken, User
from kontor.access.services import resend_welcome
from kontor.audit.models import AuditEntry

LOGIN = "/login/"


def _login(client: Client, email: str, password: str, ip: str = "10.0.0.1", **extra):
    return client.post(LOGIN, {"email": email, "password": password, **extra}, REMOTE_ADDR=ip)


def _errors(response) -> list[str]:
    return list(response.context["form"].non_field_errors())


@pytest.fixture
def limits(settings):
    settings.KONTOR_LOGIN_MAX_PER_USER = 3
    settings.KONTOR_LOGIN_MAX_PER_ADDRESS = 100
    return settings


# --- sign in and out -----------------------------------------------------------------------------


def test_login_page_links_to_password_reset(client, db):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert reverse("access:password_reset").encode() in response.content


def test_login_success_rotates_session_and_sets_device_cookie(client, world):
    old_key = client.session.session_key
    assert old_key
    response = _login(client, world.acme.users["sender"].email, world.password)
    assert response.status_code == 302
    assert response["Location"] == reverse("web:home")
    new_key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert new_key != old_key
    assert not Session.objects.filter(session_key=old_key).exists()
    assert DEVICE_COOKIE in response.cookies and response.cookies[DEVICE_COOKIE].value
    assert client.get("/").status_code == 200
    entry = AuditEntry.objects.get(action="user.login")
    assert entry.actor == world.acme.users["sender"] and entry.customer_id == world.acme.customer.pk


def test_login_email_is_case_insensitive(client, world):
    response = _login(client, "  SENDER@Acme.Test ", world.password)
    assert response.status_code == 302


def test_login_follows_safe_next_only(client, world):
    response = _login(client, world.acme.master.email, world.password, next="/users/")
    assert response["Location"] == "/users/"
    client.post("/logout/")
    response = _login(client, world.acme.master.email, world.password, next="https://evil.example/x")
    assert response["Location"] == reverse("web:home")


def test_wrong_password_and_unknown_email_give_identical_answer(client, world):
    wrong = _login(client, world.acme.master.email, "not-the-password")
    unknown = _login(client, "nobody@nowhere.test", "not-the-password")
    assert wrong.status_code == unknown.status_code == 200
    assert _errors(wrong) == _errors(unknown) == [GENERIC_FAILURE]
    assert not AuditEntry.objects.filter(action="user.login").exists()
    assert "_auth_user_id" not in client.session


def test_empty_form_is_an_inline_error_not_a_crash(client, db):
    response = client.post(LOGIN, {"email": "", "password": ""})
    assert response.status_code == 200
    assert response.context["form"].errors


def test_logout_is_post_only(client, world):
    client.force_login(world.acme.master)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert client.get("/").status_code == 302


def test_signed_in_user_visiting_login_goes_home(client, world):
    client.force_login(world.acme.master)
    assert client.get(LOGIN)["Location"] == reverse("web:home")


# --- throttling ----------------------------------------------------------------------------------


def test_throttled_after_max_failures_for_email_and_address(client, world, limits):
    email = world.acme.users["sender"].email
    for _ in range(limits.KONTOR_LOGIN_MAX_PER_USER):
        assert _errors(_login(client, email, "wrong", ip="10.1.1.1")) == [GENERIC_FAILURE]
    response = _login(client, email, world.password, ip="10.1.1.1")
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in _errors(response)[0]
    assert "_auth_user_id" not in client.session
    # The same email from another address is not blocked by one address's failures.
    assert _login(Client(), email, world.password, ip="10.1.1.2").status_code == 302


def test_unknown_email_is_throttled_like_a_known_one(client, world, limits):
    for email in ("nobody@acme.test", world.acme.master.email):
        for _ in range(limits.KONTOR_LOGIN_MAX_PER_USER):
            _login(client, email, "wrong", ip="10.2.2.2")
        assert "Too many failed" in _errors(_login(client, email, "x", ip="10.2.2.2"))[0]


def test_owner_with_device_cookie_signs_in_while_email_is_attacked(world, limits):
    email = world.acme.master.email
    owner = Client()
    assert _login(owner, email, world.password, ip="192.0.2.10").status_code == 302
    owner.post("/logout/")
    assert owner.cookies[DEVICE_COOKIE].value
    # An attacker spreads failures over many addresses, staying below the per-address-pair limit.
    per_user_limit = limits.KONTOR_LOGIN_MAX_PER_USER * 3
    attacker = Client()
    for n in range(per_user_limit):
        _login(attacker, email, "guess", ip=f"203.0.113.{n // 2 + 1}")
    # Without the device cookie the email is now throttled, even from a fresh address...
    stranger = _login(Client(), email, world.password, ip="198.51.100.7")
    assert "Too many failed" in _errors(stranger)[0]
    # ...but the owner's browser, presenting its device cookie, still gets in.
    response = _login(owner, email, world.password, ip="198.51.100.8")
    assert response.status_code == 302
    assert owner.get("/").status_code == 200


def test_device_cookie_of_another_email_does_not_help(world, limits):
    victim = world.acme.master.email
    other = Client()
    assert _login(other, world.acme.users["sender"].email, world.password, ip="192.0.2.20").status_code == 302
    other.post("/logout/")
    for n in range(limits.KONTOR_LOGIN_MAX_PER_USER * 3):
        _login(Client(), victim, "guess", ip=f"203.0.113.{n // 2 + 1}")
    assert "Too many failed" in _errors(_login(other, victim, world.password, ip="192.0.2.20"))[0]


def test_address_with_too_many_failures_is_throttled_for_every_email(client, world, settings):
    settings.KONTOR_LOGIN_MAX_PER_USER = 10
    settings.KONTOR_LOGIN_MAX_PER_ADDRESS = 4
    for n in range(4):
        _login(client, f"probe{n}@acme.test", "guess", ip="10.9.9.9")
    response = _login(client, world.acme.master.email, world.password, ip="10.9.9.9")
    assert "Too many failed" in _errors(response)[0]
    assert _login(Client(), world.acme.master.email, world.password, ip="10.9.9.10").status_code == 302


# --- disabled users ------------------------------------------------------------------------------


def test_disabled_users_session_ends(world):
    victim = world.acme.users["sender"]
    user_client = Client()
    user_client.force_login(victim)
    assert user_client.get("/").status_code == 200
    admin = Client()
    admin.force_login(world.acme.master)
    response = admin.post(reverse("access:user_disable", args=[victim.pk]))
    assert response.status_code == 302
    victim.refresh_from_db()
    assert not victim.is_active
    response = user_client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    # And the password no longer works either, with the usual message.
    assert _errors(_login(Client(), victim.email, world.password)) == [GENERIC_FAILURE]


# --- welcome link --------------------------------------------------------------------------------


def _link(message) -> str:
    match = re.search(r"https?://[^/\s]+(/\S+/)", message.body)
    assert match, message.body
    return match.group(1)


WELCOME = {
    "password": "Kontor-welcome-2024!",
    "password2": "Kontor-welcome-2024!",
    "pin": "123456",
    "pin2": "123456",
    "question": "What was the name of your first pet?",
    "answer": "  Fluffy  the Cat ",
}


@pytest.fixture
def invited(world, django_capture_on_commit_callbacks):
    admin = Client()
    admin.force_login(world.acme.master)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            reverse("access:user_add"),
            {
                "first_name": "Nina",
                "last_name": "New",
                "email": "nina@acme.test",
                "phone": "",
                "time_zone": "Europe/Stockholm",
                f"role_{world.acme.account.pk}": world.acme.users["sender"].memberships.get().role_id,
            },
        )
    assert response.status_code == 302, response.content
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["nina@acme.test"]
    return User.objects.get(email="nina@acme.test"), _link(mail.outbox[0])


def test_welcome_flow_sets_password_pin_and_answer_hashed(invited, world):
    user, path = invited
    assert path.startswith("/welcome/")
    assert "Welcome" in mail.outbox[0].subject
    assert user.has_usable_password() is False and not user.has_pin
    client = Client()
    page = client.get(path)
    assert page.status_code == 200 and b"suggested-questions" in page.content
    # Bad input: errors inline, nothing stored, the link still works.
    short = client.post(path, {**WELCOME, "pin": "12", "pin2": "12"})
    assert short.status_code == 200 and short.context["form"].errors["pin"]
    differ = client.post(path, {**WELCOME, "pin2": "654321"})
    assert differ.status_code == 200 and differ.context["form"].errors["pin2"]
    weak = client.post(path, {**WELCOME, "password": "short", "password2": "short"})
    assert weak.status_code == 200 and weak.context["form"].errors["password"]
    user.refresh_from_db()
    assert not user.has_pin and not user.has_usable_password()

    done = client.post(path, WELCOME)
    assert done.status_code == 302 and done["Location"] == reverse("web:home")
    assert client.get("/").status_code == 200  # signed in
    user.refresh_from_db()
    assert user.pin_hash and user.pin_hash != "123456" and "123456" not in user.pin_hash
    assert user.check_pin("123456") and not user.check_pin("654321")
    assert user.security_answer_hash and "fluffy" not in user.security_answer_hash.lower()
    assert user.check_security_answer("fluffy THE cat")
    assert user.security_question == WELCOME["question"]
    assert user.check_password(WELCOME["password"])
    assert AuditEntry.objects.filter(action="user.welcome_completed", object_id=str(user.pk)).exists()

    # Used once: the link now shows the invalid page, without a form, and changes nothing.
    again = Client().get(path)
    assert again.status_code == 410 and b"not valid" in again.content and b"<form" not in again.content
    again_post = Client().post(path, {**WELCOME, "pin": "999999", "pin2": "999999"})
    assert again_post.status_code == 410
    user.refresh_from_db()
    assert user.check_pin("123456")


def test_expired_welcome_link_is_invalid(invited):
    user, path = invited
    OneTimeToken.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get(path)
    assert response.status_code == 410
    assert Client().post(path, WELCOME).status_code == 410
    user.refresh_from_db()
    assert not user.has_pin


def test_resent_welcome_replaces_old_link(invited, world, django_capture_on_commit_callbacks):
    user, old_path = invited
    with django_capture_on_commit_callbacks(execute=True):
        resend_welcome(user, actor=world.acme.master)
    new_path = _link(mail.outbox[-1])
    assert new_path != old_path
    assert Client().get(old_path).status_code == 410
    assert Client().get(new_path).status_code == 200


def test_garbage_welcome_token_is_invalid(db, client):
    assert client.get("/welcome/not-a-token/").status_code == 410


# --- password reset ------------------------------------------------------------------------------


def _without_csrf(content: bytes) -> bytes:
    return re.sub(rb'"X-CSRFToken": "[^"]*"', b"", content)


def test_password_reset_does_not_tell_which_emails_exist(client, world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        unknown = client.post("/password/reset/", {"email": "nobody@acme.test"})
    assert unknown.status_code == 200 and mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post("/password/reset/", {"email": world.acme.users["sender"].email})
    assert known.status_code == 200 and len(mail.outbox) == 1
    assert _without_csrf(unknown.content) == _without_csrf(known.content)


def test_password_reset_flow(client, world, django_capture_on_commit_callbacks):
    user = world.acme.users["sender"]
    signed_in = Client()
    signed_in.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/password/reset/", {"email": user.email})
    path = _link(mail.outbox[0])
    assert path.startswith("/password/reset/")
    assert client.get(path).status_code == 200
    mismatch = client.post(path, {"password": "Brand-new-secret-1", "password2": "Other-secret-22"})
    assert mismatch.status_code == 200 and mismatch.context["form"].errors["password2"]
    done = client.post(path, {"password": "Brand-new-secret-1", "password2": "Brand-new-secret-1"})
    assert done.status_code == 302 and done["Location"] == LOGIN
    user.refresh_from_db()
    assert user.check_password("Brand-new-secret-1")
    # Other sessions ended; the link is spent.
    assert signed_in.get("/").status_code == 302
    assert client.get(path).status_code == 410
    assert _login(Client(), user.email, "Brand-new-secret-1").status_code == 302


def test_password_change_keeps_session(client, world):
    user = world.acme.users["sender"]
    client.force_login(user)
    url = reverse("access:password_change")
    wrong = client.post(
        url, {"old_password": "nope", "new_password": "Another-pass-77", "new_password2": "Another-pass-77"}
    )
    assert wrong.status_code == 200 and wrong.context["form"].errors["old_password"]
    user.refresh_from_db()
    assert user.check_password(world.password)
    ok = client.post(
        url, {"old_password": world.password, "new_password": "Another-pass-77", "new_password2": "Another-pass-77"}
    )
    assert ok.status_code == 302
    assert client.get("/").status_code == 200  # still signed in
    user.refresh_from_db()
    assert user.check_password("Another-pass-77")
    assert AuditEntry.objects.filter(action="user.password_change", object_id=str(user.pk)).exists()
