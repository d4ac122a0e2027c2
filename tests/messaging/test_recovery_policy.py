"""Recovery asks the connector before it submits a cut-off message again (the HTTP provider's lookup URL;
SMPP query_sm is in test_smpp), and when nobody can tell, it follows the connector's resubmission policy,
which staff set on the connector's page and in the staff API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from kontor.ledger.posting import hold_wallet, pool_wallet, provider_wallet
from kontor.ledger.verify import verify
from kontor.messaging.connectors import ABSENT, SubmitResult
from kontor.messaging.connectors.http import HttpConnector
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import ConnectorConfig, Message, Status
from kontor.messaging.services.connectors import create_connector, update_connector
from kontor.messaging.services.messages import send_message
from tests.messaging import test_http_connector

pytestmark = pytest.mark.django_db

provider = test_http_connector.provider
TO = "+46701234567"


def balances(world):
    customer = world.acme.customer
    return (
        pool_wallet(world.acme.account).balance,
        hold_wallet(customer).balance,
        provider_wallet("SMS", customer).balance,
    )


def cut_off(world, text="Hello"):
    """A message whose worker marked it submitted and died, long enough ago to be stuck."""
    message = send_message(world.acme.account, actor=world.acme.users["sender"], to=TO, text=text)
    Message.objects.filter(pk=message.pk).update(
        status=Status.SUBMITTED, connector="prov", updated_at=timezone.now() - dt.timedelta(minutes=5)
    )
    return Message.objects.get(pk=message.pk)


def http(provider, **extra):
    return HttpConnector("prov", {"url": provider.url, "id_path": "id", **extra})


def test_lookup_answers_from_the_providers_lookup_url(provider):
    connector = http(provider, lookup_url=provider.url.replace("/send", "/status?ref={reference}"))
    message = Message(pk=7, to_number=TO, from_number="Kontor", text="Hi")
    provider.answer(200, {"id": "p-7"})
    assert connector.lookup(message) == SubmitResult(True, downstream_id="prov:p-7")
    assert provider.seen[0].method == "GET" and provider.seen[0].query == {"ref": ["message:7"]}
    provider.answer(404, {"error": "unknown"})
    assert connector.lookup(message) is ABSENT
    provider.answer(503, "busy")
    assert connector.lookup(message) is None
    assert http(provider).lookup(message) is None  # no lookup URL: cannot tell, nothing asked
    assert len(provider.seen) == 3


@pytest.mark.parametrize(
    ("answers", "outcome", "status", "submits"),
    [
        ([(200, {"id": "p-1"})], "recovered accepted", Status.ACCEPTED, 0),  # it has it: never sent again
        ([(404, {}), (200, {"id": "p-2"})], "resubmitted accepted", Status.ACCEPTED, 1),  # it never got it
        ([(500, "oops")], "failed by policy", Status.FAILED, 0),  # cannot tell: the policy (fail)
    ],
)
def test_recovery_asks_the_provider_first(world, pool, provider, answers, outcome, status, submits):
    ConnectorConfig.objects.create(name="prov", kind="http", options={"url": provider.url}, resubmit_policy="fail")
    connector = http(provider, lookup_url=provider.url.replace("/send", "/status/{reference}"))
    message = cut_off(world)
    for code, body in answers:
        provider.answer(code, body)
    assert delivery.recover(message.pk, connector=connector) == outcome
    message.refresh_from_db()
    assert message.status == status
    assert provider.seen[0].path == f"/status/message%3A{message.pk}"
    assert sum(1 for seen in provider.seen if seen.method == "POST") == submits
    assert balances(world) == ((99, 0, 1) if status == Status.ACCEPTED else (100, 0, 0))
    assert verify() == []


def test_the_resubmit_policy_takes_the_risk_of_a_duplicate(world, pool, provider):
    ConnectorConfig.objects.create(name="prov", kind="http", options={"url": provider.url}, resubmit_policy="resubmit")
    message = cut_off(world)
    provider.answer(200, {"id": "p-9"})
    assert delivery.recover(message.pk, connector=http(provider)) == "resubmitted accepted"
    message.refresh_from_db()
    assert message.status == Status.ACCEPTED and message.downstream_id == "prov:p-9"
    assert message.events.filter(status=Status.SUBMITTED).last().detail["lookup"] == "cannot tell"


def test_staff_set_the_policy_audited_and_it_is_shown_on_the_connector_page(world, client):
    staff = world.staff["tam"]
    config = create_connector(actor=staff, name="prov", kind="simulator")
    assert config.resubmit_policy == "fail"  # no duplicates unless staff choose them
    update_connector(config, actor=staff, resubmit_policy="resubmit")
    config.refresh_from_db()
    assert config.resubmit_policy == "resubmit"
    from kontor.audit.models import AuditEntry

    entry = AuditEntry.objects.filter(action="connector.update").latest("id")
    assert (entry.before["resubmit_policy"], entry.after["resubmit_policy"]) == ("fail", "resubmit")
    from kontor.core.errors import Invalid

    with pytest.raises(Invalid) as refused:
        update_connector(config, actor=staff, resubmit_policy="sometimes")
    assert "resubmit_policy" in refused.value.fields
    client.force_login(staff)
    page = client.get(reverse("messaging:connector_edit", args=[config.pk]))
    assert page.status_code == 200 and "Submit it again (risk: the recipient gets it twice)" in page.content.decode()
    listing = client.get(reverse("messaging:connectors")).content.decode()
    assert "Submit it again (risk: the recipient gets it twice)" in listing
    answer = client.post(
        reverse("messaging:connector_edit", args=[config.pk]),
        {"description": "", "enabled": "on", "resubmit_policy": "fail"},
    )
    assert answer.status_code == 302
    config.refresh_from_db()
    assert config.resubmit_policy == "fail"


def test_the_staff_api_reads_and_changes_the_policy(world, client):
    staff = world.staff["tam"]
    client.force_login(staff)
    created = client.post(
        "/api/v1/staff/connectors",
        {"name": "api-prov", "kind": "simulator", "resubmit_policy": "resubmit"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["resubmit_policy"] == "resubmit"
    changed = client.patch(
        f"/api/v1/staff/connectors/{body['id']}", {"resubmit_policy": "fail"}, content_type="application/json"
    )
    assert changed.status_code == 200 and changed.json()["resubmit_policy"] == "fail"
    refused = client.patch(
        f"/api/v1/staff/connectors/{body['id']}", {"resubmit_policy": "maybe"}, content_type="application/json"
    )
    assert refused.status_code == 422
