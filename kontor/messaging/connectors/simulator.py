"""The built-in simulator for the demo and tests: accepts every message and reports delivery after
KONTOR_SIMULATOR_DLR_SECONDS (default 2), unless the text carries a command:

- `#fail`: refused at submit (nothing is consumed; the reservation is released);
- `#undeliverable`: accepted, then a failed delivery report (the credits are refunded);
- `#expire`: accepted, then an expired delivery report.

Like a real network it dedupes on the client reference (the message's reference): a message submitted
again gets the first answer back, and `lookup` answers from that record (kept in memory, per process,
for the last RECORD_SIZE messages). A message not in the record it calls ABSENT, so recovery submits it
again: after a restart that may produce a second delivery report, which costs no handset anything."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from kontor.messaging.connectors import ABSENT, Absent, SubmitResult

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


RECORD_SIZE = 100_000
_lock = threading.Lock()
# client reference → (fingerprint, answer). The fingerprint tells a reused id (a test database that
# rolled back its sequences) from the same message submitted again.
_record: OrderedDict[str, tuple[str, SubmitResult]] = OrderedDict()


def _fingerprint(message: Message) -> str:
    return f"{message.created_at.isoformat() if message.created_at else ''}|{message.to_number}"


def _known(message: Message) -> SubmitResult | None:
    entry = _record.get(message.reference)
    if entry is None or entry[0] != _fingerprint(message):
        return None
    return entry[1]


def forget_all() -> None:
    """Empty the record (tests)."""
    with _lock:
        _record.clear()


class SimulatorConnector:
    name = "simulator"

    def submit(self, message: Message) -> SubmitResult:
        with _lock:  # check and record together: two workers submitting at once get one answer
            known = _known(message)
            if known is not None:
                return known
            if "#fail" in message.text:
                result = SubmitResult(False, error_code="SIM-REJECT", error_text="Rejected at submit (simulated #fail)")
            else:
                result = SubmitResult(True, downstream_id=f"sim-{uuid.uuid4().hex}")
            _record[message.reference] = (_fingerprint(message), result)
            while len(_record) > RECORD_SIZE:
                _record.popitem(last=False)
        return result

    def lookup(self, message: Message) -> SubmitResult | Absent:
        with _lock:
            return _known(message) or ABSENT

    def follow_up(self, message: Message) -> None:
        from kontor.messaging.tasks import simulator_dlr

        status, code, text = planned_report(message.text)
        task = simulator_dlr
        if task.get_backend().supports_defer and dlr_delay() > 0:
            task = task.using(run_after=timezone.now() + dt.timedelta(seconds=dlr_delay()))
        task.enqueue(message.downstream_id, status, code, text)
