"""Messages (the transactions of manual 003), their status history, and the provider's rate card.

Messages will grow fastest of all tables; at scale `messaging_message` is meant to be partitioned by
month on `created_at` (PostgreSQL declarative partitioning), which is why every lookup the pages make
carries the customer and a time range or a number. Not done yet: see docs."""

from __future__ import annotations

from typing import ClassVar

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from kontor.core.models import AccountModel, TimeStamped

prefix_validator = RegexValidator(
    r"^[0-9]{0,15}$", "Digits only, country code first (e.g. 46 or 4670); empty: default."
)


class RateCardEntry(TimeStamped):
    """Credits per segment for destinations starting with `prefix` (longest prefix wins; "" is the
    default for anything else). Provider catalogue: the same for every customer."""

    prefix = models.CharField(max_length=15, unique=True, blank=True, validators=[prefix_validator])
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2, informational")
    operator = models.CharField(max_length=100, blank=True)
    credits_per_segment = models.PositiveIntegerField(default=1)

    objects: ClassVar[models.Manager[RateCardEntry]] = models.Manager()

    class Meta:
        ordering = ["prefix"]
        verbose_name = "rate card entry"
        verbose_name_plural = "rate card entries"
        constraints = [
            models.CheckConstraint(condition=Q(credits_per_segment__gte=1), name="rate_credits_positive"),
        ]

    def __str__(self) -> str:
        return f"+{self.prefix}" if self.prefix else "Default (any destination)"


class Direction(models.TextChoices):
    OUT = "out", "Outbound"
    IN = "in", "Inbound"


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    SCHEDULED = "scheduled", "Scheduled"
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    REJECTED = "rejected", "Rejected"
    RECEIVED = "received", "Received"


FINAL = frozenset({Status.DELIVERED, Status.FAILED, Status.EXPIRED, Status.REJECTED, Status.RECEIVED})


