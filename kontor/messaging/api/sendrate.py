"""Provider staff API of messaging, under `/api/v1/staff/`: an account's send rate. The account is
looked up inside the customer of the path, so another customer's account id answers 404."""

from __future__ import annotations

from typing import Any

from ninja import Field, Router, Schema

from kontor.access.perms import Perm
from kontor.access.requests import StaffRequest
from kontor.api.permissions import requires_staff
from kontor.api.schemas import Input, errors
from kontor.messaging.models import MAX_SEND_RATE
from kontor.messaging.selectors.sendrate import SendRateView, send_rate_of, staff_account
from kontor.messaging.services.sendrate import set_send_rate

router = Router(tags=["staff"])


class StaffSendRateOut(Schema):
    customer_id: int
    account_id: int
    messages_per_second: int
    is_default: bool = Field(..., description="True: no rate set for the account, the provider's default applies.")
    default: int = Field(..., description="The provider's default send rate (KONTOR_DEFAULT_SEND_RATE).")


class StaffSendRateIn(Input):
    messages_per_second: int = Field(..., strict=True, description=f"A whole number from 1 to {MAX_SEND_RATE:,}.")


def _out(rate: SendRateView) -> dict[str, Any]:
    return {
        "customer_id": rate.account.customer_id,
        "account_id": rate.account.pk,
        "messages_per_second": rate.messages_per_second,
        "is_default": rate.is_default,
        "default": rate.default,
    }


@router.get(
    "/customers/{int:customer_id}/accounts/{int:account_id}/send-rate",
    response={200: StaffSendRateOut, **errors(404)},
    operation_id="staff_get_send_rate",
)
@requires_staff(Perm.STAFF_VIEW_CUSTOMERS)
def get_send_rate(request: StaffRequest, customer_id: int, account_id: int) -> dict[str, Any]:
    """How many of the account's messages per second are handed to the connector."""
    actor = request.user
    return _out(send_rate_of(actor, staff_account(actor, customer_id, account_id)))


@router.put(
    "/customers/{int:customer_id}/accounts/{int:account_id}/send-rate",
    response={200: StaffSendRateOut, **errors(404)},
    operation_id="staff_set_send_rate",
)
@requires_staff(Perm.STAFF_VIEW_CUSTOMERS, Perm.STAFF_MANAGE_CUSTOMERS)
def put_send_rate(request: StaffRequest, customer_id: int, account_id: int, payload: StaffSendRateIn) -> dict[str, Any]:
    """Set the account's send rate (1 to 10,000 messages per second); audited as `send_rate.set`."""
    actor = request.user
    account = staff_account(actor, customer_id, account_id)
    set_send_rate(account, payload.messages_per_second, actor=actor)
    return _out(send_rate_of(actor, account))
