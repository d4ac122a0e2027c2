"""The built-in simulator for the demo and tests: accepts every message and reports delivery after
KONTOR_SIMULATOR_DLR_SECONDS (default 2), unless the text carries a command:

- `#fail`: refused at submit (nothing is consumed; the reservation is released);
- `#undeliverable`: accepted, then a failed delivery report (the credits are refunded);
- `#expire`: accepted, then an expired delivery report."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from kontor.messaging.connectors import SubmitResult

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


class SimulatorConnector:
    name = "simulator"

    def submit(self, message: Message) -> SubmitResult:
        if "#fail" in message.text:
            return SubmitResult(False, error_code="SIM-REJECT", error_text="Rejected at submit (simulated #fail)")
        return SubmitResult(True, downstream_id=f"sim-{uuid.uuid4().hex}")

    def follow_up(self, message: Message) -> None:
        from kontor.messaging.tasks import simulator_dlr

        status, code, text = planned_report(message.text)
        task = simulator_dlr
        if task.get_backend().supports_defer and dlr_delay() > 0:
            task = task.using(run_after=timezone.now() + dt.timedelta(seconds=dlr_delay()))
        task.enqueue(message.downstream_id, status, code, text)
