"""Delivery reports (DLRs) that arrived before the acceptance they report on."""

from __future__ import annotations

from typing import ClassVar

from django.db import models


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
