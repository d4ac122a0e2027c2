"""Inbound (MO) messages on their way in: the rejections nobody receives and the parts of a
concatenated message waiting for the rest."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q


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


class InboundPartial(models.Model):
    """The parts of a long (concatenated) inbound message received so far, kept in the database so a
    restart loses none: assembled and deleted when the last one arrives, dropped when it never does
    (kontor.messaging.delivery.inbound). Provider-level: nobody's message until it is whole and routed."""

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
