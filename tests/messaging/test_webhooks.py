"""Webhooks: inbound messages POSTed, signed, to a real local HTTP server; retries with backoff; URL
checks; the settings page and its delivery log (permissions, other accounts' rows are 404)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.server
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from kontor.audit.models import AuditEntry
from kontor.core.errors import Invalid
from kontor.messaging.delivery import webhooks
from kontor.messaging.delivery.inbound import receive_inbound
from kontor.messaging.models import Webhook, WebhookDelivery
from tests.numbers import conftest as numbers_conftest
from tests.numbers.conftest import DEDICATED

pytestmark = pytest.mark.django_db

nums = numbers_conftest.nums
State = WebhookDelivery.State


@dataclass
class Receiver:
    """What the local server got, and the status codes it answers with next (then 200)."""

    url: str
    answers: list[int] = field(default_factory=list)
    got: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.got.append({"headers": dict(self.headers), "body": body, "path": self.path})
            code = state.answers.pop(0) if state.answers else 200
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for the serving loop to poll its flag: every half second by default, which was
    # half a second of every test using this server.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def hook(world, receiver) -> Webhook:
    """Globex Sales (which has the dedicated number) posts to the local receiver."""
    return webhooks.configure_webhook(world.globex.account, actor=world.globex.master, url=receiver.url)


def verify(secret: str, header: str, body: bytes, now: float, tolerance: int = 300) -> bool:
    """What a receiver does (as the settings page documents): recompute the HMAC over
    `<t>.<raw body>`, compare in constant time, and refuse a timestamp more than 5 minutes off."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or abs(now - int(t)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, v1)


