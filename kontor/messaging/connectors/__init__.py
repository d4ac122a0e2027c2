"""Connectors: the interface (base.py), the factory that builds and caches them (registry.py), and one
module per kind (simulator, http, smpp). See registry.py for how a message finds its connector.

The package re-exports the names its users need, from the interface and from the factory."""

from kontor.messaging.connectors.base import (
    ABSENT,
    BUILTIN,
    Absent,
    Connector,
    HeldConnector,
    Lookup,
    Sink,
    SubmitResult,
    install_sink,
    sink,
)
from kontor.messaging.connectors.registry import build, connector_for, forget_instances, get_connector

__all__ = [
    "ABSENT",
    "BUILTIN",
    "Absent",
    "Connector",
    "HeldConnector",
    "Lookup",
    "Sink",
    "SubmitResult",
    "build",
    "connector_for",
    "forget_instances",
    "get_connector",
    "install_sink",
    "sink",
]
