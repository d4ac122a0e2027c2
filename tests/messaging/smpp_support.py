"""Fixtures for the SMPP tests: a test SMSC on a free port, connector options pointing at it, and
`tx_world`, the world in a transactional database, for tests where the connector's receipt and MO
handler (on its own thread) touches the database: it must see committed rows. Tests that only
submit use the plain `world` and `pool` (faster). Import the fixtures into a test module to use them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kontor.access.roles import sync_builtin_roles
from kontor.ledger.posting import hold_wallet, pool_wallet, provider_wallet
from kontor.messaging.connectors import smpp
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import Message, RateCardEntry
from kontor.messaging.services.messages import send_message
from tests.messaging.conftest import fund
from tests.messaging.smsc import Sent, Smsc
from tests.world import World, build_world

DUMMY_TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}}
TO = "+46701234567"


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    server = Smsc(dlr="hold").start()
    yield server
    smpp.close_all()
    server.stop()


@pytest.fixture
def options(smsc: Smsc) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": smsc.port,
        "system_id": "kontor",
        "password": "secret",
        "timeout_seconds": 3,
        "reconnect_base_seconds": 0.2,
        "reconnect_max_seconds": 1,
    }


@pytest.fixture(autouse=True)
def _fresh_connectors(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    # Dispatch is driven by the test (dispatch(..., connector=...)), not by an immediate task backend.
    settings.TASKS = DUMMY_TASKS
    smpp.close_all()
    smpp.forget_all()
    yield
    smpp.close_all()
    smpp.forget_all()


@pytest.fixture
def tx_world(transactional_db) -> World:  # type: ignore[no-untyped-def]
    # An earlier transactional test may have flushed what the migrations seed.
    sync_builtin_roles()
    RateCardEntry.objects.get_or_create(prefix="", defaults={"operator": "Any destination", "credits_per_segment": 1})
    built = build_world()
    fund(pool_wallet(built.acme.account), 100)
    return built


def send(world: World, text: str = "Hello", to: str = TO) -> Message:
    return send_message(world.acme.account, actor=world.acme.users["sender"], to=to, text=text)


def dispatched(world: World, connector: smpp.SmppConnector, text: str = "Hello") -> tuple[Message, str]:
    message = send(world, text)
    outcome = delivery.dispatch(message.pk, connector=connector)
    message.refresh_from_db()
    return message, outcome


def balances(world: World) -> tuple[int, int, int]:
    customer = world.acme.customer
    return (
        pool_wallet(world.acme.account).balance,
        hold_wallet(customer).balance,
        provider_wallet("SMS", customer).balance,
    )


def answered(sent: Sent, timeout: float = 5.0) -> int | None:
    assert sent.answered.wait(timeout), "the ESME did not answer the deliver_sm"
    return sent.status


def in_thread(target: Any, *args: Any, **kwargs: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
    thread.start()
    return thread
