"""The whole way through the registry: provider staff configure an SMPP connector pointing at the test
SMSC and route one account to it; that account's message, dispatched without naming a connector, goes
out over SMPP and is accepted, and the SMSC's receipt then settles or refunds it. An account without a
route still goes through the default (the simulator)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kontor.ledger.posting import hold_wallet, pool_wallet, provider_wallet
from kontor.ledger.verify import verify
from kontor.messaging.connectors import connector_for, forget_instances, smpp
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import ConnectorConfig, Status
from kontor.messaging.services.connectors import create_connector, route_account
from kontor.messaging.services.messages import send_message
from tests.messaging import smpp_support
from tests.messaging.conftest import fund
from tests.messaging.smpp_support import TO, answered

# The shared fixtures (assigned, not imported, so that pytest finds them here).
_fresh_connectors = smpp_support._fresh_connectors
options = smpp_support.options
smsc = smpp_support.smsc
tx_world = smpp_support.tx_world


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    forget_instances()
    yield
    forget_instances()


@pytest.fixture
def routed(tx_world, options) -> ConnectorConfig:
    tam = tx_world.staff["tam"]
    plain = {name: value for name, value in options.items() if name != "password"}
    config = create_connector(
        actor=tam, name="acme-smpp", kind="smpp", options=plain, secrets={"password": options["password"]}
    )
    route_account(tx_world.acme.account, config, actor=tam)
    return config


def balances(account) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    customer = account.customer
    return pool_wallet(account).balance, hold_wallet(customer).balance, provider_wallet("SMS", customer).balance


@pytest.mark.parametrize(
    ("outcome", "status", "pool_after"),
    [("delivered", Status.DELIVERED, 99), ("undeliverable", Status.FAILED, 100)],
)
@pytest.mark.django_db(transaction=True)
def test_a_routed_account_sends_over_smpp_and_its_receipt_is_applied(
    tx_world, smsc, routed, outcome, status, pool_after
):
    account = tx_world.acme.account
    assert isinstance(connector_for(account), smpp.SmppConnector)
    message = send_message(account, actor=tx_world.acme.users["sender"], to=TO, text="Hello over SMPP")

    assert delivery.dispatch(message.pk) == "accepted"  # no connector given: the registry picks the route

    message.refresh_from_db()
    [part] = smsc.submitted
    assert (message.status, message.connector) == (Status.ACCEPTED, "acme-smpp")
    assert message.downstream_id == f"acme-smpp:{part.message_id}" and part.short_message == b"Hello over SMPP"
    assert smsc.binds == [("kontor", "secret", "bind_transceiver", 0)]  # the stored secret was used
    assert balances(account) == (99, 0, 1)

    # The receipt arrives on the registry's own transceiver bind.
    assert answered(smsc.send_receipt(part.message_id, outcome)) == 0
    message.refresh_from_db()
    assert message.status == status
    assert [e.status for e in message.events.order_by("at", "id")] == ["queued", "submitted", "accepted", status]
    assert balances(account) == (pool_after, 0, 100 - pool_after)
    assert verify() == []


@pytest.mark.django_db(transaction=True)
def test_an_account_without_a_route_keeps_the_default(tx_world, smsc, routed):
    other = tx_world.globex.account
    fund(pool_wallet(other), 10)
    message = send_message(other, actor=tx_world.globex.users["sender"], to=TO, text="Hello")
    assert not isinstance(connector_for(other), smpp.SmppConnector)
    result = delivery.dispatch(message.pk)
    message.refresh_from_db()
    assert result == "accepted" and message.connector == "simulator"
    assert smsc.submitted == [] and smsc.binds == []
