"""POST /messages/inbound: where providers and HTTP connectors deliver inbound (MO) messages.

Provider-level, not a customer's operation: it is authenticated by the shared secret in
KONTOR_INBOUND_TOKEN (`Authorization: Bearer <token>`), never by a customer's API key or session,
and it is switched off (404) while that setting is empty."""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.security import HttpBearer

from kontor.api.permissions import public
from kontor.api.schemas import Input, errors
from kontor.core.errors import DomainError, ErrorCode
from kontor.messaging.delivery.inbound import MAX_TEXT, receive_inbound

router = Router(tags=["inbound"])

CONNECTOR = "http"


class InboundDisabled(DomainError):
    status = 404
    code = ErrorCode.NOT_FOUND


class InboundTokenRefused(DomainError):
    status = 401
    code = ErrorCode.NOT_AUTHENTICATED


def inbound_token() -> str:
    return str(getattr(settings, "KONTOR_INBOUND_TOKEN", "") or "")


class InboundTokenAuth(HttpBearer):
    """The provider's shared secret; compared in constant time."""

    openapi_name = "InboundToken"

    def __call__(self, request: HttpRequest) -> Any:
        if not inbound_token():
            raise InboundDisabled("Inbound delivery is not enabled on this server (KONTOR_INBOUND_TOKEN is empty).")
        result = super().__call__(request)
        if not result:
            raise InboundTokenRefused("Send the inbound token as `Authorization: Bearer <token>`.")
        return result

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        expected = inbound_token()
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return "inbound"
        return None


class InboundIn(Input):
    from_: str = Field(..., alias="from", min_length=1, max_length=40, description="The sender's mobile number.")
    to: str = Field(..., min_length=1, max_length=40, description="Our number it was sent to (E.164 or short code).")
    text: str = Field(..., max_length=MAX_TEXT)
    id: str | None = Field(
        None, max_length=100, description="The connector's id of the message: a redelivery with the same id is ignored."
    )


class InboundOut(Schema):
    routed: bool
    account_id: int | None = Field(..., description="The account whose inbox received it; null when rejected.")
    reason: str = Field(
        ...,
        description="keyword, dedicated or unmatched_owner when routed; unknown_number, not_two_way, no_owner, "
        "bad_sender or bad_text when rejected (the rejection is logged for the provider).",
    )
    duplicate: bool = Field(..., description="The same `id` was delivered before; nothing new was stored.")


@router.post(
    "/inbound",
    auth=InboundTokenAuth(),
    response={200: InboundOut, **errors(404)},
    operation_id="receive_inbound_message",
    description="For providers and connectors, not customers: deliver one inbound (MO) message. It is routed "
    "by number and keyword to an account's inbox, or logged as a rejection; either way the answer is 200 "
    "(a rejection is not the connector's fault to retry). 404 while inbound delivery is not enabled.",
)
@public("a provider or connector, authenticated by the inbound token (InboundTokenAuth)")
def receive_inbound_message(request: HttpRequest, payload: InboundIn) -> dict[str, Any]:
    result = receive_inbound(
        from_number=payload.from_,
        to=payload.to,
        text=payload.text,
        connector=CONNECTOR,
        downstream_id=payload.id or "",
    )
    return {
        "routed": result.routed,
        "account_id": result.account_id,
        "reason": result.reason,
        "duplicate": result.duplicate,
    }
