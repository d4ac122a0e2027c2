"""The send rate (throughput, not prices: the rate card is models/ratecard.py): the provider's override
of an account's messages per second, and the token bucket that enforces it."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q

from kontor.core.models import AccountModel

MAX_SEND_RATE = 10_000


class SendRate(AccountModel):
    """The provider's override of KONTOR_DEFAULT_SEND_RATE for one account: how many of its messages per
    second are handed to the connector (set by staff with `services.sendrate.set_send_rate`)."""

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
    """The token bucket that throttles one account's dispatch (kontor.messaging.rules.sendrate). Tokens go
    negative when messages are given a later turn; a worker's bookkeeping, not a tenant's record."""

    account = models.OneToOneField("tenancy.Account", on_delete=models.CASCADE, related_name="+")
    tokens = models.FloatField()
    updated_at = models.DateTimeField()

    objects: ClassVar[models.Manager[SendBucket]] = models.Manager()

    def __str__(self) -> str:
        return f"{self.tokens:.2f} tokens for account {self.account_id}"
