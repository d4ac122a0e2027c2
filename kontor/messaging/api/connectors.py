"""/staff/connectors: provider staff configure connectors and choose one per account (sessions of staff
with the permission in services/connectors.py, MANAGE; API keys belong to customers and are refused).
Secrets are write-only: answers say only "set" or "not set"."""

from __future__ import annotations

from typing import Any, Literal

from django.urls import reverse
from ninja import Field, Query, Router, Schema, Status

from kontor.access.requests import StaffRequest
from kontor.access.selectors import staff_scope
from kontor.api.permissions import requires_staff
from kontor.api.schemas import Input, Page, PageQuery, errors, page
from kontor.core.errors import Invalid
from kontor.messaging.connectors import kinds
from kontor.messaging.models import ConnectorConfig
from kontor.messaging.selectors import connectors as selectors
from kontor.messaging.services.connectors import MANAGE, UNSET, create_connector, route_account, update_connector
from kontor.tenancy.models import Account

router = Router(tags=["staff", "connectors"])

SecretState = Literal["set", "not set"]
Policy = Literal["resubmit", "fail"]
POLICY_HELP = (
    "When a message's submission was cut off (its worker died) and the connector cannot say whether it has "
    "it: `resubmit` submits it again (risk: the recipient gets it twice), `fail` fails it and returns the "
    "credits (risk: it is never sent)."
)


class ConnectorOut(Schema):
    id: int
    name: str
    kind: str
    description: str
    enabled: bool
    is_default: bool
    resubmit_policy: Policy = Field(..., description=POLICY_HELP)
    options: dict[str, Any] = Field(..., description="As stored; options not set take their default.")
    secrets: dict[str, SecretState] = Field(..., description="Each secret of the kind, and whether it is set.")
    available: bool = Field(..., description="False when this server cannot run the kind (SMPP without its module).")
    unavailable_reason: str
    accounts_routed: int
    dlr_path: str | None = Field(..., description="HTTP connectors: where the provider POSTs delivery reports.")


class ConnectorCreateIn(Input):
    name: str = Field(
        ...,
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",  # as connectors.kinds.valid_name checks it
        description="Lower-case letters, digits, dashes (at most 40, starting with a letter or digit); never changes.",
    )
    kind: Literal["simulator", "smpp", "http"]
    description: str = Field("", max_length=1000)
    enabled: bool = True
    is_default: bool = False
    resubmit_policy: Policy = Field("fail", description=POLICY_HELP)
    options: dict[str, Any] = Field(default_factory=dict, description="Per kind; unknown names are refused.")
    secrets: dict[str, str | None] = Field(default_factory=dict, description="Write-only: a text sets one.")


class ConnectorUpdateIn(Input):
    description: str | None = Field(None, max_length=1000)
    enabled: bool | None = None
    is_default: bool | None = None
    resubmit_policy: Policy | None = Field(None, description=POLICY_HELP)
    options: dict[str, Any] | None = Field(None, description="Replaces all options.")
    secrets: dict[str, str | None] | None = Field(
        None, description="A text sets a secret, null clears it, a secret left out is kept."
    )


class AccountConnectorOut(Schema):
    account_id: int
    account_name: str
    customer_id: int
    subscriber_id: str
    connector: str | None = Field(..., description="Chosen for this account; null: the provider's default.")
    effective: str = Field(..., description="The connector its messages go through now.")


class AccountConnectorIn(Input):
    connector: str | None = Field(..., max_length=100, description="A connector's name; null: the default.")


def _out(config: ConnectorConfig) -> dict[str, Any]:
    state = config.secret_state()
    reason = kinds.unavailable(config.kind)
    return {
        "id": config.pk,
        "name": config.name,
        "kind": config.kind,
        "description": config.description,
        "enabled": config.enabled,
        "is_default": config.is_default,
        "resubmit_policy": config.resubmit_policy,
        "options": dict(config.options or {}),
        "secrets": {s.name: state.get(s.name, "not set") for s in kinds.spec(config.kind).secrets},
        "available": not reason,
        "unavailable_reason": reason,
        "accounts_routed": getattr(config, "route_count", 0),
        "dlr_path": reverse("api:connector_dlr", args=[config.name]) if config.kind == "http" else None,
    }


def _route_out(row: selectors.AccountConnector) -> dict[str, Any]:
    account: Account = row.account
    return {
        "account_id": account.pk,
        "account_name": account.name,
        "customer_id": account.customer_id,
        "subscriber_id": account.customer.subscriber_id,
        "connector": row.connector.name if row.connector is not None else None,
        "effective": row.effective,
    }