class Message(AccountModel):
    """One SMS, outbound or inbound. Credits are reserved when it is created (`credits` from `wallet`),
    settled when a connector accepts it, released if it is refused at submit, refunded if it fails
    after acceptance."""

    direction = models.CharField(max_length=3, choices=Direction.choices, default=Direction.OUT)
    user = models.ForeignKey(
        "access.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The sender"
    )
    on_behalf_of = models.ForeignKey("access.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    from_number = models.CharField(max_length=20)
    to_number = models.CharField(max_length=20)
    text = models.TextField()
    encoding = models.CharField(max_length=4)
    segments = models.PositiveSmallIntegerField(default=1)
    credits = models.PositiveIntegerField(default=0)
    wallet = models.ForeignKey("ledger.Wallet", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    rate_prefix = models.CharField(max_length=15, blank=True)
    operator = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error_code = models.CharField(max_length=32, blank=True)
    error_text = models.CharField(max_length=300, blank=True)
    connector = models.CharField(max_length=40, blank=True)
    downstream_id = models.CharField(max_length=100, blank=True)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)
    keyword = models.CharField(max_length=20, blank=True, help_text="Inbound: the keyword that routed it")
    # Set when the account's send rate held it back: it already holds the token due then (delivery.dispatch).
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "to_number"], name="message_customer_to"),
            models.Index(fields=["account", "created_at"], name="message_account_created"),
            models.Index(fields=["status"], name="message_status"),
            models.Index(fields=["downstream_id"], name="message_downstream"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="message_idempotency_key_unique",
            ),
            # A connector that redelivers an inbound message must not create a second one.
            models.UniqueConstraint(
                fields=["connector", "downstream_id"],
                condition=Q(direction="in") & ~Q(downstream_id=""),
                name="message_inbound_downstream_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"Message {self.pk} to {self.to_number}"

    @property
    def reference(self) -> str:
        """What the ledger journals of this message carry as their reference."""
        return f"message:{self.pk}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL


class MessageEvent(models.Model):
    """One status change of a message, with its time (the troubleshooting trail)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=10, choices=Status.choices)
    at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class Campaign(AccountModel):
    """One templated send to a phonebook or a list of numbers; its messages carry `campaign_id`."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        REFUSED = "refused", "Refused"

    name = models.CharField(max_length=120)
    text = models.TextField()
    phonebook = models.ForeignKey(
        "contacts.Phonebook", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipients_count = models.PositiveIntegerField(default=0)
    segments_total = models.PositiveIntegerField(default=0)
    credits_total = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey("access.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "created_at"], name="campaign_account_created")]

    def __str__(self) -> str:
        return self.name


class InboundRejection(models.Model):
    """An inbound message nobody receives (unknown number, not two-way, no owner) or that a connector
    sent garbage for. Provider-level, not a tenant's: the provider looks here to see what was dropped."""

    class Reason(models.TextChoices):
        UNKNOWN_NUMBER = "unknown_number", "Unknown number"
        NOT_TWO_WAY = "not_two_way", "Number not two-way"
        NO_OWNER = "no_owner", "Nobody receives it"
        BAD_SENDER = "bad_sender", "Sender is not a phone number"
        BAD_TEXT = "bad_text", "Text not acceptable"

    to_number = models.CharField(max_length=40)
    from_number = models.CharField(max_length=40)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    text = models.CharField(max_length=160, blank=True, help_text="The first 160 characters")
    connector = models.CharField(max_length=40, blank=True)
    downstream_id = models.CharField(max_length=100, blank=True)
    at = models.DateTimeField()

    objects: ClassVar[models.Manager[InboundRejection]] = models.Manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["connector", "downstream_id"], name="inbound_rejection_downstream")]
        constraints = [
            # A redelivered message that is rejected again is the same rejection (as for messages).
            models.UniqueConstraint(
                fields=["connector", "downstream_id"],
                condition=~Q(downstream_id=""),
                name="inbound_rejection_downstream_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason}: {self.from_number} → {self.to_number}"


class PendingDlr(models.Model):
    """A delivery report that arrived before the acceptance it reports on was stored (the downstream
    id is only known once the submit answer is committed). Applied when the message is accepted;
    pruned after a week. Provider-level: the downstream id is all a report carries."""

    downstream_id = models.CharField(max_length=100)
    status = models.CharField(max_length=10)
    error_code = models.CharField(max_length=32, blank=True)
    error_text = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField()

    objects: ClassVar[models.Manager[PendingDlr]] = models.Manager()

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            # A connector that repeats a report must not queue it twice.
            models.UniqueConstraint(fields=["downstream_id", "status"], name="pending_dlr_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.status} for {self.downstream_id}"


class InboundPartial(models.Model):
    """The parts of a long (concatenated) inbound message received so far, kept in the database so a
    restart loses none: assembled and deleted when the last one arrives, dropped when it never does
    (kontor.messaging.inbound). Provider-level: nobody's message until it is whole and routed."""

    connector = models.CharField(max_length=40)
    from_number = models.CharField(max_length=40)
    to_number = models.CharField(max_length=40)
    reference = models.PositiveIntegerField()
    total = models.PositiveSmallIntegerField()
    parts = models.JSONField(default=dict, help_text="Sequence number (as text) → the part's text")
    started_at = models.DateTimeField()

    objects: ClassVar[models.Manager[InboundPartial]] = models.Manager()

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "from_number", "to_number", "reference", "total"], name="inbound_partial_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{len(self.parts)} of {self.total} parts from {self.from_number}"


class Webhook(AccountModel):
    """Where an account's inbound messages are POSTed (one per account). `secret` signs every body so
    the receiver can tell the request came from us."""

    url = models.CharField(max_length=500)
    secret = models.CharField(max_length=64)
    active = models.BooleanField(default=True)
    events = models.CharField(max_length=100, default="inbound", help_text="Comma-separated: inbound")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account"], name="webhook_one_per_account")]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(AccountModel):
    """One event for one webhook and every attempt to hand it over (the delivery log)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    event = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    attempts = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["account", "created_at"], name="webhook_delivery_account"),
        ]
        constraints = [
            # An inbound message handled twice (a redelivered task) is still one event for the receiver.
            models.UniqueConstraint(
                fields=["webhook", "message", "event"],
                condition=Q(message__isnull=False),
                name="webhook_delivery_once_per_message",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.pk}"


MAX_SEND_RATE = 10_000


class SendRate(AccountModel):
    """The provider's override of KONTOR_DEFAULT_SEND_RATE for one account: how many of its messages per
    second are handed to the connector (set by staff with `services.set_send_rate`)."""

    messages_per_second = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account"], name="send_rate_one_per_account"),
            models.CheckConstraint(
                condition=Q(messages_per_second__gte=1) & Q(messages_per_second__lte=MAX_SEND_RATE),
                name="send_rate_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.messages_per_second}/s"


class SendBucket(models.Model):
    """The token bucket that throttles one account's dispatch (kontor.messaging.throttle). Tokens go
    negative when messages are given a later turn; a worker's bookkeeping, not a tenant's record."""

    account = models.OneToOneField("tenancy.Account", on_delete=models.CASCADE, related_name="+")
    tokens = models.FloatField()
    updated_at = models.DateTimeField()

    objects: ClassVar[models.Manager[SendBucket]] = models.Manager()

    def __str__(self) -> str:
        return f"{self.tokens:.2f} tokens for account {self.account_id}"


# Connector configurations and the per-account choice live in their own module; imported here so that
# Django finds them as models of this app.
from kontor.messaging.models_connectors import AccountRoute as AccountRoute  # noqa: E402
from kontor.messaging.models_connectors import ConnectorConfig as ConnectorConfig  # noqa: E402
from kontor.messaging.models_connectors import ConnectorKind as ConnectorKind  # noqa: E402
from kontor.messaging.models_connectors import ResubmitPolicy as ResubmitPolicy  # noqa: E402
