"""What connectors hand back (kontor/messaging/connectors/base.py, Sink), applied by the delivery
lifecycle: receipts by outbound.py, inbound messages by inbound.py. MessagingConfig.ready installs it.

The functions are looked up when called, not bound at start-up, so that a test standing in for one of
them is the one that runs."""

from __future__ import annotations

from kontor.messaging.delivery import inbound, outbound


class MessagingSink:
    def receipt(self, downstream_id: str, status: str, error_code: str | None, error_text: str) -> object:
        return outbound.handle_dlr(downstream_id, status, error_code, error_text)

    def receipt_later(self, downstream_id: str, status: str, error_code: str, error_text: str, *, delay: float) -> None:
        outbound.report_later(downstream_id, status, error_code, error_text, delay=delay)

    def downstream_id(self, message_id: int, downstream_id: str) -> None:
        outbound.note_downstream_id(message_id, downstream_id)

    def inbound(self, *, connector: str, from_number: str, to: str, text: str) -> object:
        return inbound.receive_unnumbered(from_number=from_number, to=to, text=text, connector=connector)

    def inbound_part(
        self, *, connector: str, from_number: str, to: str, reference: int, total: int, seq: int, text: str
    ) -> object:
        return inbound.receive_part(
            connector=connector, from_number=from_number, to=to, reference=reference, total=total, seq=seq, text=text
        )
