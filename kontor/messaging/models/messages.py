"""Messages (the transactions of manual 003) and their status history.

Messages will grow fastest of all tables; at scale `messaging_message` is meant to be partitioned by
month on `created_at` (PostgreSQL declarative partitioning), which is why every lookup the pages make
carries the customer and a time range or a number. Not done yet: see docs."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from kontor.core.models import AccountModel


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
