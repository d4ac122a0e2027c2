"""One SMPP 3.4 session (a bind) over TCP, shared by the threads of a process.

smpplib gives the PDU codec (smpplib.smpp.make_pdu / parse_pdu) and the status table; its Client is
not used because it is single-threaded and blocking: while it waits for a submit_sm_resp nobody
answers the SMSC, and a read that times out half way through a PDU loses the bytes already read.
Here a reader thread owns the socket's input: it frames PDUs from a buffer, hands each response to
the thread waiting for it (by sequence number), answers enquire_link and unbind, sends enquire_link
when the link has been quiet for `enquire_link_seconds`, and queues each deliver_sm for a handler
thread, which answers deliver_sm_resp only after the handler has stored it (or with an error status,
so the SMSC delivers it again). A dead link fails every waiter with ConnectionError; the session is
then done for, and its owner opens a new one.

Garbage never takes the process down: an unknown command is answered with generic_nack, an
unreadable body with an error response, both logged; a length that cannot be a PDU means the stream
is out of step, so the connection is dropped (and bound again by its owner)."""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from smpplib import command_codes, consts, smpp
from smpplib.exceptions import UnknownCommandError

log = logging.getLogger("kontor.messaging.smpp")

BindMode = Literal["transceiver", "transmitter", "receiver"]
MAX_PDU = 64 * 1024  # far above any SMPP 3.4 PDU; more means we lost the framing
READ_TICK = 0.2  # how often the reader looks at the clock (keepalive, close)


class BindRefused(ConnectionError):
    """The SMSC answered the bind with an error status (wrong password, unknown system_id, ...)."""

    def __init__(self, status: int, command: str = "bind") -> None:
        self.status = status
        super().__init__(f"{command} refused: {describe(status)}")


class SessionClosed(ConnectionError):
    pass


def describe(status: int) -> str:
    return f"0x{status:08X} {consts.DESCRIPTIONS.get(status, 'Unknown status')}"


