"""The connector interface: what a connector answers (SubmitResult, ABSENT), what it is (Connector, the
optional Lookup), the stand-in for one that cannot take traffic (HeldConnector), and the sink through
which connectors hand what the network sends back (delivery receipts, inbound messages) to messaging.

Connectors import only this module (and their own helpers): the factory that builds them is
kontor/messaging/connectors/registry.py, and the sink is installed by messaging at start-up
(MessagingConfig.ready, kontor/messaging/delivery/sink.py), so no connector imports the delivery lifecycle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kontor.messaging.models import Message

BUILTIN = "simulator"


@dataclass(frozen=True)
class SubmitResult:
    accepted: bool
    downstream_id: str = ""
    error_code: str = ""
    error_text: str = ""


class Absent:
    """A lookup's answer "I never got this message": submitting it again cannot make a duplicate."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent()


class Connector(Protocol):
    name: str

    def submit(self, message: Message) -> SubmitResult: ...


class Lookup(Protocol):
    """Optional: what the connector answered (or would answer) for a message it was handed before;
    ABSENT when it is sure it was never handed it; None when it cannot tell. Not part of Connector so
    that connectors without it stay connectors."""

    def lookup(self, message: Message) -> SubmitResult | Absent | None: ...


class HeldConnector:
    """A configured connector that cannot take traffic now (disabled, unavailable, misconfigured). Its
    messages stay queued and are retried with backoff; they are never sent through another connector."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def submit(self, message: Message) -> SubmitResult:
        raise ConnectionError(self.reason)


# --- the sink ------------------------------------------------------------------------------------


class Sink(Protocol):
    """Where connectors hand what comes back from the network. Each method applies it at once (in its
    own transaction) and raises what the delivery lifecycle raises (Busy, DomainError)."""

    def receipt(self, downstream_id: str, status: str, error_code: str | None, error_text: str) -> object:
        """A delivery report for the message the connector accepted as `downstream_id`."""
        ...

    def receipt_later(self, downstream_id: str, status: str, error_code: str, error_text: str, *, delay: float) -> None:
        """A delivery report to apply `delay` seconds from now, in a worker (the simulator's)."""
        ...

    def downstream_id(self, message_id: int, downstream_id: str) -> None:
        """The id the connector was just given for a message still being submitted (best effort)."""
        ...

    def inbound(self, *, connector: str, from_number: str, to: str, text: str) -> object:
        """A mobile-originated message the connector gives no id of its own."""
        ...

    def inbound_part(
        self, *, connector: str, from_number: str, to: str, reference: int, total: int, seq: int, text: str
    ) -> object:
        """Part `seq` of `total` of a long mobile-originated message."""
        ...


_sink: list[Sink] = []


def install_sink(sink: Sink) -> None:
    """Messaging installs its sink when the app is ready; installing again replaces it."""
    _sink[:] = [sink]


def sink() -> Sink:
    if not _sink:
        raise RuntimeError("No connector sink installed: messaging installs it in MessagingConfig.ready.")
    return _sink[0]
