"""Provider staff configure connectors and choose one per account. Every change is one transaction
with an audit row; secrets appear in the audit log only as "set"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from kontor.access.perms import Perm
from kontor.audit.services import record
from kontor.core.errors import Conflict, ErrorCode, Forbidden, Invalid
from kontor.messaging.connectors import kinds
from kontor.messaging.models import AccountRoute, ConnectorConfig, ResubmitPolicy

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.tenancy.models import Account

# Like an account's send rate, where its traffic goes is set by the staff who manage customers
# (technical account managers and administrators).
MANAGE = Perm.STAFF_MANAGE_CUSTOMERS
MAX_DESCRIPTION = 200


class _Unset:
    pass


UNSET: Any = _Unset()


def _require(actor: User) -> None:
    if not actor.is_staff or MANAGE not in actor.staff_perms:
        raise Forbidden(f"You need the staff permission “{MANAGE.value}” to configure connectors.")


def snapshot(config: ConnectorConfig) -> dict[str, Any]:
    """What the audit log keeps of a connector: everything but the secrets' values."""
    return {
        "name": config.name,
        "kind": config.kind,
        "description": config.description,
        "enabled": config.enabled,
        "is_default": config.is_default,
        "resubmit_policy": config.resubmit_policy,
        "options": dict(config.options or {}),
        "secrets": config.secret_state(),
    }


def _description(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid.field("description", "Give a text.")
    text = value.strip()
    if len(text) > MAX_DESCRIPTION or kinds.unstorable(text):
        raise Invalid.field("description", f"At most {MAX_DESCRIPTION} characters, on one line.")
    return text


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid.field(name, "Give true or false.")
    return value


def _policy(value: Any) -> str:
    if value not in ResubmitPolicy.values:
        raise Invalid.field("resubmit_policy", f"Choose one of: {', '.join(ResubmitPolicy.values)}.")
    return str(value)


def _take_default(config: ConnectorConfig, actor: User) -> None:
    """Make `config` the only default (inside the caller's transaction)."""
    for other in ConnectorConfig.objects.select_for_update().filter(is_default=True).exclude(pk=config.pk):
        before = snapshot(other)
        other.is_default = False
        other.save(update_fields=["is_default"])  # updated_at untouched: the instance stays as built
        record("connector.update", other, actor=actor, customer=None, before=before, after=snapshot(other))


def create_connector(
    *,
    actor: User,
    name: str,
    kind: str,
    description: str = "",
    enabled: bool = True,
    is_default: bool = False,
    options: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str | None] | None = None,
    resubmit_policy: str = ResubmitPolicy.FAIL,
) -> ConnectorConfig:
    _require(actor)
    name = kinds.valid_name(name)
    kinds.spec(kind)
    if name == kinds.SIMULATOR.kind and kind != kinds.SIMULATOR.kind:
        raise Invalid.field("name", "“simulator” is the built-in simulator's name; choose another one.")
    stored_secrets = kinds.merge_secrets(kind, secrets or {}, {})
    config = ConnectorConfig(
        name=name,
        kind=kind,
        description=_description(description),
        enabled=_flag("enabled", enabled),
        is_default=_flag("is_default", is_default),
        resubmit_policy=_policy(resubmit_policy),
        options=kinds.clean_options(kind, options or {}, stored_secrets),
        secrets=stored_secrets,
    )
    try:
        with transaction.atomic():
            if config.is_default:
                _take_default(config, actor)
            config.save()
            record("connector.create", config, actor=actor, customer=None, after=snapshot(config))
    except IntegrityError:
        if ConnectorConfig.objects.filter(name=name).exists():
            raise Invalid.field(
                "name", f"There is already a connector named “{name}”.", code=ErrorCode.DUPLICATE
            ) from None
        raise Conflict("Another connector was made the default at the same time; try again.") from None
    return config


def update_connector(
    config: ConnectorConfig,
    *,
    actor: User,
    description: Any = UNSET,
    enabled: Any = UNSET,
    is_default: Any = UNSET,
    options: Any = UNSET,
    secrets: Mapping[str, str | None] | None = None,
    resubmit_policy: Any = UNSET,
) -> ConnectorConfig:
    """Change what is given: `options` replaces all options; in `secrets` a text sets one, None clears
    it, and a secret left out is kept. The name and kind never change (messages and the DLR URL carry
    the name). Nothing changed: no audit row, and the built instance is kept."""
    _require(actor)
    try:
        with transaction.atomic():
            locked = ConnectorConfig.objects.select_for_update().get(pk=config.pk)
            before, old_secrets = snapshot(locked), dict(locked.secrets or {})
            if description is not UNSET:
                locked.description = _description(description)
            if enabled is not UNSET:
                locked.enabled = _flag("enabled", enabled)
            if is_default is not UNSET:
                locked.is_default = _flag("is_default", is_default)
            if resubmit_policy is not UNSET:
                locked.resubmit_policy = _policy(resubmit_policy)
            locked.secrets = kinds.merge_secrets(locked.kind, secrets or {}, locked.secrets or {})
            # Options are checked when they or the secrets change; switching a connector off (or on)
            # must work even when its stored options no longer pass.
            if options is not UNSET or locked.secrets != old_secrets:
                raw_options = locked.options if options is UNSET else options
                locked.options = kinds.clean_options(locked.kind, raw_options or {}, locked.secrets)
            after = snapshot(locked)
            if after == before and locked.secrets == old_secrets:
                return locked
            if locked.is_default and not before["is_default"]:
                _take_default(locked, actor)
            locked.save()
            record("connector.update", locked, actor=actor, customer=None, before=before, after=after)
    except IntegrityError:
        raise Conflict("Another connector was made the default at the same time; try again.") from None
    return locked


def set_connector_enabled(config: ConnectorConfig, enabled: bool, *, actor: User) -> ConnectorConfig:
    """Disabling holds the traffic of the accounts that use it in the queue; it is not sent elsewhere."""
    return update_connector(config, actor=actor, enabled=enabled)


def route_account(account: Account, connector: ConnectorConfig | None, *, actor: User) -> AccountRoute | None:
    """Send the account's traffic through `connector`; None: through the provider's default."""
    _require(actor)
    with transaction.atomic():
        current = AccountRoute.objects.select_for_update().select_related("connector").filter(account=account).first()
        before = current.connector.name if current is not None else None
        after = connector.name if connector is not None else None
        if before == after:
            return current
        if connector is None:
            assert current is not None
            current.delete()
            route = None
        elif current is None:
            route = AccountRoute.objects.create(customer_id=account.customer_id, account=account, connector=connector)
        else:
            current.connector = connector
            current.save(update_fields=["connector", "updated_at"])
            route = current
        record(
            "connector.route",
            account,
            actor=actor,
            customer=account.customer_id,
            account_id=account.pk,
            object_type="account",
            before={"connector": before},
            after={"connector": after},
        )
    return route
