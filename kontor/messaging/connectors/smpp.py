"""The SMPP 3.4 connector: submit_sm to an SMSC, delivery receipts and MO messages from deliver_sm.

`SmppConnector(name, options)` (or `build(name, options)`) is cheap: every instance with the same
name shares the process's one bind for it (a `_Link`), opened on the first submit, kept alive with
enquire_link, bound again after a drop with exponential backoff. While it is down, `submit` raises
ConnectionError and the message stays queued. See docs/connectors.md for the options.

Long messages: a part per segment (as the customer was charged), concatenated with a UDH (8-bit
reference) or SAR TLVs, or the whole text in one message_payload TLV. A delivery receipt is requested
on the LAST part only, and the last part's message_id makes the message's downstream id
("<connector>:<message_id>", smpp_codec.downstream_id): the last part is submitted only after every
other part was accepted, so a receipt exists only for a message the SMSC took whole, and the other
parts' ids never produce receipts that could be mistaken for it.

Dedupe: SMPP has no client reference the SMSC dedupes on. The connector remembers, per process, the
answer it got for each message, so the same message dispatched again in this process gets that answer
and is not sent twice. The SMSC's message id is also stored on the message the moment the
submit_sm_resp arrives (delivery.note_downstream_id), before the answer is applied: after a restart,
`lookup` asks the SMSC with query_sm about that id (known, in any state: accepted; anything else:
cannot tell, as an SMSC that gave us the id once but forgot it since is no proof it never sent it).
When no submit_sm_resp ever came (the worker died waiting, a timeout, a dropped connection) there is no
id to ask about and nobody can tell: the connector's resubmission policy decides (docs/connectors.md)."""

from __future__ import annotations

import atexit
import itertools
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal

from smpplib import consts

from kontor.messaging.connectors import smpp_codec as codec
from kontor.messaging.connectors.base import SubmitResult, sink
from kontor.messaging.connectors.smpp_receive import DeliveryHandler
from kontor.messaging.connectors.smpp_session import BindMode, Session, SessionClosed, SessionConfig, describe

if TYPE_CHECKING:
    from kontor.messaging.models import Message

log = logging.getLogger("kontor.messaging.smpp")

# Refusals that mean "not now" rather than "not this message": the message stays queued.
BUSY_STATUSES = frozenset({consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL})
RECORD_SIZE = 100_000


class OptionsError(ValueError):
    """A connector option that cannot work; names the option."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(f"{option}: {message}")


class SmscBusy(ConnectionError):
    """The SMSC throttled us or its queue is full: try again later (the message stays queued)."""


@dataclass(frozen=True)
class SmppOptions:
    host: str
    port: int = 2775
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    bind: BindMode = "transceiver"
    service_type: str = ""
    source_addr_ton: int | None = None  # None: from the sender (see smpp_codec.address)
    source_addr_npi: int | None = None
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    enquire_link_seconds: float = 30.0
    timeout_seconds: float = 10.0
    reconnect_base_seconds: float = 1.0
    reconnect_max_seconds: float = 60.0
    registered_delivery: bool = True
    use_message_payload: bool = False
    concatenation: Literal["udh", "sar"] = "udh"
    window: int = 10

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> SmppOptions:
        """Validated options; OptionsError names the first one that is wrong (unknown ones included:
        a misspelt option silently ignored would be worse)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise OptionsError(unknown[0], f"unknown option (known: {', '.join(sorted(known))})")
        if not str(options.get("host") or "").strip():
            raise OptionsError("host", "the SMSC's host name or address is required")
        values: dict[str, Any] = {"host": str(options["host"]).strip()}
        for name in ("system_id", "password", "system_type", "service_type"):
            if name in options:
                values[name] = str(options[name] or "")
        for name, size in (("system_id", 15), ("password", 8), ("system_type", 12), ("service_type", 5)):
            if len(values.get(name, "")) > size:
                raise OptionsError(name, f"at most {size} characters in SMPP 3.4")
        if "bind" in options:
            if options["bind"] not in ("transceiver", "transmitter", "receiver"):
                raise OptionsError("bind", "transceiver, transmitter or receiver")
            values["bind"] = options["bind"]
        if "concatenation" in options:
            if options["concatenation"] not in ("udh", "sar"):
                raise OptionsError("concatenation", "udh or sar")
            values["concatenation"] = options["concatenation"]
        for name in ("registered_delivery", "use_message_payload"):
            if name in options:
                if not isinstance(options[name], bool):
                    raise OptionsError(name, "true or false")
                values[name] = options[name]
        for name, low, high in (("port", 1, 65535), ("window", 1, 1000)):
            if name in options:
                values[name] = _number(options[name], name, int, low, high)
        for name in ("source_addr_ton", "source_addr_npi"):
            if options.get(name) is not None:
                values[name] = _number(options[name], name, int, 0, 255)
        for name in ("dest_addr_ton", "dest_addr_npi"):
            if name in options:
                values[name] = _number(options[name], name, int, 0, 255)
        for name in ("enquire_link_seconds", "timeout_seconds", "reconnect_base_seconds", "reconnect_max_seconds"):
            if name in options:
                values[name] = _number(options[name], name, float, 0.01, 86400)
        return cls(**values)


