"""A small SMSC on 127.0.0.1 for the SMPP connector's tests, and for trying the connector by hand:

    python -m tests.messaging.smsc --port 2775 --system-id kontor --password secret --dlr-delay 2

Built on smpplib's PDU codec (smpp34's Python server accepts every bind and cannot refuse one, send
garbage or drop a connection, which these tests need). It accepts binds whose system_id and password
match, answers submit_sm with a fresh message id, records every part it received, and sends a
delivery receipt (deliver_sm, esm_class 0x04) for each part that asked for one: `dlr` picks the
outcome (delivered, undeliverable, expired, rejected, deleted, unknown; none; hold = until
`release_dlrs()`), overridden per message by "#undeliverable", "#expire" or "#reject" in its text;
"#fail" in the text refuses the submit_sm (0x45). Receipts go to a receiving bind of the same
system_id, kept until one binds. query_sm is answered for every message id it handed out (its state:
enroute until its receipt went out, then the receipt's), and with 0x0C (invalid message id) otherwise.
On demand it sends MO messages, raw bytes, its own enquire_link,
drops every connection, refuses binds, or stops listening altogether."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smpplib import command_codes, consts, smpp

log = logging.getLogger("tests.smsc")

OUTCOMES = {
    "delivered": ("DELIVRD", "000", 2),
    "undeliverable": ("UNDELIV", "001", 5),
    "expired": ("EXPIRED", "000", 3),
    "rejected": ("REJECTD", "002", 8),
    "deleted": ("DELETED", "000", 4),
    "unknown": ("UNKNOWN", "000", 7),
}
TEXT_COMMANDS = {"#undeliverable": "undeliverable", "#expire": "expired", "#reject": "rejected"}
CAN_RECEIVE = ("bind_receiver", "bind_transceiver")
CAN_SUBMIT = ("bind_transmitter", "bind_transceiver")


class _Seq:
    def __init__(self) -> None:
        self._count = itertools.count(1)
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence = next(self._count)
        return self.sequence


def _s(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value or "")


@dataclass
class Submitted:
    """One submit_sm as the SMSC received it."""

    message_id: str
    system_id: str
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    data_coding: int
    registered_delivery: int
    short_message: bytes
    udh: bytes  # the user data header, length octet included; b"" without one
    body: bytes  # short_message without the UDH, or the message_payload
    tlvs: dict[str, Any]

    @property
    def text(self) -> str:
        if self.data_coding == 8:
            return self.body.decode("utf-16-be")
        from kontor.messaging.connectors.smpp_codec import gsm_decode

        return gsm_decode(self.body)


@dataclass
class Sent:
    """A deliver_sm (or raw bytes) the SMSC sent, and the ESME's answer once it came."""

    kind: str  # dlr, mo, raw
    sequence: int
    message_id: str = ""
    status: int | None = None
    answered: threading.Event = field(default_factory=threading.Event)