def test_the_signature_covers_the_timestamp():
    body = b'{"event":"webhook.test","id":1}'
    now = 1_800_000_000
    header = webhooks.sign("s3cret", body, now)
    digest = hmac.new(b"s3cret", b"1800000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1800000000,v1={digest}"
    assert verify("s3cret", header, body, now + 299)
    # Changing the timestamp (to make an old request look fresh) breaks the signature.
    tampered = header.replace("t=1800000000", f"t={now + 600}")
    assert not verify("s3cret", tampered, body, now + 600)
    # A correctly signed but old request is refused, and so is one from the future.
    assert not verify("s3cret", header, body, now + 301)
    assert not verify("s3cret", header, body, now - 301)
    assert not verify("s3cret", "v1=" + digest, body, now)
    assert not verify("s3cret", "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest(), body, now)


def receive(text: str = "hello", **kw: Any):  # type: ignore[no-untyped-def]
    return receive_inbound(from_number="+46701234567", to=DEDICATED, text=text, connector="smpp", **kw)


def test_inbound_message_is_posted_signed(world, nums, hook, receiver, django_capture_on_commit_callbacks):
    at = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    with django_capture_on_commit_callbacks(execute=True):
        result = receive("Hi there", downstream_id="m-1", received_at=at)
    [got] = receiver.got
    header = got["headers"]["X-Kontor-Signature"]
    now = timezone.now().timestamp()
    assert verify(hook.secret, header, got["body"], now)
    t = int(header.split(",")[0].removeprefix("t="))
    assert abs(t - now) < 60 and got["headers"]["X-Kontor-Timestamp"] == str(t)
    assert header == webhooks.sign(hook.secret, got["body"], t)
    assert not verify("another secret", header, got["body"], now)
    assert not verify(hook.secret, header, got["body"].replace(b"Hi there", b"Hi thera"), now)
    assert got["headers"]["Content-Type"] == "application/json"
    assert json.loads(got["body"]) == {
        "event": "message.inbound",
        "id": result.message.pk,
        "from": "+46701234567",
        "to": DEDICATED,
        "text": "Hi there",
        "keyword": "",
        "received_at": at.isoformat(),
    }
    [d] = WebhookDelivery.objects.all()
    assert (d.status, d.attempts, d.last_status_code, d.message_id, d.account_id) == (
        State.DELIVERED,
        1,
        200,
        result.message.pk,
        world.globex.account.pk,
    )
    assert d.delivered_at is not None and d.next_attempt_at is None


def test_nothing_is_sent_without_an_active_webhook_or_on_rollback(
    world, nums, hook, receiver, django_capture_on_commit_callbacks
):
    webhooks.configure_webhook(world.globex.account, actor=None, url=receiver.url, active=False)
    with django_capture_on_commit_callbacks(execute=True):
        receive(downstream_id="m-2")
    assert receiver.got == [] and not WebhookDelivery.objects.exists()
    # Another account's webhook does not get Globex's message.
    Webhook.objects.filter(pk=hook.pk).update(account=world.globex.other_account)
    webhooks.configure_webhook(world.globex.account, actor=None, url=receiver.url, active=True)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        receive(downstream_id="m-3")
    # Queued for after commit only, so a rollback sends nothing.
    assert callbacks and not WebhookDelivery.objects.exists() and receiver.got == []
    for callback in callbacks:
        callback()
    [d] = WebhookDelivery.objects.all()
    assert (d.webhook.account, d.status, len(receiver.got)) == (world.globex.account, State.DELIVERED, 1)


def test_a_500_is_retried_with_backoff_then_delivered(world, nums, hook, receiver, django_capture_on_commit_callbacks):
    receiver.answers = [500]
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        receive(downstream_id="m-4")
    [d] = WebhookDelivery.objects.all()
    assert (d.status, d.attempts, d.last_status_code) == (State.PENDING, 1, 500)
    assert "500" in d.last_error
    assert before + dt.timedelta(minutes=1) <= d.next_attempt_at <= timezone.now() + dt.timedelta(minutes=1)
    # Not due yet: nothing is sent.
    assert webhooks.deliver(d.pk) == "not_due"
    assert len(receiver.got) == 1
    WebhookDelivery.objects.filter(pk=d.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    out = io.StringIO()
    call_command("deliver_webhooks", stdout=out)
    assert out.getvalue().strip() == "1 delivered"
    d.refresh_from_db()
    assert (d.status, d.attempts, d.last_status_code, d.last_error, d.next_attempt_at) == (
        State.DELIVERED,
        2,
        200,
        "",
        None,
    )
    assert len(receiver.got) == 2 and receiver.got[0]["body"] == receiver.got[1]["body"]
    assert webhooks.deliver(d.pk) == "delivered" and len(receiver.got) == 2  # never sent twice


def test_backoff_schedule_and_failure_after_six_attempts(world, hook, receiver):
    receiver.answers = [503] * 6
    d = webhooks.send_test_event(hook, actor=None)
    waits = []
    for attempt in range(1, 7):
        WebhookDelivery.objects.filter(pk=d.pk).update(next_attempt_at=timezone.now())
        now = timezone.now()
        assert webhooks.deliver(d.pk) == ("failed" if attempt == 6 else "pending")
        d.refresh_from_db()
        assert d.attempts == attempt
        if d.next_attempt_at is not None:
            waits.append(round((d.next_attempt_at - now).total_seconds() / 60))
    assert waits == [1, 5, 30, 120, 360]
    assert (d.status, d.next_attempt_at, d.last_status_code) == (State.FAILED, None, 503)
    # "Retry now" gives a failed delivery one more attempt.
    webhooks.retry_now(d, actor=world.globex.master)
    assert webhooks.deliver(d.pk) == "delivered"
    assert AuditEntry.objects.filter(action="webhook_delivery.retry", object_id=str(d.pk)).count() == 1


def test_an_unreachable_receiver_is_logged_not_raised(world):
    hook = webhooks.configure_webhook(world.acme.account, actor=None, url="http://127.0.0.1:1/nothing")
    d = webhooks.send_test_event(hook, actor=None)
    assert webhooks.deliver(d.pk) == "pending"
    d.refresh_from_db()
    assert d.last_status_code is None and d.last_error
    assert webhooks.deliver(987654321) == "missing"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "https://user:pw@example.com/hook",
        "https://user@example.com/hook",
        "javascript:alert(1)",
        "https:///nohost",
        "",
        "https://example.com:99999/",
    ],
)
def test_bad_urls_are_refused(world, url):
    with pytest.raises(Invalid) as exc:
        webhooks.configure_webhook(world.acme.account, actor=None, url=url)
    assert "url" in exc.value.fields
    assert not Webhook.objects.exists() and not AuditEntry.objects.filter(action__startswith="webhook").exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.1/hook",
        "https://169.254.169.254/latest",
        "https://[::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://localhost/hook",
        "https://db.internal/hook",
        "http://example.com/hook",
    ],
)
def test_private_hosts_and_plain_http_are_refused_unless_allowed(world, settings, url):
    settings.KONTOR_WEBHOOK_ALLOW_PRIVATE = False
    settings.DEBUG = False
    with pytest.raises(Invalid):
        webhooks.configure_webhook(world.acme.account, actor=None, url=url)
    assert webhooks.configure_webhook(world.acme.account, actor=None, url="https://example.com/hook").url


def test_a_name_resolving_to_a_private_address_is_not_called(world, settings, receiver):
    url = receiver.url.replace("127.0.0.1", "localhost")
    hook = webhooks.configure_webhook(world.acme.account, actor=None, url=url)
    settings.KONTOR_WEBHOOK_ALLOW_PRIVATE = False
    d = webhooks.send_test_event(hook, actor=None)
    assert webhooks.deliver(d.pk) == "pending"
    d.refresh_from_db()
    assert "private" in d.last_error and receiver.got == []


