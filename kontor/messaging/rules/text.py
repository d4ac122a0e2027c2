"""Pure rules of sending: how long a message may be, and what an opted-out number is told. No database,
no other module of messaging: everything else builds on these."""

from __future__ import annotations

from django.conf import settings

MAX_TEXT = 5000  # characters; the segment limit is usually reached long before


def max_segments() -> int:
    return int(getattr(settings, "KONTOR_MAX_SEGMENTS", 6))


def opted_out_message(number: str) -> str:
    return f"{number} has opted out of messages from this account."
