"""The welcome flow end to end: a CSR onboards a customer, the mail goes through a real SMTP server on
localhost, and the link in it sets password, PIN and security question exactly once."""

from __future__ import annotations

import email
import re
import socket
import time
from email.message import Message
from email.utils import parseaddr

import pytest
from aiosmtpd.controller import Controller
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse

from kontor.access.login import attempt_login
from kontor.access.models import User
from kontor.access.services import onboard_enterprise
from kontor.tenancy.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "Glacier-Lantern-2031"
LINK = re.compile(r"https?://[^\s/]+(/welcome/([A-Za-z0-9_\-]+)/)")


class Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp(settings):
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    try:
        yield collector
    finally:
        controller.stop()


def _wait_for(collector: Collector, count: int, timeout: float = 600.0) -> None:
    # Returns as soon as the mail is there; the cap only ends a hang (a busy machine may be slow).
    deadline = time.monotonic() + timeout
    while len(collector.messages) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def _body(message: Message) -> str:
    if message.is_multipart():
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        raise AssertionError("no text/plain part")
    return message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")


@pytest.fixture
def csr():
    user = User(email="csr@provider.test", first_name="Cecilia", last_name="CSR", is_staff=True, staff_role="csr")
    user.set_password("a-long-staff-password-1")
    user.save()
    return user


def _onboard(csr: User, mail: str = "nora@newco.test"):
    return onboard_enterprise(
        actor=csr,
        first_name="Nora",
        last_name="New",
        email=mail,
        phone="+46701234567",
        time_zone="Europe/Stockholm",
        billing_id="not_used",
        company_name="Newco",
    )


def test_welcome_mail_through_smtp_then_the_link_sets_everything_once(smtp, csr, client, settings):
    done = _onboard(csr)
    _wait_for(smtp, 1)
    assert len(smtp.messages) == 1
    mail_from, rcpt_tos, message = smtp.messages[0]
    assert rcpt_tos == ["nora@newco.test"]
    assert mail_from == parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    assert message["To"] == "nora@newco.test"
    assert "welcome" in message["Subject"].lower()
    body = _body(message)
    assert "nora@newco.test" in body
    match = LINK.search(body)
    assert match, body
    path, token = match.group(1), match.group(2)

    assert path == reverse("access:welcome", kwargs={"token": token})

    page = client.get(path)
    assert page.status_code == 200
    for name in ("password", "pin", "question", "answer"):
        assert f'name="{name}"'.encode() in page.content

    data = {
        "password": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "pin": "482916",
        "pin2": "482916",
        "question": "Name of your first school?",
        "answer": "  Lund   Cathedral School ",
    }
    bad = client.post(path, {**data, "pin": "12", "pin2": "12"})
    assert bad.status_code == 200  # the form again, with the error beside the PIN
    assert not User.objects.get(pk=done.master.pk).has_usable_password()

    response = client.post(path, data)
    assert response.status_code == 302
    master = User.objects.get(pk=done.master.pk)
    assert master.check_password(NEW_PASSWORD)
    assert master.check_pin("482916") and not master.check_pin("000000")
    assert master.security_question == "Name of your first school?"
    assert master.check_security_answer("lund cathedral school")
    assert "482916" not in master.pin_hash and "lund" not in master.security_answer_hash.lower()

    # The link works once.
    client.logout()
    again = client.get(path)
    assert again.status_code in (404, 410)
    reuse = client.post(path, {**data, "password": "Another-Pass-4242", "password2": "Another-Pass-4242"})
    assert reuse.status_code in (404, 410)
    assert User.objects.get(pk=master.pk).check_password(NEW_PASSWORD)

    request = RequestFactory().post("/login/")
    request.client_ip = "203.0.113.9"
    result = attempt_login(request, "Nora@Newco.test", NEW_PASSWORD)
    assert result.user == master
    assert result.user.customer == done.customer


def test_a_rolled_back_transaction_sends_no_mail(smtp, csr):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        _onboard(csr)
        raise Abort
    assert not Customer.objects.filter(name="Newco").exists()
    # The server works: a committed onboarding right after does arrive, and only that one.
    _onboard(csr, mail="olle@newco.test")
    _wait_for(smtp, 1)
    time.sleep(0.2)
    assert [rcpt for _, rcpt, _ in smtp.messages] == [["olle@newco.test"]]


def test_a_failed_onboarding_sends_no_mail(smtp, csr):
    from kontor.core.errors import Invalid

    with pytest.raises(Invalid):
        onboard_enterprise(
            actor=csr,
            first_name="",
            last_name="New",
            email="nora@newco.test",
            phone="",
            time_zone="UTC",
            billing_id="x",
        )
    time.sleep(0.2)
    assert smtp.messages == []