class _Conn:
    def __init__(self, smsc: Smsc, sock: socket.socket) -> None:
        self.smsc = smsc
        self.sock = sock
        self.mode = ""  # the bind command, once bound
        self.system_id = ""
        self.lock = threading.Lock()

    def send(self, pdu: Any) -> None:
        self.send_bytes(pdu.generate())

    def send_bytes(self, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(data)

    def respond(
        self, command: str, sequence: int, status: int = 0, *, bound_as: tuple[str, str] | None = None, **fields: Any
    ) -> None:
        """`bound_as` (bind command, system id): the connection counts as bound before the answer leaves,
        since the ESME may act on the answer at once (a test delivers to it next), and nothing else
        reaches the socket before the answer does."""
        pdu = smpp.make_pdu(command, client=self.smsc.seq, **fields)
        pdu.sequence = sequence
        pdu.status = status
        with self.lock:
            if bound_as:
                self.mode, self.system_id = bound_as
            self.sock.sendall(pdu.generate())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class Smsc:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        system_id: str = "kontor",
        password: str = "secret",
        dlr: str = "delivered",
        dlr_delay: float = 0.0,
        with_tlvs: bool = False,
    ) -> None:
        self.host, self.port = host, port
        self.system_id, self.password = system_id, password
        self.dlr, self.dlr_delay, self.with_tlvs = dlr, dlr_delay, with_tlvs
        self.refuse_binds: int = 0  # a status other than 0: every bind is answered with it
        self.submit_status: int | Callable[[Submitted], int] = 0
        self.seq = _Seq()
        self.lock = threading.RLock()
        self.submitted: list[Submitted] = []
        self.binds: list[tuple[str, str, str, int]] = []  # system_id, password, bind command, status
        self.sent: list[Sent] = []
        self.nacks: list[tuple[int, int]] = []  # generic_nack from the ESME: (sequence, status)
        self.responses: dict[int, tuple[str, int]] = {}  # every response from the ESME: seq → (command, status)
        self.enquire_links = 0  # received from the ESME
        self.queries: list[str] = []  # message ids asked about with query_sm
        self.states: dict[str, int] = {}  # message id → SMPP message_state (1 enroute, 2 delivered, ...)
        self.unbinds = 0
        self.connections = 0
        self._held: list[tuple[str, Submitted]] = []  # receipts waiting (hold, or nobody to receive)
        self._conns: list[_Conn] = []
        self._server: socket.socket | None = None
        self._running = False
        self._ids = itertools.count(random.randrange(1 << 20))

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> Smsc:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self.host, self.port))
        server.listen(16)
        self.port = server.getsockname()[1]
        self._server, self._running = server, True
        threading.Thread(target=self._accept_loop, args=(server,), name="smsc-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection (start() again listens on the same port)."""
        self._running = False
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        self.drop()

    def drop(self) -> None:
        """Close every connection at once, as a crashing SMSC or a broken network would."""
        with self.lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()

    def __enter__(self) -> Smsc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def bound(self) -> list[_Conn]:
        with self.lock:
            return [c for c in self._conns if c.mode]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.01)
        raise AssertionError(f"SMSC: condition not met within {timeout} s")

    # -- on demand --------------------------------------------------------------------------------

    def send_deliver(self, kind: str = "mo", *, receiver: _Conn | None = None, **fields: Any) -> Sent:
        """A deliver_sm with these fields to a receiving bind; wait on `.answered` for the answer."""
        conn = receiver or self._receiver(self.system_id)
        if conn is None:
            raise AssertionError("SMSC: no receiving bind to deliver to")
        pdu = smpp.make_pdu("deliver_sm", client=self.seq, **fields)
        sent = Sent(kind, pdu.sequence, message_id=_s(fields.get("receipted_message_id")))
        with self.lock:
            self.sent.append(sent)
        conn.send(pdu)
        return sent

    def send_mo(self, source: str, destination: str, text: str, **fields: Any) -> Sent:
        body = text.encode("utf-16-be") if fields.get("data_coding") == 8 else text.encode("latin-1")
        fields.setdefault("source_addr_ton", 1)
        fields.setdefault("source_addr_npi", 1)
        return self.send_deliver(
            "mo", source_addr=source, destination_addr=destination, short_message=body, esm_class=0, **fields
        )

    def send_receipt(self, message_id: str, outcome: str = "delivered", *, source: str = "", dest: str = "") -> Sent:
        from kontor.messaging.connectors.smpp_codec import receipt_text

        stat, err, state = OUTCOMES[outcome]
        with self.lock:
            if message_id in self.states:
                self.states[message_id] = state
        now = time.strftime("%y%m%d%H%M")
        fields: dict[str, Any] = {
            "source_addr": source,
            "destination_addr": dest,
            "esm_class": 0x04,
            "short_message": receipt_text(message_id, stat, err, submitted=now, done=now),
        }
        if self.with_tlvs:
            fields |= {"receipted_message_id": message_id, "message_state": state}
        return self.send_deliver("dlr", **fields)

    def send_raw(self, data: bytes, kind: str = "raw") -> None:
        conn = self._receiver(self.system_id) or (self.bound[0] if self.bound else None)
        if conn is None:
            raise AssertionError("SMSC: nobody bound")
        conn.send_bytes(data)

    def enquire_link(self, timeout: float = 5.0) -> bool:
        """Send enquire_link to the first bound ESME; True once it answered."""
        conn = self.bound[0]
        pdu = smpp.make_pdu("enquire_link", client=self.seq)
        sent = Sent("enquire_link", pdu.sequence)
        with self.lock:
            self.sent.append(sent)
        conn.send(pdu)
        return sent.answered.wait(timeout)

    def release_dlrs(self) -> int:
        """Send the receipts held back (dlr="hold", or nobody was bound to receive them)."""
        with self.lock:
            held, self._held = self._held, []
        for outcome, part in held:
            self._deliver_receipt(outcome, part)
        return len(held)

    @property
    def held(self) -> int:
        with self.lock:
            return len(self._held)

    # -- the wire ---------------------------------------------------------------------------------

    def _accept_loop(self, server: socket.socket) -> None:
        while self._running:
            try:
                sock, _ = server.accept()
            except OSError:
                return
            conn = _Conn(self, sock)
            with self.lock:
                self._conns.append(conn)
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), name="smsc-conn", daemon=True).start()

    def _serve(self, conn: _Conn) -> None:
        buf = b""
        try:
            while True:
                chunk = conn.sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 16:
                    (length,) = struct.unpack(">L", buf[:4])
                    if len(buf) < length:
                        break
                    raw, buf = buf[:length], buf[length:]
                    self._on_pdu(conn, raw)
        except OSError:
            return
        finally:
            conn.close()
            with self.lock:
                if conn in self._conns:
                    self._conns.remove(conn)

    def _on_pdu(self, conn: _Conn, raw: bytes) -> None:
        command_id, status, seq = struct.unpack(">LLL", raw[4:16])
        try:
            command = command_codes.get_command_name(command_id)
            pdu = smpp.parse_pdu(raw, client=self.seq, allow_unknown_opt_params=True)
        except Exception:
            conn.respond("generic_nack", seq, consts.SMPP_ESME_RINVCMDID)
            return
        if command.startswith("bind_") and not command.endswith("_resp"):
            self._bind(conn, command, pdu, seq)
        elif command == "submit_sm":
            self._submit(conn, pdu, seq)
        elif command == "query_sm":
            self._query(conn, pdu, seq)
        elif command == "enquire_link":
            with self.lock:
                self.enquire_links += 1
            conn.respond("enquire_link_resp", seq)
        elif command == "unbind":
            with self.lock:
                self.unbinds += 1
            conn.respond("unbind_resp", seq)
            conn.mode = ""
        elif command in ("deliver_sm_resp", "enquire_link_resp"):
            self._answered(seq, status, command)
        elif command == "generic_nack":
            with self.lock:
                self.nacks.append((seq, status))
            self._answered(seq, status, command)
        else:
            conn.respond("generic_nack", seq, consts.SMPP_ESME_RINVCMDID)

    def _answered(self, seq: int, status: int, command: str = "") -> None:
        with self.lock:
            self.responses[seq] = (command, status)
            match = next((s for s in self.sent if s.sequence == seq and s.status is None), None)
        if match is not None:
            match.status = status
            match.answered.set()

    def _bind(self, conn: _Conn, command: str, pdu: Any, seq: int) -> None:
        system_id, password = _s(pdu.system_id), _s(pdu.password)
        if self.refuse_binds:
            status = self.refuse_binds
        elif system_id != self.system_id:
            status = consts.SMPP_ESME_RINVSYSID
        elif password != self.password:
            status = consts.SMPP_ESME_RINVPASWD
        else:
            status = 0
        with self.lock:
            self.binds.append((system_id, password, command, status))
        bound_as = None if status else (command, system_id)
        conn.respond(command + "_resp", seq, status, bound_as=bound_as, system_id="TESTSMSC")
        if status:
            return
        if command in CAN_RECEIVE and self.dlr != "hold":
            self.release_dlrs()

    def _submit(self, conn: _Conn, pdu: Any, seq: int) -> None:
        if conn.mode not in CAN_SUBMIT:
            conn.respond("submit_sm_resp", seq, consts.SMPP_ESME_RINVBNDSTS)
            return
        short = bytes(pdu.short_message or b"")
        udh, body = b"", short
        if (pdu.esm_class or 0) & 0x40 and short:
            udh, body = short[: short[0] + 1], short[short[0] + 1 :]
        tlvs = {
            name: getattr(pdu, name)
            for name in ("sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum", "message_payload")
            if getattr(pdu, name, None) is not None
        }
        if not short and tlvs.get("message_payload"):
            body = tlvs["message_payload"]
        part = Submitted(
            message_id=f"{next(self._ids):08x}",
            system_id=conn.system_id,
            source_addr=_s(pdu.source_addr),
            source_addr_ton=pdu.source_addr_ton or 0,
            source_addr_npi=pdu.source_addr_npi or 0,
            destination_addr=_s(pdu.destination_addr),
            dest_addr_ton=pdu.dest_addr_ton or 0,
            dest_addr_npi=pdu.dest_addr_npi or 0,
            esm_class=pdu.esm_class or 0,
            data_coding=pdu.data_coding or 0,
            registered_delivery=pdu.registered_delivery or 0,
            short_message=short,
            udh=udh,
            body=body,
            tlvs=tlvs,
        )
        status = self.submit_status(part) if callable(self.submit_status) else self.submit_status
        if status == 0 and "#fail" in self._text_of(part):
            status = consts.SMPP_ESME_RSUBMITFAIL
        if status:
            conn.respond("submit_sm_resp", seq, status)
            return
        with self.lock:
            self.submitted.append(part)
            self.states[part.message_id] = 1  # ENROUTE
        conn.respond("submit_sm_resp", seq, 0, message_id=part.message_id)
        if part.registered_delivery & 0x01:
            outcome = self._outcome(part)
            if outcome != "none":
                self._schedule(outcome, part)

    def _query(self, conn: _Conn, pdu: Any, seq: int) -> None:
        message_id = _s(pdu.message_id)
        with self.lock:
            self.queries.append(message_id)
            state = self.states.get(message_id)
        if state is None:
            conn.respond("query_sm_resp", seq, consts.SMPP_ESME_RINVMSGID)
            return
        conn.respond("query_sm_resp", seq, 0, message_id=message_id, final_date="", message_state=state, error_code=0)

    @staticmethod
    def _text_of(part: Submitted) -> str:
        try:
            return part.text
        except (UnicodeDecodeError, ValueError):
            return ""

    @staticmethod
    def _reference(part: Submitted) -> tuple[str, int] | None:
        if len(part.udh) >= 6 and part.udh[1] == 0x00:
            return part.destination_addr, part.udh[3]
        if "sar_msg_ref_num" in part.tlvs:
            return part.destination_addr, part.tlvs["sar_msg_ref_num"]
        return None

    def _outcome(self, part: Submitted) -> str:
        """From a command in the text: a long message's command may sit in any of its parts."""
        ref = self._reference(part)
        with self.lock:
            parts = [p for p in self.submitted if ref is not None and self._reference(p) == ref] or [part]
        text = "".join(self._text_of(p) for p in parts)
        for command, outcome in TEXT_COMMANDS.items():
            if command in text:
                return outcome
        return self.dlr

    def _schedule(self, outcome: str, part: Submitted) -> None:
        if self.dlr == "hold":
            with self.lock:
                self._held.append((outcome, part))
            return
        if self.dlr_delay > 0:
            timer = threading.Timer(self.dlr_delay, self._deliver_receipt, args=(outcome, part))
            timer.daemon = True
            timer.start()
        else:
            self._deliver_receipt(outcome, part)

    def _deliver_receipt(self, outcome: str, part: Submitted) -> None:
        if outcome == "hold":
            outcome = "delivered"
        conn = self._receiver(part.system_id)
        if conn is None:
            with self.lock:
                self._held.append((outcome, part))
            return
        try:
            self.send_receipt(part.message_id, outcome, source=part.destination_addr, dest=part.source_addr)
        except (OSError, AssertionError):
            with self.lock:
                self._held.append((outcome, part))

    def _receiver(self, system_id: str) -> _Conn | None:
        with self.lock:
            conns = [c for c in self._conns if c.mode in CAN_RECEIVE and c.system_id == system_id]
        # A receiver bind first: that is where a listener waits; a transceiver otherwise.
        conns.sort(key=lambda c: c.mode != "bind_receiver")
        return conns[0] if conns else None


