"""Staff writes that have no home in a lower app because they act for the provider on a customer."""

from __future__ import annotations

from django.db import transaction

from kontor.access.models import User
from kontor.audit.services import record
from kontor.core.errors import Forbidden, Invalid
from kontor.core.mail import send_on_commit
from kontor.tenancy.models import Customer

MAX_REASON = 200


def master_emails(customer: Customer) -> list[str]:
    """The active master users of `customer`: who must hear about changes to its security."""
    users = User.objects.filter(customer=customer, is_master=True, is_active=True).order_by("email")
    return list(users.values_list("email", flat=True))


@transaction.atomic
def clear_ip_allowlist(customer: Customer, *, actor: User, reason: str = "") -> Customer:
    """Empty the customer's IP allowlist, so that its users can sign in from any address again.

    This lifts a lock-out: a customer that saved a list leaving out its own address cannot sign in to
    fix it. The customer's master users are told by mail, because a provider changing a customer's
    security must never go unnoticed; nothing is sent if the transaction rolls back."""
    if not actor.is_staff:
        raise Forbidden("Only provider staff can clear a customer's IP allowlist.")
    reason = " ".join((reason or "").split())
    if len(reason) > MAX_REASON:
        raise Invalid.field("reason", f"At most {MAX_REASON} characters.")
    # Locked so that a customer saving its list at the same moment is not silently overwritten.
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    before = list(locked.ip_allowlist or [])
    if not before:
        customer.ip_allowlist = []
        return customer
    locked.ip_allowlist = []
    locked.save(update_fields=["ip_allowlist", "updated_at"])
    customer.ip_allowlist = []
    record(
        "customer.ip_allowlist_cleared",
        locked,
        actor=actor,
        customer=locked,
        before={"ip_allowlist": before},
        after={"ip_allowlist": [], "reason": reason},
    )
    to = master_emails(locked)
    if to:
        send_on_commit(
            "staff/mail/allowlist_cleared",
            {"customer": locked, "before": before, "reason": reason, "actor": actor},
            to,
        )
    return customer
