"""An account's webhook and its delivery log."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from kontor.core.models import AccountModel
from kontor.messaging.models.messages import Message


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