def test_configure_is_audited_and_keeps_the_secret(world):
    account = world.acme.account
    first = webhooks.configure_webhook(account, actor=world.acme.master, url="https://example.com/a")
    again = webhooks.configure_webhook(account, actor=world.acme.master, url="https://example.com/b", active=False)
    assert (again.pk, again.secret, again.url, again.active) == (first.pk, first.secret, "https://example.com/b", False)
    assert len(first.secret) == 64
    assert [e.action for e in AuditEntry.objects.filter(action__startswith="webhook").order_by("id")] == [
        "webhook.create",
        "webhook.update",
    ]
    rotated = webhooks.rotate_secret(again, actor=world.acme.master)
    assert rotated.secret != first.secret
    entry = AuditEntry.objects.get(action="webhook.rotate_secret")
    assert first.secret not in json.dumps([entry.before, entry.after])


# --- the page -------------------------------------------------------------------------------------


def test_technician_configures_sees_secret_and_log(client, world, receiver, django_capture_on_commit_callbacks):
    a = world.acme
    client.force_login(a.users["technician"])
    url = reverse("messaging:webhooks")
    assert client.get(url).status_code == 200
    response = client.post(url, {"url": "ftp://example.com", "active": "on"})
    assert response.status_code == 200 and b"https://" in response.content
    assert not Webhook.objects.exists()
    assert client.post(url, {"url": receiver.url, "active": "on"}).status_code == 302
    hook = Webhook.objects.get(account=a.account)
    page = client.get(url).content.decode()
    assert hook.secret in page
    # How to verify is documented next to the secret: the signed timestamp and the 5-minute limit.
    assert 'id="verify-signature"' in page and "t=&lt;timestamp&gt;,v1=&lt;hex&gt;" in page
    assert "&lt;timestamp&gt;.&lt;raw body&gt;" in page and "5 minutes" in page
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("messaging:webhook_test")).status_code == 302
    [got] = receiver.got
    assert json.loads(got["body"])["event"] == "webhook.test"
    page = client.get(url).content.decode()
    assert 'id="deliveries"' in page and "webhook.test" in page and "delivered" in page.lower()
    old = hook.secret
    assert client.post(reverse("messaging:webhook_rotate")).status_code == 302
    hook.refresh_from_db()
    assert hook.secret != old


def test_retry_now_from_the_log(client, world, receiver, django_capture_on_commit_callbacks):
    a = world.acme
    hook = webhooks.configure_webhook(a.account, actor=None, url=receiver.url)
    receiver.answers = [500]
    d = webhooks.send_test_event(hook, actor=None)
    webhooks.deliver(d.pk)
    client.force_login(a.users["technician"])
    retry = reverse("messaging:webhook_delivery_retry", args=[d.pk])
    assert client.get(retry).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(retry).status_code == 302
    d.refresh_from_db()
    assert (d.status, d.attempts) == (State.DELIVERED, 2)
    # A delivered event is not sent again.
    client.post(retry)
    assert len(receiver.got) == 2


def test_sender_may_not_open_the_page(client, world):
    client.force_login(world.acme.users["sender"])
    for name in ("messaging:webhooks", "messaging:webhook_test", "messaging:webhook_rotate"):
        assert client.get(reverse(name)).status_code == 403
        assert client.post(reverse(name), {"url": "https://example.com/x"}).status_code == 403
    assert not Webhook.objects.exists()


def test_another_accounts_deliveries_are_invisible(client, world, receiver):
    g = world.globex
    hook = webhooks.configure_webhook(g.account, actor=None, url="https://example.com/globex")
    d = WebhookDelivery.objects.create(
        customer=g.customer, account=g.account, webhook=hook, event="webhook.test", status="failed", attempts=6
    )
    other = webhooks.configure_webhook(world.acme.other_account, actor=None, url="https://example.com/other")
    mine = WebhookDelivery.objects.create(
        customer=world.acme.customer, account=world.acme.other_account, webhook=other, event="secret-event"
    )
    client.force_login(world.acme.users["technician"])
    for pk in (d.pk, mine.pk):
        retry = reverse("messaging:webhook_delivery_retry", args=[pk])
        assert client.get(retry).status_code == 404
        assert client.post(retry).status_code == 404
    page = client.get(reverse("messaging:webhooks")).content.decode()
    assert "secret-event" not in page and hook.secret not in page and other.secret not in page
    d.refresh_from_db()
    assert (d.status, d.attempts) == ("failed", 6)
    # No webhook in this account yet: test and rotate are 404, not another account's.
    assert client.post(reverse("messaging:webhook_test")).status_code == 404
    assert client.post(reverse("messaging:webhook_rotate")).status_code == 404
