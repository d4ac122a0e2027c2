"""Pure SMPP 3.4 helpers for the SMPP connector: GSM 03.38 (unpacked) text, the parts a message is
submitted in (UDH or SAR concatenation, or one message_payload), addresses, delivery receipts and
inbound (MO) bodies. No sockets and no database here, so all of it is tested without an SMSC.

The text is split where kontor.messaging.rules.encoding splits it (the segments the customer was charged
for), so an ESC pair or a surrogate pair never straddles two parts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from kontor.messaging.rules import encoding

# GSM 03.38 basic table, index = code (0x1B is the escape to the extension table).
GSM_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION_TABLE = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
ESC = 0x1B
_TO_GSM = {ch: code for code, ch in enumerate(GSM_BASIC_TABLE) if code != ESC}
_TO_GSM_EXT = {ch: code for code, ch in GSM_EXTENSION_TABLE.items()}

# data_coding values (SMPP 3.4, 5.2.19).
DC_DEFAULT = 0x00  # the SMSC's default alphabet: GSM 03.38 here
DC_IA5 = 0x01
DC_LATIN1 = 0x03
DC_UCS2 = 0x08

ESM_UDHI = 0x40
ESM_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04
ESM_SME_ACK = 0x08
ESM_MANUAL_ACK = 0x10
ESM_INTERMEDIATE = 0x20

Concatenation = Literal["udh", "sar", "payload"]


class TextError(ValueError):
    """A text that cannot be put in the chosen alphabet (a bug upstream: encoding.detect decides)."""


def gsm_encode(text: str) -> bytes:
    """GSM 03.38 unpacked: one octet per septet, ESC + code for an extension character."""
    out = bytearray()
    for ch in text:
        code = _TO_GSM.get(ch)
        if code is not None:
            out.append(code)
            continue
        ext = _TO_GSM_EXT.get(ch)
        if ext is None:
            raise TextError(f"{ch!r} is not in the GSM 03.38 alphabet")
        out += bytes((ESC, ext))
    return bytes(out)


def gsm_decode(data: bytes) -> str:
    """Unpacked GSM 03.38 to text; an octet outside the alphabet becomes "?" (never an error)."""
    out: list[str] = []
    escaped = False
    for octet in data:
        if escaped:
            escaped = False
            out.append(GSM_EXTENSION_TABLE.get(octet, "?"))
        elif octet == ESC:
            escaped = True
        elif octet < len(GSM_BASIC_TABLE):
            out.append(GSM_BASIC_TABLE[octet])
        else:
            out.append("?")
    return "".join(out)


def decode_text(data: bytes, data_coding: int) -> str:
    """The text of a deliver_sm body; undecodable octets are replaced, never an error."""
    if data_coding == DC_UCS2:
        if len(data) % 2:
            data = data[:-1]
        return data.decode("utf-16-be", errors="replace")
    if data_coding == DC_IA5:
        return data.decode("ascii", errors="replace")
    if data_coding == DC_LATIN1:
        return data.decode("latin-1")
    if data_coding == DC_DEFAULT or data_coding & 0xF0 == 0xF0:  # 0xF0-0xF3: message class, default alphabet
        return gsm_decode(data)
    return data.decode("latin-1")  # binary or a national alphabet we do not speak: shown, not lost


@dataclass(frozen=True)
class Part:
    """One submit_sm: its body, esm_class and data_coding, and the TLVs it carries."""

    short_message: bytes
    esm_class: int
    data_coding: int
    tlvs: dict[str, Any] = field(default_factory=dict)


def build_parts(text: str, *, concatenation: Concatenation = "udh", reference: int = 0) -> list[Part]:
    """The submit_sm bodies of one message: a single part when it fits one segment; otherwise one per
    segment with an 8-bit-reference UDH (IEI 0x00) or SAR TLVs, or all of it in one message_payload
    TLV for the SMSC to split."""
    alphabet = encoding.detect(text)
    data_coding = DC_DEFAULT if alphabet == encoding.GSM7 else DC_UCS2

    def encode(piece: str) -> bytes:
        return gsm_encode(piece) if alphabet == encoding.GSM7 else piece.encode("utf-16-be")

    if concatenation == "payload":
        return [Part(b"", 0, data_coding, {"message_payload": encode(text)})]
    pieces = encoding.split(text, alphabet)
    if len(pieces) == 1:
        return [Part(encode(pieces[0]), 0, data_coding)]
    if len(pieces) > 255:
        raise TextError("A message is sent in at most 255 parts.")
    total = len(pieces)
    if concatenation == "sar":
        ref = reference & 0xFFFF
        return [
            Part(
                encode(piece),
                0,
                data_coding,
                {"sar_msg_ref_num": ref, "sar_total_segments": total, "sar_segment_seqnum": seq},
            )
            for seq, piece in enumerate(pieces, start=1)
        ]
    ref = reference & 0xFF
    return [
        Part(bytes((0x05, 0x00, 0x03, ref, total, seq)) + encode(piece), ESM_UDHI, data_coding)
        for seq, piece in enumerate(pieces, start=1)
    ]


@dataclass(frozen=True)
class Udh:
    """The concatenation facts of one part (from a UDH or SAR TLVs)."""

    reference: int
    total: int
    seq: int


def split_udh(body: bytes) -> tuple[Udh | None, bytes]:
    """(concatenation info, the body without the UDH) of a part sent with esm_class UDHI. A malformed
    header gives (None, body): the text is kept as it came rather than dropped."""
    if not body:
        return None, body
    length = body[0]
    if 1 + length > len(body):
        return None, body
    header, rest = body[1 : 1 + length], body[1 + length :]
    pos = 0
    concat: Udh | None = None
    while pos + 2 <= len(header):
        iei, size = header[pos], header[pos + 1]
        value = header[pos + 2 : pos + 2 + size]
        if len(value) != size:
            break
        if iei == 0x00 and size == 3:
            concat = Udh(value[0], value[1], value[2])
        elif iei == 0x08 and size == 4:
            concat = Udh(int.from_bytes(value[0:2], "big"), value[2], value[3])
        pos += 2 + size
    return concat, rest


def address(number: str, ton: int | None, npi: int | None) -> tuple[str, int, int]:
    """(address, TON, NPI) of a number as submit_sm wants it. Unless configured: "+digits" is
    international/ISDN without the "+", bare digits are unknown/ISDN, anything else alphanumeric."""
    value = (number or "").strip()
    if value.startswith("+") and value[1:].isdigit():
        auto = (value[1:], 1, 1)
    elif value.isdigit():
        auto = (value, 0, 1)
    else:
        auto = (value[:11], 5, 0)
    return auto[0], auto[1] if ton is None else ton, auto[2] if npi is None else npi


# Delivery receipts ------------------------------------------------------------------------------

# stat (text) or message_state (TLV) → Kontor's DLR status; None: not final, ignored.
RECEIPT_STATES: dict[str, str | None] = {
    "DELIVRD": "delivered",
    "DELIVERED": "delivered",
    "EXPIRED": "expired",
    "UNDELIV": "failed",
    "UNDELIVERABLE": "failed",
    "REJECTD": "failed",
    "REJECTED": "failed",
    "DELETED": "failed",
    "UNKNOWN": "failed",
    "ACCEPTD": None,
    "ACCEPTED": None,
    "ENROUTE": None,
}
MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
_ID = re.compile(r"(?:^|\s)id:\s*(\S+)", re.IGNORECASE)
_STAT = re.compile(r"\bstat:\s*([A-Za-z]+)", re.IGNORECASE)
_ERR = re.compile(r"\berr:\s*([0-9A-Za-z]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Receipt:
    message_id: str
    stat: str  # as the SMSC said it: DELIVRD, UNDELIV, ...
    err: str

    @property
    def status(self) -> str | None:
        """delivered, failed or expired; None for a state that is not final (ACCEPTD, ENROUTE)."""
        return RECEIPT_STATES.get(self.stat)

    @property
    def error_code(self) -> str:
        return f"SMPP-{self.stat}-{self.err}"[:32]

    @property
    def error_text(self) -> str:
        return f"Delivery report {self.stat}, SMSC error {self.err}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1").replace("\x00", "").strip()
    return str(value).replace("\x00", "").strip()


DOWNSTREAM_ID_LENGTH = 100  # Message.downstream_id and PendingDlr.downstream_id


def downstream_id(connector: str, message_id: str) -> str:
    """The downstream id of the message the SMSC of `connector` numbered `message_id`, on submit and
    on receipt alike: "<connector>:<message_id>", as the HTTP connector's ids, so that a receipt from
    one SMSC cannot settle or refund a message another SMSC happened to number alike. "" for no id.
    Too long for the column (a 40-character name and a 64-character id), the id is replaced by its
    digest rather than cut: cut, two ids differing only at the end would become one."""
    if not message_id:
        return ""
    namespaced = f"{connector}:{message_id}"
    if len(namespaced) <= DOWNSTREAM_ID_LENGTH:
        return namespaced
    digest = hashlib.sha256(message_id.encode()).hexdigest()
    return f"{connector}:sha256:{digest}"[:DOWNSTREAM_ID_LENGTH]


def parse_receipt(
    body: bytes, *, receipted_message_id: Any = None, message_state: Any = None, network_error_code: Any = None
) -> Receipt | None:
    """The receipt in a deliver_sm, from its TLVs where present, else from the standard text
    ("id:... sub:... dlvrd:... submit date:... done date:... stat:DELIVRD err:000 text:...").
    None when it names no message or no known state (garbage)."""
    text = (body or b"").decode("latin-1")
    message_id = _text(receipted_message_id)
    if not message_id and (match := _ID.search(text)):
        message_id = match.group(1)
    stat = ""
    if isinstance(message_state, int) and message_state in MESSAGE_STATES:
        stat = MESSAGE_STATES[message_state]
    elif match := _STAT.search(text):
        stat = match.group(1).upper()
    err = ""
    if match := _ERR.search(text):
        err = match.group(1)
    elif isinstance(network_error_code, bytes) and len(network_error_code) == 3:
        err = f"{int.from_bytes(network_error_code[1:], 'big'):03d}"
    if not message_id or stat not in RECEIPT_STATES:
        return None
    return Receipt(message_id=message_id[:100], stat=stat, err=err or "000")


def receipt_text(
    message_id: str, stat: str, err: str = "000", *, submitted: str = "", done: str = "", text: str = ""
) -> bytes:
    """A receipt body in the standard (SMPP 3.4 appendix B) form; used by the test SMSC."""
    delivered = "001" if stat == "DELIVRD" else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{submitted} done date:{done} "
        f"stat:{stat} err:{err} text:{text[:20]}"
    ).encode("latin-1", errors="replace")
