"""Connectors hand outbound messages to a network (SMPP, HTTP) or to the built-in simulator.

A connector's `submit` answers synchronously whether the message was accepted downstream. It raises
ConnectionError (or OSError/TimeoutError) when the connection is down: the message then stays queued and
is retried, never lost. After the acceptance is committed, dispatch calls the connector's optional
`follow_up(message)` (the simulator schedules its delivery report there, so a report can never
arrive before the acceptance it reports on is stored)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

if TYPE_CHECKING:
    from kontor.messaging.models import Message
    from kontor.tenancy.models import Account


@dataclass(frozen=True)
class SubmitResult:
    accepted: bool
    downstream_id: str = ""
    error_code: str = ""
    error_text: str = ""


class Connector(Protocol):
    name: str

    def submit(self, message: Message) -> SubmitResult: ...


def _registry() -> dict[str, Connector]:
    from kontor.messaging.connectors.simulator import SimulatorConnector

    return {"simulator": SimulatorConnector()}


def get_connector(name: str) -> Connector:
    return _registry()[name]


def connector_for(account: Account) -> Connector:
    """The connector an account's traffic goes through (per-account routing comes with SMPP/HTTP)."""
    name = getattr(settings, "KONTOR_CONNECTOR", "simulator")
    registry = _registry()
    return registry.get(name) or registry["simulator"]
