"""The provider's rate card: credits per segment by destination prefix (prices, not throughput: the
send rate is models/sendrate.py)."""

from __future__ import annotations

from typing import ClassVar

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from kontor.core.models import TimeStamped

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
