"""`kontor smpp_listen [--connector NAME] [--bind receiver|transceiver]`: keep a bind to the SMSC up and
handle every deliver_sm that arrives on it, delivery receipts and inbound (MO) messages, until SIGTERM
or SIGINT. Run one per SMPP connector beside the workers (a systemd unit or a container); the workers'
own transceiver binds submit, and handle what reaches them, but are idle between messages.

The connector's options come from settings.KONTOR_SMPP_CONNECTORS[NAME] (or, where settings do not
define it, the KONTOR_SMPP_CONNECTORS environment variable as JSON), failing that from the connector
registry (kontor.messaging.connectors.get_connector). See docs/connectors.md."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kontor.messaging.connectors.registry import get_connector
from kontor.messaging.connectors.smpp import OptionsError, SmppConnector, SmppOptions, run_listener


def configured() -> dict[str, Mapping[str, Any]]:
    value = getattr(settings, "KONTOR_SMPP_CONNECTORS", None)
    if value is None and os.environ.get("KONTOR_SMPP_CONNECTORS"):
        try:
            value = json.loads(os.environ["KONTOR_SMPP_CONNECTORS"])
        except ValueError as exc:
            raise CommandError(f"KONTOR_SMPP_CONNECTORS is not JSON: {exc}") from exc
    if value is not None and not (isinstance(value, Mapping) and all(isinstance(v, Mapping) for v in value.values())):
        raise CommandError('KONTOR_SMPP_CONNECTORS maps names to options: {"name": {"host": ...}}.')
    return dict(value or {})


def options_for(name: str | None) -> tuple[str, Mapping[str, Any]]:
    """(name, options) of the connector to listen for; CommandError naming what is wrong."""
    connectors = configured()
    if name is None:
        if len(connectors) != 1:
            known = ", ".join(sorted(connectors)) or "none configured in KONTOR_SMPP_CONNECTORS"
            raise CommandError(f"Name the SMPP connector with --connector (known: {known}).")
        name = next(iter(connectors))
    options = connectors.get(name)
    if options is None:
        options = _from_registry(name)
    if options is None:
        raise CommandError(f"No SMPP connector named {name!r} (known: {', '.join(sorted(connectors)) or 'none'}).")
    try:
        SmppOptions.parse(options)
    except OptionsError as exc:
        raise CommandError(f"SMPP connector {name!r}: {exc}") from exc
    return name, options


def _from_registry(name: str) -> Mapping[str, Any] | None:
    try:
        connector = get_connector(name)
    except (KeyError, LookupError):
        return None
    if not isinstance(connector, SmppConnector):
        return None
    return {k: v for k, v in vars(connector.options).items() if v is not None}


class Command(BaseCommand):
    help = "Keep an SMPP bind up and handle delivery receipts and inbound messages until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connector", help="the SMPP connector's name (optional if only one is configured)")
        parser.add_argument(
            "--bind",
            choices=["receiver", "transceiver"],
            default="receiver",
            help="receiver (default) or transceiver, if the SMSC delivers only to transceiver binds",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name, connector_options = options_for(options.get("connector"))
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"Listening for SMPP connector {name} ({options['bind']} bind); SIGTERM or Ctrl-C stops.")
        try:
            run_listener(name, connector_options, stop, bind=options["bind"])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("Stopped.")