def _number(value: Any, name: str, kind: type, low: float, high: float) -> Any:
    if isinstance(value, bool):
        raise OptionsError(name, "a number")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise OptionsError(name, "a number") from None
    if not low <= number <= high:
        raise OptionsError(name, f"from {low:g} to {high:g}")
    return number


# -- the process's binds ------------------------------------------------------------------------


class _Link:
    """One bind for a connector, opened on demand and again after a drop. After a failed bind the
    next attempt waits reconnect_base_seconds, doubling per failure up to reconnect_max_seconds."""

    def __init__(self, name: str, options: SmppOptions, *, bind: BindMode | None = None) -> None:
        self.name = name
        self.options = options
        self.bind: BindMode = bind or options.bind
        self.handler = DeliveryHandler(name) if self.bind != "transmitter" else None
        self._lock = threading.Lock()
        self._session: Session | None = None
        self.failures = 0
        self._retry_at = 0.0
        self.last_error = ""

    def session(self) -> Session:
        """The bound session, binding now if need be; ConnectionError if down (or still backing off)."""
        with self._lock:
            current = self._session
            if current is not None and current.alive:
                return current
            if current is not None:
                self._session = None
                log.warning("SMPP %s: session lost (%s); binding again", self.name, current.last_error)
                current.close(unbind=False)
            now = time.monotonic()
            if now < self._retry_at:
                raise ConnectionError(
                    f"SMPP connector {self.name} is down ({self.last_error}); "
                    f"next bind attempt in {self._retry_at - now:.1f} s"
                )
            session = Session(self._config(), self.handler)
            try:
                session.open()
            except ConnectionError as exc:
                self.failures += 1
                delay = self.backoff(self.failures)
                self._retry_at = time.monotonic() + delay
                self.last_error = str(exc)
                log.warning(
                    "SMPP %s: bind to %s:%s failed (%s); next attempt in %.1f s",
                    self.name,
                    self.options.host,
                    self.options.port,
                    exc,
                    delay,
                )
                raise ConnectionError(f"SMPP connector {self.name} is down: {exc}") from exc
            if self.failures:
                log.info("SMPP %s: bound again after %d failed attempts", self.name, self.failures)
            self.failures, self._retry_at, self.last_error = 0, 0.0, ""
            self._session = session
            return session

    def backoff(self, failures: int) -> float:
        base = min(self.options.reconnect_max_seconds, self.options.reconnect_base_seconds * 2 ** (failures - 1))
        return base + random.uniform(0, base / 10)

    def retry_in(self) -> float:
        return max(0.0, self._retry_at - time.monotonic())

    def _config(self) -> SessionConfig:
        o = self.options
        return SessionConfig(
            name=self.name,
            host=o.host,
            port=o.port,
            bind=self.bind,
            system_id=o.system_id,
            password=o.password,
            system_type=o.system_type,
            timeout=o.timeout_seconds,
            enquire_link_seconds=o.enquire_link_seconds,
            window=o.window,
        )

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()


_links_lock = threading.Lock()
_links: dict[str, _Link] = {}


