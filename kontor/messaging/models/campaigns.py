"""Campaigns: one templated message to a phonebook or a list of numbers."""

from __future__ import annotations

from django.db import models

from kontor.core.models import AccountModel


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
