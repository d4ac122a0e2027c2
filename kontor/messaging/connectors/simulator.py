"""The built-in simulator for the demo and tests: accepts every message and reports delivery after
KONTOR_SIMULATOR_DLR_SECONDS (default 2), unless the text carries a command:

- `#fail`: refused at submit (nothing is consumed; the reservation is released);
- `#undeliverable`: accepted, then a failed delivery report (the credits are refunded);
- `#expire`: accepted, then an expired delivery report.

Like a real network it dedupes on the client reference (the message's reference), and remembers across
restarts: its answer is a function of the message (the downstream id is a digest of the reference, the
creation time and the recipient), so a message submitted again gets the same answer, and `lookup` (what
recovery asks after a worker died mid-submit) always knows, in any process. A message whose worker died
before it was handed over is thereby "accepted" by lookup: nothing real is sent either way."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from django.conf import settings

from kontor.messaging.connectors.base import SubmitResult, sink

if TYPE_CHECKING:
    from kontor.messaging.models import Message


def dlr_delay() -> float:
    return float(getattr(settings, "KONTOR_SIMULATOR_DLR_SECONDS", 2))


def planned_report(text: str) -> tuple[str, str, str]:
    """(status, error_code, error_text) of the delivery report the simulator will send."""
    if "#undeliverable" in text:
        return "failed", "SIM-UNDELIV", "Handset unreachable (simulated)"
    if "#expire" in text:
        return "expired", "SIM-EXPIRED", "Validity period expired (simulated)"
    return "delivered", "", ""


def _fingerprint(message: Message) -> str:
    # Tells a reused id (a test database that rolled back its sequences) from the same message again.
    return f"{message.reference}|{message.created_at.isoformat() if message.created_at else ''}|{message.to_number}"


def _answer(message: Message) -> SubmitResult:
    """What the simulated network answers for this message, every time it is asked."""
    if "#fail" in message.text:
        return SubmitResult(False, error_code="SIM-REJECT", error_text="Rejected at submit (simulated #fail)")
    digest = hashlib.sha256(_fingerprint(message).encode()).hexdigest()[:32]
    return SubmitResult(True, downstream_id=f"sim-{digest}")


def forget_all() -> None:
    """Kept for the tests that reset connectors between runs: the simulator has nothing to forget."""


class SimulatorConnector:
    name = "simulator"

    def submit(self, message: Message) -> SubmitResult:
        return _answer(message)

    def lookup(self, message: Message) -> SubmitResult:
        return _answer(message)

    def follow_up(self, message: Message) -> None:
        status, code, text = planned_report(message.text)
        sink().receipt_later(message.downstream_id, status, code, text, delay=dlr_delay())