def _link_for(name: str, options: SmppOptions) -> _Link:
    with _links_lock:
        link = _links.get(name)
        if link is not None and link.options == options:
            return link
        _links[name] = fresh = _Link(name, options)
    if link is not None:  # the configuration changed: the old bind goes
        link.close()
    return fresh


def close_all() -> None:
    """Unbind every session of this process (at exit, and between tests)."""
    with _links_lock:
        links = list(_links.values())
        _links.clear()
    for link in links:
        link.close()


atexit.register(close_all)


# -- what this process was answered -------------------------------------------------------------

_record_lock = threading.Lock()
_record: OrderedDict[tuple[str, str], tuple[str, SubmitResult]] = OrderedDict()
_in_flight: dict[tuple[str, str], threading.Event] = {}
_references = itertools.count(random.randrange(0x10000))


def _fingerprint(message: Message) -> str:
    # Tells a reused id (a test database that rolled back its sequences) from the same message again.
    return f"{message.created_at.isoformat() if message.created_at else ''}|{message.to_number}"


def _known(name: str, message: Message) -> SubmitResult | None:
    entry = _record.get((name, message.reference))
    if entry is None or entry[0] != _fingerprint(message):
        return None
    return entry[1]


def forget_all() -> None:
    """Empty the record (tests)."""
    with _record_lock:
        _record.clear()


# -- the connector ------------------------------------------------------------------------------