CONSOLE_HELP = """commands (one a line):
  mo FROM TO TEXT        send an MO message, e.g. mo 46701234567 46701110001 ACME hello
  dlr MESSAGE_ID [OUTCOME]  send a receipt (delivered, undeliverable, expired, rejected, ...)
  release                send the receipts held back
  drop                   close every connection
  refuse STATUS | allow  answer binds with STATUS (hex, e.g. 0x0E), or accept them again
  quit"""


def _console(smsc: Smsc, stop: threading.Event) -> None:
    import sys

    for line in sys.stdin:
        words = line.strip().split(maxsplit=3)
        if not words:
            continue
        try:
            if words[0] == "mo" and len(words) == 4:
                sent = smsc.send_mo(words[1], words[2], words[3])
                print("answered", sent.answered.wait(5) and hex(sent.status or 0))
            elif words[0] == "dlr" and len(words) >= 2:
                sent = smsc.send_receipt(words[1], words[2] if len(words) > 2 else "delivered")
                print("answered", sent.answered.wait(5) and hex(sent.status or 0))
            elif words[0] == "release":
                print("released", smsc.release_dlrs())
            elif words[0] == "drop":
                smsc.drop()
            elif words[0] == "refuse" and len(words) == 2:
                smsc.refuse_binds = int(words[1], 16)
            elif words[0] == "allow":
                smsc.refuse_binds = 0
            elif words[0] == "quit":
                break
            else:
                print(CONSOLE_HELP)
        except (AssertionError, KeyError, ValueError, OSError) as exc:
            print("error:", exc)
    stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description="A test SMSC on 127.0.0.1 (see the module's docstring).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2775)
    parser.add_argument("--system-id", default="kontor")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--dlr", default="delivered", choices=[*OUTCOMES, "none", "hold"])
    parser.add_argument("--dlr-delay", type=float, default=2.0)
    parser.add_argument("--with-tlvs", action="store_true", help="receipts also carry receipted_message_id")
    parser.add_argument("--console", action="store_true", help="read commands (mo, dlr, drop, ...) from stdin")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    smsc = Smsc(
        host=args.host,
        port=args.port,
        system_id=args.system_id,
        password=args.password,
        dlr=args.dlr,
        dlr_delay=args.dlr_delay,
        with_tlvs=args.with_tlvs,
    ).start()
    print(f"SMSC listening on {smsc.host}:{smsc.port} (system_id {smsc.system_id!r}); Ctrl-C stops it")
    stop = threading.Event()
    if args.console:
        print(CONSOLE_HELP)
        threading.Thread(target=_console, args=(smsc, stop), daemon=True).start()
    seen = 0
    try:
        while not stop.wait(0.5):
            with smsc.lock:
                new = smsc.submitted[seen:]
                seen = len(smsc.submitted)
            for part in new:
                print(f"submit_sm {part.message_id}: {part.source_addr} -> {part.destination_addr}: {part.text!r}")
    except KeyboardInterrupt:
        pass
    smsc.stop()


if __name__ == "__main__":
    main()
