"""Staff change an account's send rate (throughput, audited); the token bucket that enforces it is
rules/sendrate.py, the reads of the staff pages selectors/sendrate.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from kontor.access.perms import Perm
from kontor.audit.services import record
from kontor.core.errors import Forbidden, Invalid
from kontor.messaging.models import MAX_SEND_RATE, SendRate
from kontor.messaging.rules.sendrate import rate_for

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.tenancy.models import Account


def set_send_rate(account: Account, rate: int, *, actor: User) -> SendRate:
    """Staff: how many of the account's messages per second go to the connector (1 to 10,000)."""
    if Perm.STAFF_MANAGE_CUSTOMERS not in actor.staff_perms:
        raise Forbidden("Only provider staff who manage customers set an account's send rate.")
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= MAX_SEND_RATE:
        raise Invalid.field("messages_per_second", f"Give a whole number from 1 to {MAX_SEND_RATE:,}.")
    with transaction.atomic():
        before = rate_for(account)
        send_rate, _ = SendRate.objects.update_or_create(
            account=account, defaults={"customer_id": account.customer_id, "messages_per_second": rate}
        )
        record(
            "send_rate.set",
            send_rate,
            actor=actor,
            customer=account.customer_id,
            account_id=account.pk,
            before={"messages_per_second": before},
            after={"messages_per_second": rate},
        )
    return send_rate