class SmppConnector:
    def __init__(self, name: str, options: Mapping[str, Any]) -> None:
        self.name = name
        self.options = SmppOptions.parse(options)
        self._link = _link_for(name, self.options)

    def submit(self, message: Message) -> SubmitResult:
        key = (self.name, message.reference)
        while True:
            with _record_lock:
                known = _known(self.name, message)
                if known is not None:
                    return known
                other = _in_flight.get(key)
                if other is None:
                    _in_flight[key] = mine = threading.Event()
                    break
            other.wait(self.options.timeout_seconds * 2)  # another thread is submitting it: its answer is ours
        try:
            result = self._submit(message)
            with _record_lock:
                _record[key] = (_fingerprint(message), result)
                while len(_record) > RECORD_SIZE:
                    _record.popitem(last=False)
            return result
        finally:
            with _record_lock:
                _in_flight.pop(key, None)
            mine.set()

    def lookup(self, message: Message) -> SubmitResult | None:
        """What this process was answered for the message; else, when its SMSC id was noted, what the
        SMSC says about it (query_sm); else None (cannot tell)."""
        with _record_lock:
            known = _known(self.name, message)
        if known is not None:
            return known
        prefix = f"{self.name}:"
        if not message.downstream_id.startswith(prefix) or self._link.bind == "receiver":
            return None
        return self.query(message, message.downstream_id[len(prefix) :])

    def query(self, message: Message, message_id: str) -> SubmitResult | None:
        """query_sm for one of our messages: the SMSC knows it (in any state): accepted, under that
        id; anything else (unknown id, busy, no answer): None."""
        source = codec.address(message.from_number, self.options.source_addr_ton, self.options.source_addr_npi)
        session = self._link.session()
        pdu = session.make(
            "query_sm",
            message_id=message_id,
            source_addr=source[0],
            source_addr_ton=source[1],
            source_addr_npi=source[2],
        )
        response = session.wait(session.request(pdu))
        status = int(response.status or 0)
        if status == consts.SMPP_ESME_ROK and response.command == "query_sm_resp":
            log.info("SMPP %s: query_sm %s: state %s", self.name, message_id, getattr(response, "message_state", None))
            return SubmitResult(True, downstream_id=codec.downstream_id(self.name, message_id))
        log.warning("SMPP %s: query_sm for %s answered %s", self.name, message_id, describe(status))
        return None

    def close(self) -> None:
        self._link.close()

    def _submit(self, message: Message) -> SubmitResult:
        o = self.options
        if self._link.bind == "receiver":
            raise OptionsError("bind", "a receiver bind cannot submit messages")
        concatenation: codec.Concatenation = "payload" if o.use_message_payload else o.concatenation
        try:
            parts = codec.build_parts(message.text, concatenation=concatenation, reference=next(_references))
        except codec.TextError as exc:
            return SubmitResult(False, error_code="SMPP-TEXT", error_text=str(exc)[:300])
        source = codec.address(message.from_number, o.source_addr_ton, o.source_addr_npi)
        dest = codec.address(message.to_number, o.dest_addr_ton, o.dest_addr_npi)
        session = self._link.session()
        pdus = [self._pdu(session, part, source, dest, last=i == len(parts) - 1) for i, part in enumerate(parts)]
        # The earlier parts go out together (within the window); the last, which asks for the
        # receipt, only once they were all accepted.
        pending = [session.request(pdu) for pdu in pdus[:-1]]
        refusal: SubmitResult | None = None
        for item in pending:
            refusal = refusal or self._refusal(session, session.wait(item))
        if refusal is None:
            response = session.wait(session.request(pdus[-1]))
            refusal = self._refusal(session, response)
        if refusal is not None:
            if len(parts) > 1:
                log.warning("SMPP %s: %s refused (%s); parts already accepted are lost", self.name, message, refusal)
            return refusal
        message_id = _text(response.message_id)
        if not message_id:
            log.warning("SMPP %s: %s accepted without a message_id; no receipt can match it", self.name, message)
        downstream = codec.downstream_id(self.name, message_id)
        if getattr(message, "pk", None) is not None:
            sink().downstream_id(message.pk, downstream)
        return SubmitResult(True, downstream_id=downstream)

    def _pdu(
        self,
        session: Session,
        part: codec.Part,
        source: tuple[str, int, int],
        dest: tuple[str, int, int],
        *,
        last: bool,
    ) -> Any:
        o = self.options
        return session.make(
            "submit_sm",
            service_type=o.service_type,
            source_addr=source[0],
            source_addr_ton=source[1],
            source_addr_npi=source[2],
            destination_addr=dest[0],
            dest_addr_ton=dest[1],
            dest_addr_npi=dest[2],
            esm_class=part.esm_class,
            protocol_id=0,
            priority_flag=0,
            registered_delivery=1 if (last and o.registered_delivery) else 0,
            data_coding=part.data_coding,
            short_message=part.short_message,
            **part.tlvs,
        )

    def _refusal(self, session: Session, response: Any) -> SubmitResult | None:
        status = int(response.status or 0)
        if status == consts.SMPP_ESME_ROK and response.command == "submit_sm_resp":
            return None
        if status == consts.SMPP_ESME_ROK:  # a generic_nack without a status is still no acceptance
            status = consts.SMPP_ESME_RSYSERR
        if status in BUSY_STATUSES:
            raise SmscBusy(f"SMSC busy: {describe(status)}")
        if status == consts.SMPP_ESME_RINVBNDSTS:  # the SMSC thinks we are not bound: bind again
            session.close(unbind=False)
            raise SessionClosed(f"SMSC says: {describe(status)}")
        return SubmitResult(
            False,
            error_code=f"SMPP-0x{status:08X}",
            error_text=consts.DESCRIPTIONS.get(status, "Unknown SMPP status")[:300],
        )


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value or "").replace("\x00", "").strip()[:100]


def build(name: str, options: Mapping[str, Any]) -> SmppConnector:
    """The factory the connector registry calls."""
    return SmppConnector(name, options)


# -- the long-running receiver ------------------------------------------------------------------


def run_listener(
    name: str,
    options: Mapping[str, Any],
    stop: threading.Event,
    *,
    bind: BindMode = "receiver",
    on_bound: threading.Event | None = None,
) -> None:
    """Keep a bind up until `stop` is set, handling every deliver_sm (receipts and MO) that comes in on
    it; binds again after a drop, with backoff. `on_bound` is set each time a bind succeeds (tests)."""
    parsed = replace(SmppOptions.parse(options), bind=bind)
    link = _Link(name, parsed, bind=bind)
    log.info("SMPP %s: listening (%s bind to %s:%s)", name, bind, parsed.host, parsed.port)
    try:
        while not stop.is_set():
            try:
                session = link.session()
            except ConnectionError:
                stop.wait(max(0.05, link.retry_in()))
                continue
            if on_bound is not None:
                on_bound.set()
            while not stop.is_set() and session.alive:
                session.wait_closed(0.2)
    finally:
        link.close()
        log.info("SMPP %s: listener stopped", name)
