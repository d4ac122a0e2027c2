"""Connectors hand outbound messages to a network (SMPP, HTTP) or to the built-in simulator.

A connector's `submit` answers synchronously whether the message was accepted downstream. It raises
ConnectionError (or OSError/TimeoutError) when the connection is down: the message then stays queued and
is retried, never lost. After the acceptance is committed, dispatch calls the connector's optional
`follow_up(message)` (the simulator schedules its delivery report there, so a report can never
arrive before the acceptance it reports on is stored).

Every submit carries the message's `reference` ("message:<id>") as the client reference, and a connector
must dedupe on it: a message whose worker died after marking it submitted is submitted again by the
sweep, and must not be sent twice. A connector that can answer "did you get this one?" implements the
optional `lookup(message)` (see `Lookup`): a SubmitResult if it knows the message, None if it cannot tell."""

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


class Lookup(Protocol):
    """Optional: what the connector answered (or would answer) for a message it was handed before;
    None when it cannot tell. Not part of Connector so that connectors without it stay connectors."""

    def lookup(self, message: Message) -> SubmitResult | None: ...


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
