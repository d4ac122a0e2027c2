"""Per-account throttling of dispatch: a token bucket per account in the database (SendBucket), refilled
at the account's send rate, holding at most one second of burst.

A message that finds no token is not bounced around until one happens to be free: it takes the next
token due (the bucket goes below zero) and is given that time as its turn (`Message.next_attempt_at`).
So a burst of N messages is spread over N / rate seconds with one look at the bucket each, and a
message that comes back at its turn goes out without taking a second token."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.conf import settings

from kontor.messaging.models import SendBucket, SendRate

if TYPE_CHECKING:
    from kontor.tenancy.models import Account


def default_rate() -> int:
    return max(1, int(getattr(settings, "KONTOR_DEFAULT_SEND_RATE", 50)))


def rate_for(account: Account | int) -> int:
    """Messages per second the account may hand to the connector."""
    account_id = account if isinstance(account, int) else account.pk
    override = SendRate.objects.filter(account_id=account_id).values_list("messages_per_second", flat=True).first()
    return int(override) if override else default_rate()


def _locked_bucket(account_id: int, rate: int, now: dt.datetime) -> SendBucket:
    bucket: SendBucket | None = SendBucket.objects.select_for_update().filter(account_id=account_id).first()
    if bucket is None:
        # A concurrent first dispatch may create it too: whoever loses the insert locks the winner's row.
        SendBucket.objects.bulk_create(
            [SendBucket(account_id=account_id, tokens=float(rate), updated_at=now)], ignore_conflicts=True
        )
        bucket = SendBucket.objects.select_for_update().get(account_id=account_id)
    return bucket


def take(account_id: int, now: dt.datetime) -> dt.datetime | None:
    """Take a token for one message of the account: None when it may go now, else the time its turn is
    due (the token is then already its own). Call inside the dispatch transaction: the bucket stays
    locked until it commits."""
    rate = rate_for(account_id)
    bucket = _locked_bucket(account_id, rate, now)
    elapsed = max(0.0, (now - bucket.updated_at).total_seconds())  # a clock that steps back refills nothing
    tokens = min(float(rate), bucket.tokens + elapsed * rate)
    turn = None if tokens >= 1 else now + dt.timedelta(seconds=(1 - tokens) / rate)
    bucket.tokens = tokens - 1
    bucket.updated_at = max(now, bucket.updated_at)
    bucket.save(update_fields=["tokens", "updated_at"])
    return turn
