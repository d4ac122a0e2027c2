"""What the SMPP connector does with a deliver_sm: a delivery receipt goes to delivery.handle_dlr, a
mobile-originated message to kontor.messaging.delivery.inbound (routed by number and keyword). The answer is
the deliver_sm_resp status: ROK once stored (or deliberately dropped), a temporary error when it
could not be stored so that the SMSC delivers it again, a permanent one for garbage.

Exactly once: a deliver_sm carries no id, so an MO is deduplicated on a fingerprint of its content
within a time window (inbound.receive_unnumbered), and the parts of a long MO wait in the database
(inbound.receive_part) until the last arrives; a receipt delivered twice is applied once (handle_dlr)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, close_old_connections
from smpplib import consts

from kontor.core.errors import DomainError
from kontor.core.retry import Busy
from kontor.messaging.connectors import smpp_codec as codec
from kontor.messaging.connectors.base import sink

log = logging.getLogger("kontor.messaging.smpp")

ROK = consts.SMPP_ESME_ROK
RETRY = consts.SMPP_ESME_RX_T_APPN  # "temporary application error": the SMSC delivers it again
GARBAGE = consts.SMPP_ESME_RX_P_APPN  # "permanent application error": do not send it again


def _addr(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value or "").replace("\x00", "").strip()


class DeliveryHandler:
    """Callable per deliver_sm (on a session's handler thread): returns the deliver_sm_resp status."""

    def __init__(self, connector: str) -> None:
        self.connector = connector

    def __call__(self, pdu: Any) -> int:
        close_old_connections()  # a long-lived thread: drop a connection the database has closed
        try:
            return self.handle(pdu)
        except (DatabaseError, OSError, Busy):
            log.exception("SMPP %s: deliver_sm not stored; the SMSC will deliver it again", self.connector)
            return RETRY
        finally:
            close_old_connections()

    def handle(self, pdu: Any) -> int:
        esm_class = int(pdu.esm_class or 0)
        kind = esm_class & codec.ESM_TYPE_MASK
        if kind == codec.ESM_DELIVERY_RECEIPT or getattr(pdu, "receipted_message_id", None):
            return self._receipt(pdu)
        if kind in (codec.ESM_SME_ACK, codec.ESM_MANUAL_ACK, codec.ESM_INTERMEDIATE):
            log.info("SMPP %s: deliver_sm of type 0x%02X (not a receipt or MO) ignored", self.connector, kind)
            return ROK
        return self._mobile_originated(pdu, esm_class)

    def _receipt(self, pdu: Any) -> int:
        body = pdu.short_message or getattr(pdu, "message_payload", None) or b""
        receipt = codec.parse_receipt(
            body,
            receipted_message_id=getattr(pdu, "receipted_message_id", None),
            message_state=getattr(pdu, "message_state", None),
            network_error_code=getattr(pdu, "network_error_code", None),
        )
        if receipt is None:
            log.warning("SMPP %s: unreadable delivery receipt rejected: %r", self.connector, bytes(body)[:200])
            return GARBAGE
        if receipt.status is None:
            log.info(
                "SMPP %s: receipt %s for %s is not final; ignored", self.connector, receipt.stat, receipt.message_id
            )
            return ROK
        error_code = None if receipt.status == "delivered" else receipt.error_code
        error_text = "" if receipt.status == "delivered" else receipt.error_text
        try:
            sink().receipt(
                codec.downstream_id(self.connector, receipt.message_id), receipt.status, error_code, error_text
            )
        except Busy:
            raise  # the database kept refusing: a temporary error, the SMSC delivers it again
        except DomainError as exc:  # refused as invalid: sending it again would not help
            log.warning("SMPP %s: receipt for %s refused: %s", self.connector, receipt.message_id, exc)
            return GARBAGE
        return ROK

    def _mobile_originated(self, pdu: Any, esm_class: int) -> int:
        data_coding = int(pdu.data_coding or 0)
        body = bytes(pdu.short_message or getattr(pdu, "message_payload", None) or b"")
        concat: codec.Udh | None = None
        if esm_class & codec.ESM_UDHI:
            concat, body = codec.split_udh(body)
        elif getattr(pdu, "sar_total_segments", None) and getattr(pdu, "sar_segment_seqnum", None):
            concat = codec.Udh(int(pdu.sar_msg_ref_num or 0), int(pdu.sar_total_segments), int(pdu.sar_segment_seqnum))
        sender, to = _addr(pdu.source_addr), _addr(pdu.destination_addr)
        text: str | None = codec.decode_text(body, data_coding)
        if concat is not None and concat.total > 1 and 1 <= concat.seq <= concat.total:
            # Stored with the others (the last one assembles and routes them); ROK either way.
            sink().inbound_part(
                connector=self.connector,
                from_number=sender,
                to=to,
                reference=concat.reference,
                total=concat.total,
                seq=concat.seq,
                text=text or "",
            )
            return ROK
        sink().inbound(connector=self.connector, from_number=sender, to=to, text=text or "")
        return ROK