@router.get("", response={200: Page[ConnectorOut], **errors()}, operation_id="staff_list_connectors")
@requires_staff(MANAGE)
def staff_list_connectors(request: StaffRequest, query: Query[PageQuery]) -> dict[str, Any]:
    return page(selectors.connectors(), query, _out)


@router.post("", response={201: ConnectorOut, **errors()}, operation_id="staff_create_connector")
@requires_staff(MANAGE)
def staff_create_connector(request: StaffRequest, payload: ConnectorCreateIn) -> Status[dict[str, Any]]:
    actor = request.user
    config = create_connector(actor=actor, **payload.model_dump())
    return Status(201, _out(selectors.connector_for_staff(config.pk)))


@router.get("/{int:connector_id}", response={200: ConnectorOut, **errors(404)}, operation_id="staff_get_connector")
@requires_staff(MANAGE)
def staff_get_connector(request: StaffRequest, connector_id: int) -> dict[str, Any]:
    return _out(selectors.connector_for_staff(connector_id))


@router.patch(
    "/{int:connector_id}", response={200: ConnectorOut, **errors(404, 409)}, operation_id="staff_update_connector"
)
@requires_staff(MANAGE)
def staff_update_connector(request: StaffRequest, connector_id: int, payload: ConnectorUpdateIn) -> dict[str, Any]:
    """Change what the body names. `enabled: false` holds the traffic of the accounts that use it in the
    queue; `is_default: true` takes the default from the connector that had it."""
    actor = request.user
    config = selectors.connector_for_staff(connector_id)
    given = payload.model_fields_set
    changes: dict[str, Any] = {}
    for name in ("description", "enabled", "is_default", "resubmit_policy", "options"):
        value = getattr(payload, name)
        if name in given and value is None:
            raise Invalid.field(name, "Leave it out to keep it; it cannot be null.")
        changes[name] = value if name in given else UNSET
    update_connector(config, actor=actor, secrets=payload.secrets, **changes)
    return _out(selectors.connector_for_staff(connector_id))


@router.get(
    "/{int:connector_id}/accounts",
    response={200: Page[AccountConnectorOut], **errors(404)},
    operation_id="staff_list_connector_accounts",
)
@requires_staff(MANAGE)
def staff_list_connector_accounts(request: StaffRequest, connector_id: int, query: Query[PageQuery]) -> dict[str, Any]:
    """The accounts routed to this connector (not those that use it as the default)."""
    config = selectors.connector_for_staff(connector_id)
    rows = selectors.routed_accounts(config, limit=query.offset + query.limit)[query.offset :]
    return {
        "items": [_route_out(selectors.AccountConnector(a, config, config.name)) for a in rows],
        "count": getattr(config, "route_count", 0),
        "limit": query.limit,
        "offset": query.offset,
    }


@router.get(
    "/customers/{int:customer_id}/accounts",
    response={200: list[AccountConnectorOut], **errors(404)},
    operation_id="staff_list_account_connectors",
)
@requires_staff(MANAGE)
def staff_list_account_connectors(request: StaffRequest, customer_id: int) -> list[dict[str, Any]]:
    """Every account of the customer and the connector its messages go through."""
    actor = request.user
    scope = staff_scope(actor, selectors.customer_for_staff(customer_id))
    return [_route_out(row) for row in selectors.routes_of(scope)]


@router.get(
    "/customers/{int:customer_id}/accounts/{int:account_id}",
    response={200: AccountConnectorOut, **errors(404)},
    operation_id="staff_get_account_connector",
)
@requires_staff(MANAGE)
def staff_get_account_connector(request: StaffRequest, customer_id: int, account_id: int) -> dict[str, Any]:
    actor = request.user
    return _route_out(selectors.route_of(selectors.account_for_staff(actor, customer_id, account_id)))


@router.put(
    "/customers/{int:customer_id}/accounts/{int:account_id}",
    response={200: AccountConnectorOut, **errors(404)},
    operation_id="staff_set_account_connector",
)
@requires_staff(MANAGE)
def staff_set_account_connector(
    request: StaffRequest, customer_id: int, account_id: int, payload: AccountConnectorIn
) -> dict[str, Any]:
    """Route the account's outbound messages through the named connector (null: the default); audited as
    `connector.route`. A disabled connector may be chosen: the account's messages then wait in the queue
    until it is enabled."""
    actor = request.user
    account = selectors.account_for_staff(actor, customer_id, account_id)
    connector = None
    if payload.connector is not None:
        connector = selectors.connector_named(payload.connector)
        if connector is None:
            raise Invalid.field("connector", f"There is no connector named “{payload.connector[:100]}”.")
    route_account(account, connector, actor=actor)
    return _route_out(selectors.route_of(account))
