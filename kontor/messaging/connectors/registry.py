"""The connector factory. Connectors hand outbound messages to a network (SMPP, HTTP) or to the built-in
simulator.

A connector's `submit` answers synchronously whether the message was accepted downstream. It raises
ConnectionError (or OSError/TimeoutError) when the connection is down: the message then stays queued and
is retried, never lost. After the acceptance is committed, dispatch calls the connector's optional
`follow_up(message)` (the simulator schedules its delivery report there, so a report can never
arrive before the acceptance it reports on is stored).

Every submit carries the message's `reference` ("message:<id>") as the client reference, and a connector
must dedupe on it: a message whose worker died after marking it submitted is submitted again by the
sweep, and must not be sent twice. A connector that can answer "did you get this one?" implements the
optional `lookup(message)` (see `Lookup`): a SubmitResult if it knows the message, ABSENT if it is sure
it never got it, None if it cannot tell (then the connector's resubmission policy decides).

Which connector: provider staff configure connectors (ConnectorConfig: simulator, SMPP or HTTP) and
choose one per account (AccountRoute); an account without a choice uses the default connector, and with
no default, settings.KONTOR_CONNECTOR ("simulator"). A chosen connector that is disabled, not available
in this process (SMPP without its module) or misconfigured is never replaced by another one: it stands in
as a `HeldConnector` whose submit raises ConnectionError, so the account's messages wait in the queue,
with the reason in their events, until staff enable or fix it (or route the account elsewhere).

Instances are built once per process and configuration: the configuration row is read for every
resolution (one query), and the cache, keyed by its primary key, keeps the instance while its kind,
options and secrets are unchanged; a change builds a new instance on the next message (the old one is
closed when it has a `close()`, e.g. an SMPP bind). Editing the description, the default flag or the
routes rebuilds nothing."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from kontor.core.errors import DomainError
from kontor.messaging.connectors import kinds
from kontor.messaging.connectors.base import BUILTIN, Connector, HeldConnector
from kontor.messaging.connectors.http import HttpConnector
from kontor.messaging.connectors.simulator import SimulatorConnector
from kontor.messaging.models import AccountRoute, ConnectorConfig

if TYPE_CHECKING:
    from kontor.tenancy.models import Account

log = logging.getLogger(__name__)


_lock = threading.Lock()
_instances: dict[int, tuple[str, Connector]] = {}
_builtin: Connector | None = None


def _simulator(name: str = BUILTIN) -> Connector:
    connector = SimulatorConnector()
    connector.name = name
    return connector


def _builtin_simulator() -> Connector:
    global _builtin
    with _lock:
        if _builtin is None:
            _builtin = _simulator()
        return _builtin


def _construct(config: ConnectorConfig) -> Connector:
    options: dict[str, Any] = {**kinds.effective(config.kind, config.options or {}), **(config.secrets or {})}
    if config.kind == "simulator":
        return _simulator(config.name)
    if config.kind == "http":
        return HttpConnector(config.name, options)
    if config.kind == "smpp":
        reason = kinds.unavailable("smpp")
        if reason:
            return HeldConnector(config.name, reason)
        # Imported only where SMPP can run (kinds.unavailable says why not): it needs smpplib.
        from kontor.messaging.connectors.smpp import SmppConnector  # type: ignore[import-not-found,unused-ignore]

        return SmppConnector(config.name, options)  # type: ignore[no-any-return,unused-ignore]
    return HeldConnector(config.name, f"The connector “{config.name}” is of an unknown kind “{config.kind}”.")


def _fingerprint(config: ConnectorConfig) -> str:
    material = json.dumps([config.kind, config.options, config.secrets], sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


def _close(connector: Connector | None) -> None:
    close = getattr(connector, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:  # closing an old session must not stop the new one
        log.exception("closing connector %s failed", getattr(connector, "name", "?"))


def build(config: ConnectorConfig) -> Connector:
    """The connector instance of a configuration, from the per-process cache while it is unchanged."""
    if not config.enabled:
        with _lock:
            dropped = _instances.pop(config.pk, None)
        _close(dropped[1] if dropped else None)
        return HeldConnector(
            config.name,
            f"The connector “{config.name}” is disabled; its messages wait in the queue until it is enabled.",
        )
    stamp = _fingerprint(config)
    with _lock:
        cached = _instances.get(config.pk)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    # Built outside the lock: building an SMPP connector may unbind the old session, which takes time.
    try:
        instance = _construct(config)
    except (DomainError, ValueError, TypeError, ImportError) as exc:
        reason = getattr(exc, "message", None) or str(exc)
        log.warning("connector %s cannot be built: %s", config.name, reason)
        return HeldConnector(config.name, f"The connector “{config.name}” is misconfigured: {reason}")
    with _lock:
        current = _instances.get(config.pk)
        if current is not None and current[0] == stamp:
            return current[1]  # another thread built the same one meanwhile; ours is dropped (never used)
        _instances[config.pk] = (stamp, instance)
    _close(current[1] if current is not None else None)
    return instance


def forget_instances() -> None:
    """Close and drop every cached instance (tests, and a worker shutting down)."""
    with _lock:
        dropped = [instance for _, instance in _instances.values()]
        _instances.clear()
    for instance in dropped:
        _close(instance)


def get_connector(name: str) -> Connector:
    """The connector configured under `name` (what a message records as its connector); "simulator"
    is the built-in simulator unless a configuration takes that name. KeyError for any other name."""
    config = ConnectorConfig.objects.filter(name=name).first()
    if config is not None:
        return build(config)
    if name == BUILTIN:
        return _builtin_simulator()
    raise KeyError(name)


def _fallback() -> Connector:
    name = getattr(settings, "KONTOR_CONNECTOR", BUILTIN) or BUILTIN
    try:
        return get_connector(name)
    except KeyError:
        return _builtin_simulator()


def connector_for(account: Account) -> Connector:
    """The connector an account's traffic goes through: its route, else the default, else the
    fallback (see the module docstring); one query."""
    routed = AccountRoute.objects.filter(account_id=account.pk, connector_id=OuterRef("pk"))
    rows = (
        ConnectorConfig.objects.annotate(routed=Exists(routed))
        .filter(Q(routed=True) | Q(is_default=True))
        .order_by("-routed")[:1]
    )
    config = next(iter(rows), None)
    return build(config) if config is not None else _fallback()
