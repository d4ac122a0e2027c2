"""Webhooks: an account's inbound messages POSTed as signed JSON to the URL it configured, retried with
backoff, every attempt visible in the delivery log.

The receiver verifies `X-Kontor-Signature: t=<timestamp>,v1=<hex>` (Stripe-style): <hex> is the
HMAC-SHA256, with the webhook's secret, of `<timestamp>.<raw request body>`. Because the timestamp is
signed, a receiver that rejects old timestamps (we say: older than 5 minutes) cannot be fed a replayed
request. Delivery never raises: a receiver that is down is a log row, not an error,
and the message it is about is stored either way."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tasks import task

from kontor.access.models import User
from kontor.audit.services import record, snapshot
from kontor.core.context import origin
from kontor.core.errors import Invalid
from kontor.core.retry import retrying
from kontor.messaging.models import Message, Webhook, WebhookDelivery
from kontor.tenancy.models import Account

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5
# Waits after the 1st..5th failed attempt; the 6th failure is final.
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=6),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
# While an attempt is in flight the row is leased this long, so the sweep does not send it twice.
LEASE = dt.timedelta(seconds=TIMEOUT_SECONDS * 6)
# A deferred task may start a little before its time by the database's clock.
EARLY_SLACK = dt.timedelta(seconds=5)
EVENT_INBOUND = "message.inbound"
EVENT_TEST = "webhook.test"
_LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".localdomain")


def _allow_private() -> bool:
    return bool(getattr(settings, "KONTOR_WEBHOOK_ALLOW_PRIVATE", False))


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host that is an IP literal names, in every form the resolver accepts:
    dotted, integer (`2130706433`), octal (`0177.0.0.1`), hex (`0x7f.1`) and short (`127.1`) IPv4."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host.lower()) and any(c.isdigit() for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))  # no lookup: parses the literal only
        except OSError:
            return None
    return None


def _private_ip(value: str) -> bool:
    ip = _literal_ip(value)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that address: judge the IPv4 one.
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return not ip.is_global or ip.is_multicast or ip.is_reserved


def _local_name(host: str) -> bool:
    """A host name that is plainly local: localhost, a local-only domain, or a single label (a name in
    the provider's own search domain). Names that resolve to private addresses are caught at delivery."""
    name = host.rstrip(".")
    if _literal_ip(name) is not None:
        return False
    return name == "localhost" or name.endswith(_LOCAL_NAMES) or "." not in name


def validate_url(url: str) -> str:
    """The URL, stripped, or Invalid on `url`: http(s) only, no credentials, and no private, loopback
    or link-local host (the provider's own network) unless KONTOR_WEBHOOK_ALLOW_PRIVATE."""
    url = (url or "").strip()
    if not url or len(url) > 500:
        raise Invalid.field("url", "Enter a URL of at most 500 characters.")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise Invalid.field("url", "This is not a valid URL.") from None
    if parts.scheme not in ("http", "https") or not host:
        raise Invalid.field("url", "Use an https:// URL.")
    if parts.username is not None or parts.password is not None:
        raise Invalid.field("url", "Leave credentials out of the URL; check the signature instead.")
    if any(c.isspace() for c in url):
        raise Invalid.field("url", "This is not a valid URL.")
    if not _allow_private():
        if parts.scheme != "https" and not settings.DEBUG:
            raise Invalid.field("url", "Use an https:// URL.")
        if _private_ip(host) or _local_name(host):
            raise Invalid.field("url", "The URL must reach a public host, not a private or local address.")
    return url


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `X-Kontor-Signature` value: `t=<timestamp>,v1=<hex>` over `<timestamp>.<body>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _new_secret() -> str:
    return secrets.token_hex(32)


def configure_webhook(account: Account, *, actor: User | None, url: str, active: bool = True) -> Webhook:
    """Create or change the account's webhook; a new one gets a fresh secret."""
    url = validate_url(url)
    with transaction.atomic():
        webhook = Webhook.objects.select_for_update().filter(account=account).first()
        before = snapshot(webhook, ["url", "active"]) if webhook is not None else None
        if webhook is None:
            webhook = Webhook(customer_id=account.customer_id, account=account, secret=_new_secret())
        webhook.url = url
        webhook.active = bool(active)
        webhook.save()
        record(
            "webhook.create" if before is None else "webhook.update",
            webhook,
            actor=actor,
            customer=account.customer_id,
            account_id=account.pk,
            before=before,
            after=snapshot(webhook, ["url", "active"]),
        )
    return webhook


def rotate_secret(webhook: Webhook, *, actor: User | None) -> Webhook:
    """A new secret; the old one stops verifying at once."""
    with transaction.atomic():
        webhook.secret = _new_secret()
        webhook.save(update_fields=["secret", "updated_at"])
        # The secret itself never goes into the audit log.
        record(
            "webhook.rotate_secret", webhook, actor=actor, customer=webhook.customer_id, account_id=webhook.account_id
        )
    return webhook


def inbound_payload(message: Message) -> dict[str, Any]:
    received = message.events.order_by("at", "id").values_list("at", flat=True).first() or message.created_at
    return {
        "event": EVENT_INBOUND,
        "id": message.pk,
        "from": message.from_number,
        "to": message.to_number,
        "text": message.text,
        "keyword": message.keyword,
        "received_at": received.isoformat(),
    }


def _create(webhook: Webhook, event: str, payload: dict[str, Any], message: Message | None) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        customer_id=webhook.customer_id,
        account_id=webhook.account_id,
        webhook=webhook,
        message=message,
        event=event,
        payload=payload,
        next_attempt_at=timezone.now(),
    )


def notify_inbound(message: Message) -> None:
    """Called where an inbound message is stored: once that commits, a delivery to the account's
    webhook (if it has an active one) is logged and queued. A rolled-back message sends nothing."""
    message_id = message.pk

    def queue() -> None:
        try:
            stored = Message.objects.filter(pk=message_id).first()
            if stored is None:
                return
            webhook = Webhook.objects.filter(account_id=stored.account_id, active=True).first()
            if webhook is None or "inbound" not in webhook.events:
                return
            if WebhookDelivery.objects.filter(webhook=webhook, message=stored, event=EVENT_INBOUND).exists():
                return  # handled before (the inbound work ran twice): one event, one delivery
            with transaction.atomic():
                delivery = _create(webhook, EVENT_INBOUND, inbound_payload(stored), stored)
        except IntegrityError:
            return  # the same event logged concurrently (webhook_delivery_once_per_message)
        except Exception:  # the message is stored; a lost webhook must not turn receiving into an error
            log.exception("could not log the webhook delivery of message %s", message_id)
            return
        _enqueue(delivery.pk)

    transaction.on_commit(queue, robust=True)


def send_test_event(webhook: Webhook, *, actor: User | None) -> WebhookDelivery:
    """A `webhook.test` event to the webhook, delivered like any other (and logged)."""
    with transaction.atomic():
        payload: dict[str, Any] = {"event": EVENT_TEST, "id": None, "sent_at": timezone.now().isoformat()}
        delivery = _create(webhook, EVENT_TEST, payload, None)
        payload["id"] = delivery.pk
        delivery.payload = payload
        delivery.save(update_fields=["payload", "updated_at"])
        record("webhook.test", webhook, actor=actor, customer=webhook.customer_id, account_id=webhook.account_id)
        transaction.on_commit(lambda: _enqueue(delivery.pk), robust=True)
    return delivery


def retry_now(delivery: WebhookDelivery, *, actor: User | None) -> WebhookDelivery:
    """Try a pending or failed delivery again at once (one more attempt, whatever the count)."""
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.status == WebhookDelivery.State.DELIVERED:
            raise Invalid("This event was delivered already.")
        before = snapshot(locked, ["status", "attempts", "next_attempt_at"])
        locked.status = WebhookDelivery.State.PENDING
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["status", "next_attempt_at", "updated_at"])
        record(
            "webhook_delivery.retry",
            locked,
            actor=actor,
            customer=locked.customer_id,
            account_id=locked.account_id,
            before=before,
            after=snapshot(locked, ["status", "attempts", "next_attempt_at"]),
        )
        transaction.on_commit(lambda: _enqueue(locked.pk), robust=True)
    return locked


def _enqueue(delivery_id: int, run_after: dt.datetime | None = None) -> None:
    job: Any = deliver_webhook
    try:
        if run_after is not None:
            if not job.get_backend().supports_defer:
                return  # `kontor deliver_webhooks` picks it up when it is due
            job = job.using(run_after=run_after)
        job.enqueue(delivery_id)
    except Exception:  # the sweep still finds it; queueing must not fail the caller
        log.exception("could not queue webhook delivery %s", delivery_id)


def due(limit: int = 500) -> list[int]:
    """Pending deliveries whose next attempt is due (what the sweep sends)."""
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.State.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect could lead the request into our own network; the receiver must answer itself.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxies from the environment: the address checked below must be the one connected to.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def _resolves_private(host: str, port: int) -> bool:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return False  # the request fails on its own and says so
    return any(_private_ip(str(info[4][0])) for info in infos)


def _post(url: str, secret: str, body: bytes, event: str, delivery_id: int) -> tuple[int | None, str]:
    """(HTTP status or None, error text) of one POST."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None, "Only http(s) URLs are called."
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not _allow_private() and _resolves_private(parts.hostname or "", port):
        return None, "The host resolves to a private address; not sent."
    timestamp = int(timezone.now().timestamp())
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked just above
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Kontor-Webhooks/1",
            "X-Kontor-Event": event,
            "X-Kontor-Delivery": str(delivery_id),
            "X-Kontor-Timestamp": str(timestamp),
            "X-Kontor-Signature": sign(secret, body, timestamp),
        },
    )
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(65536)
            return int(response.status), ""
    except urllib.error.HTTPError as exc:
        return int(exc.code), f"HTTP {exc.code} {exc.reason}"[:300]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, (str(reason) or type(exc).__name__)[:300]


def deliver(delivery_id: int) -> str:
    """One attempt of a due pending delivery; the outcome ("delivered", "pending", "failed", or why
    nothing was sent). Never raises."""
    try:
        return _deliver(delivery_id)
    except Exception:
        log.exception("webhook delivery %s broke", delivery_id)
        return "error"


def _deliver(delivery_id: int) -> str:
    """At least once, like every task: a delivered (or failed) row is not sent again, and a row in
    flight is leased (next_attempt_at = now + LEASE) so a second run or the sweep leaves it alone; a
    worker killed mid-POST leaves the lease to expire, and the sweep sends it again (the receiver
    dedupes on X-Kontor-Delivery)."""
    now = timezone.now()
    claimed = retrying(lambda: _claim(delivery_id, now))
    if isinstance(claimed, str):
        return claimed
    delivery, url, secret = claimed
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    code, error = _post(url, secret, body, delivery.event, delivery.pk)
    return retrying(lambda: _record_attempt(delivery_id, code, error))


def _claim(delivery_id: int, now: dt.datetime) -> str | tuple[WebhookDelivery, str, str]:
    delivery = WebhookDelivery.objects.select_for_update().select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None:
        return "missing"
    if delivery.status != WebhookDelivery.State.PENDING:
        return str(delivery.status)
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + EARLY_SLACK:
        return "not_due"
    webhook = delivery.webhook
    if not webhook.active:
        delivery.status = WebhookDelivery.State.FAILED
        delivery.last_error = "The webhook is turned off."
        delivery.next_attempt_at = None
        delivery.save(update_fields=["status", "last_error", "next_attempt_at", "updated_at"])
        return str(delivery.status)
    delivery.attempts += 1
    delivery.next_attempt_at = now + LEASE
    delivery.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
    return delivery, webhook.url, webhook.secret


def _record_attempt(delivery_id: int, code: int | None, error: str) -> str:
    now = timezone.now()
    retry_at: dt.datetime | None = None
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
    delivery.last_status_code = code
    if code is not None and 200 <= code < 300:
        delivery.status = WebhookDelivery.State.DELIVERED
        delivery.delivered_at = now
        delivery.last_error = ""
        delivery.next_attempt_at = None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.State.FAILED
        delivery.last_error = error or f"HTTP {code}"
        delivery.next_attempt_at = None
    else:
        delivery.status = WebhookDelivery.State.PENDING
        delivery.last_error = error or f"HTTP {code}"
        retry_at = delivery.next_attempt_at = now + BACKOFF[max(0, delivery.attempts - 1)]
    delivery.save()
    if retry_at is not None:
        when = retry_at
        transaction.on_commit(lambda: _enqueue(delivery_id, run_after=when), robust=True)
    return str(delivery.status)


@task()
def deliver_webhook(delivery_id: int) -> str:
    """The task that sends one webhook delivery (at least once: `deliver` is idempotent)."""
    with origin("job"):
        return deliver(delivery_id)