class Sequence:
    """Sequence numbers for PDUs built by smpplib (it asks its `client` for them), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    @property
    def sequence(self) -> int:
        return self._value

    def next_sequence(self) -> int:
        with self._lock:
            self._value = self._value % 0x7FFFFFFF + 1
            return self._value


@dataclass(frozen=True)
class SessionConfig:
    name: str  # for logs: the connector's name
    host: str
    port: int
    bind: BindMode
    system_id: str
    password: str
    system_type: str = ""
    timeout: float = 10.0
    enquire_link_seconds: float = 30.0
    window: int = 10


class _Pending:
    """A request waiting for its response."""

    __slots__ = ("error", "event", "response", "windowed")

    def __init__(self, windowed: bool) -> None:
        self.event = threading.Event()
        self.response: Any = None
        self.error: BaseException | None = None
        self.windowed = windowed


DeliverHandler = Callable[[Any], int]


class Session:
    """Use: `open()`, then `request(pdu)` + `wait(pending)` from any thread; `close()` at the end."""

    def __init__(self, config: SessionConfig, on_deliver: DeliverHandler | None = None) -> None:
        self.config = config
        self.sequence = Sequence()
        self._on_deliver = on_deliver
        self._sock: socket.socket | None = None
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._window = threading.BoundedSemaphore(max(1, config.window))
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._dead = threading.Event()
        self._closing = False
        self._enquire_seq: int | None = None
        self._enquire_sent = 0.0
        self._last_rx = time.monotonic()
        self._threads: list[threading.Thread] = []
        self.last_error = ""

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._sock is not None and not self._dead.is_set()

    def open(self) -> None:
        """Connect and bind; raises ConnectionError (BindRefused when the SMSC says no)."""
        cfg = self.config
        try:
            sock = socket.create_connection((cfg.host, cfg.port), timeout=cfg.timeout)
        except OSError as exc:
            raise ConnectionError(f"cannot connect to {cfg.host}:{cfg.port}: {exc}") from exc
        try:
            sock.settimeout(cfg.timeout)
            bind = self.make(
                f"bind_{cfg.bind}",
                system_id=cfg.system_id,
                password=cfg.password,
                system_type=cfg.system_type,
                addr_ton=0,
                addr_npi=0,
                address_range="",
            )
            sock.sendall(bind.generate())
            response = self._read_bind_response(sock, bind.sequence)
            if response.status != consts.SMPP_ESME_ROK:
                raise BindRefused(int(response.status), f"bind_{cfg.bind}")
        except BaseException as exc:
            sock.close()
            if isinstance(exc, ConnectionError):
                raise
            if isinstance(exc, OSError | ValueError | struct.error | UnknownCommandError):
                raise ConnectionError(f"bind_{cfg.bind} failed: {exc}") from exc
            raise
        self._sock = sock
        self._last_rx = time.monotonic()
        self._start(self._read_loop, "reader")
        if self._on_deliver is not None:
            self._start(self._deliver_loop, "deliver")

    def _start(self, target: Callable[[], None], role: str) -> None:
        thread = threading.Thread(target=target, name=f"smpp-{self.config.name}-{role}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _read_bind_response(self, sock: socket.socket, sequence: int) -> Any:
        deadline = time.monotonic() + self.config.timeout
        buf = bytearray()
        while True:
            raw = _take_pdu(buf)
            if raw is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("no answer to the bind")
                chunk = sock.recv(65536)
                if not chunk:
                    raise SessionClosed("the SMSC closed the connection during the bind")
                buf += chunk
                continue
            command_id, status, seq = struct.unpack(">LLL", raw[4:16])
            if seq == sequence and command_id & 0x80000000:
                if status != consts.SMPP_ESME_ROK:
                    return _Status(int(status))
                return smpp.parse_pdu(raw, client=self.sequence, allow_unknown_opt_params=True)

    def close(self, *, unbind: bool = True) -> None:
        """Unbind (politely, if the link is up), then close; idempotent."""
        self._closing = True  # the SMSC may hang up right after unbind_resp: that is no loss to report
        if unbind and self.alive:
            with contextlib.suppress(ConnectionError, TimeoutError, OSError):
                self.wait(self.request(self.make("unbind")), timeout=min(self.config.timeout, 5.0))
        self._fail(SessionClosed("closed"))
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(timeout=self.config.timeout)

    def wait_closed(self, timeout: float | None = None) -> bool:
        return self._dead.wait(timeout)

    # -- requests ---------------------------------------------------------------------------------

    def make(self, command: str, **fields: Any) -> Any:
        """A new PDU with this session's next sequence number."""
        return smpp.make_pdu(command, client=self.sequence, **fields)

    def request(self, pdu: Any) -> _Pending:
        """Send a request; wait for its response with `wait`. submit_sm takes a window slot first."""
        windowed = pdu.command == "submit_sm"
        if windowed and not self._window.acquire(timeout=self.config.timeout):
            raise TimeoutError(f"SMPP window of {self.config.window} full for {self.config.timeout:g} s")
        pending = _Pending(windowed)
        with self._state_lock:
            if self._dead.is_set():
                self._release(pending)
                raise SessionClosed(self.last_error or "session closed")
            self._pending[pdu.sequence] = pending
        try:
            self._send(pdu)
        except ConnectionError:
            with self._state_lock:
                self._pending.pop(pdu.sequence, None)
            self._release(pending)
            raise
        return pending

    def wait(self, pending: _Pending, timeout: float | None = None) -> Any:
        """The response (which may carry an error status); ConnectionError if the link died,
        TimeoutError if the SMSC did not answer in time (the session is then dropped: it cannot be
        trusted to be in step any more)."""
        if not pending.event.wait(self.config.timeout if timeout is None else timeout):
            self._fail(TimeoutError("no response from the SMSC in time"))
            raise TimeoutError(f"no response from the SMSC within {self.config.timeout:g} s")
        if pending.error is not None:
            raise ConnectionError(str(pending.error)) from pending.error
        return pending.response

    def _release(self, pending: _Pending) -> None:
        if pending.windowed:
            pending.windowed = False
            self._window.release()

    def _send(self, pdu: Any) -> None:
        data = pdu.generate()
        sock = self._sock
        if sock is None:
            raise SessionClosed("not connected")
        try:
            with self._write_lock:
                sock.sendall(data)
        except OSError as exc:
            self._fail(exc)
            raise SessionClosed(f"send failed: {exc}") from exc

    def _respond(self, command: str, sequence: int, status: int = consts.SMPP_ESME_ROK) -> None:
        pdu = smpp.make_pdu(command, client=self.sequence)
        pdu.sequence = sequence
        pdu.status = status
        self._send(pdu)

    # -- the reader -------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        buf = bytearray()
        try:
            while not self._dead.is_set():
                readable, _, _ = select.select([sock], [], [], READ_TICK)
                if readable:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise SessionClosed("the SMSC closed the connection")
                    buf += chunk
                    self._last_rx = time.monotonic()
                    while (raw := _take_pdu(buf)) is not None:
                        self._on_pdu(raw)
                self._keepalive()
        except Exception as exc:  # the link is gone; whoever owns the session binds again
            if not self._closing and not self._dead.is_set():
                log.warning("SMPP %s: connection lost: %s", self.config.name, exc)
            self._fail(exc)

    def _keepalive(self) -> None:
        now = time.monotonic()
        if self._enquire_seq is not None:
            if now - self._enquire_sent > self.config.timeout:
                raise SessionClosed(f"no enquire_link_resp within {self.config.timeout:g} s")
            return
        if now - self._last_rx >= self.config.enquire_link_seconds:
            pdu = self.make("enquire_link")
            self._enquire_seq, self._enquire_sent = pdu.sequence, now
            self._send(pdu)

    def _on_pdu(self, raw: bytes) -> None:
        command_id, status, seq = struct.unpack(">LLL", raw[4:16])
        try:
            command = command_codes.get_command_name(command_id)
        except UnknownCommandError:
            log.warning("SMPP %s: unknown command 0x%08X (seq %d) rejected", self.config.name, command_id, seq)
            self._respond("generic_nack", seq, consts.SMPP_ESME_RINVCMDID)
            return
        is_response = bool(command_id & 0x80000000)
        try:
            pdu = smpp.parse_pdu(raw, client=self.sequence, allow_unknown_opt_params=True)
        except Exception as exc:
            log.warning("SMPP %s: unreadable %s (seq %d) rejected: %r", self.config.name, command, seq, exc)
            if is_response:
                self._resolve(seq, _Status(int(status) or consts.SMPP_ESME_RSYSERR))
            elif command == "deliver_sm":
                self._respond("deliver_sm_resp", seq, consts.SMPP_ESME_RX_P_APPN)
            else:
                self._respond("generic_nack", seq, consts.SMPP_ESME_RSYSERR)
            return
        if is_response:
            self._resolve(seq, pdu)
        elif command == "enquire_link":
            self._respond("enquire_link_resp", seq)
        elif command == "deliver_sm":
            if self._on_deliver is None:  # a transmitter bind: someone else receives, ask to try again
                self._respond("deliver_sm_resp", seq, consts.SMPP_ESME_RX_T_APPN)
            else:
                self._inbox.put(pdu)
        elif command == "unbind":
            self._respond("unbind_resp", seq)
            raise SessionClosed("the SMSC unbound")
        elif command in ("alert_notification", "outbind"):
            log.info("SMPP %s: %s ignored", self.config.name, command)
        else:
            log.warning("SMPP %s: %s from the SMSC not supported, rejected", self.config.name, command)
            self._respond("generic_nack", seq, consts.SMPP_ESME_RINVCMDID)

    def _resolve(self, sequence: int, response: Any) -> None:
        if sequence == self._enquire_seq:
            self._enquire_seq = None
            return
        with self._state_lock:
            pending = self._pending.pop(sequence, None)
        if pending is None:
            log.warning("SMPP %s: response with unknown sequence %d ignored", self.config.name, sequence)
            return
        pending.response = response
        self._release(pending)
        pending.event.set()

    def _fail(self, exc: BaseException) -> None:
        with self._state_lock:
            if self._dead.is_set():
                return
            self.last_error = str(exc) or type(exc).__name__
            self._dead.set()
            waiting = list(self._pending.values())
            self._pending.clear()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for pending in waiting:
            pending.error = SessionClosed(self.last_error)
            self._release(pending)
            pending.event.set()
        self._inbox.put(None)

    # -- the deliver_sm handler -------------------------------------------------------------------

    def _deliver_loop(self) -> None:
        assert self._on_deliver is not None
        try:
            while True:
                pdu = self._inbox.get()
                if pdu is None or self._dead.is_set():
                    # Not answered: the SMSC delivers it again on the next bind.
                    return
                try:
                    status = int(self._on_deliver(pdu))
                except Exception:
                    log.exception("SMPP %s: deliver_sm (seq %d) not stored", self.config.name, pdu.sequence)
                    status = consts.SMPP_ESME_RX_T_APPN
                try:
                    self._respond("deliver_sm_resp", pdu.sequence, status)
                except ConnectionError:
                    log.warning("SMPP %s: deliver_sm_resp (seq %d) not sent", self.config.name, pdu.sequence)
        finally:
            from django.db import connections

            connections.close_all()


@dataclass(frozen=True)
class _Status:
    """A response we could not (or need not) parse beyond its header."""

    status: int
    command: str = "generic_nack"
    message_id: bytes = b""


def _take_pdu(buf: bytearray) -> bytes | None:
    """The next whole PDU out of `buf`, or None if it has not all arrived."""
    if len(buf) < 4:
        return None
    (length,) = struct.unpack(">L", bytes(buf[:4]))
    if length < 16 or length > MAX_PDU:
        raise SessionClosed(f"a PDU of {length} bytes cannot be right; out of step, dropping the connection")
    if len(buf) < length:
        return None
    raw = bytes(buf[:length])
    del buf[:length]
    return raw
