"""POST /api/v1/messages/inbound (the provider's token, never a customer's key; garbage is 422, never
500), and where inbound messages show: the inbox page (account-scoped), the transaction search, the API."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from kontor.access.services import create_api_key
from kontor.messaging.delivery.inbound import receive_inbound
from kontor.messaging.models import Direction, InboundRejection, Message
from kontor.numbers import services as numbers
from tests.numbers import conftest as numbers_conftest
from tests.numbers.conftest import DEDICATED, SHARED

pytestmark = pytest.mark.django_db

nums = numbers_conftest.nums
URL = "/api/v1/messages/inbound"
TOKEN = "s3cret-inbound-token"
CONSUMER = "+46701234567"


@pytest.fixture
def token(settings):
    settings.KONTOR_INBOUND_TOKEN = TOKEN
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture
def keywords(world, nums):
    numbers.claim_keyword(world.acme.account, "Acme", actor=world.acme.master)
    numbers.claim_keyword(world.acme.other_account, "help2", actor=world.acme.master)
    return nums


def post(client, body, auth=None, raw=False):  # type: ignore[no-untyped-def]
    data = body if raw else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **(auth or {}))


def stored() -> tuple[int, int]:
    return Message.objects.filter(direction=Direction.IN).count(), InboundRejection.objects.count()


def test_a_routed_message(client, world, keywords, token):
    response = post(client, {"from": "46701234567", "to": SHARED, "text": "help2 please", "id": "d-1"}, token)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "routed": True,
        "account_id": world.acme.other_account.pk,
        "reason": "keyword",
        "duplicate": False,
    }
    m = Message.objects.get(direction="in")
    assert (m.account, m.from_number, m.connector, m.downstream_id) == (
        world.acme.other_account,
        CONSUMER,
        "http",
        "d-1",
    )
    # The connector retries (its answer was lost): the same answer, no second message.
    again = post(client, {"from": "46701234567", "to": SHARED, "text": "help2 please", "id": "d-1"}, token)
    assert again.json() == {**response.json(), "duplicate": True}
    assert stored() == (1, 0)


def test_unknown_number_is_a_200_rejection(client, nums, token):
    response = post(client, {"from": CONSUMER, "to": "+46709990000", "text": "hi"}, token)
    assert response.status_code == 200
    assert response.json() == {"routed": False, "account_id": None, "reason": "unknown_number", "duplicate": False}
    assert stored() == (0, 1)


def test_disabled_without_a_configured_token(client, world, keywords, settings):
    settings.KONTOR_INBOUND_TOKEN = ""
    for auth in ({}, {"HTTP_AUTHORIZATION": "Bearer "}, {"HTTP_AUTHORIZATION": "Bearer anything"}):
        response = post(client, {"from": CONSUMER, "to": SHARED, "text": "ACME"}, auth)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/problem+json")
        assert response.json()["code"] == "not_found" and "not enabled" in response.json()["detail"]
    assert stored() == (0, 0)


def test_missing_or_wrong_token_and_customer_credentials_are_refused(client, world, keywords, token):
    body = {"from": CONSUMER, "to": SHARED, "text": "ACME"}
    refused = [
        {},
        {"HTTP_AUTHORIZATION": "Bearer wrong"},
        {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}x"},
        {"HTTP_AUTHORIZATION": TOKEN},
        {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"},
        {"HTTP_AUTHORIZATION": f"Bearer {world.acme.key_secret}"},
    ]
    for auth in refused:
        response = post(client, body, auth)
        assert (response.status_code, response.json()["code"]) == (401, "not_authenticated"), auth
        assert response["Content-Type"].startswith("application/problem+json")
    # Nor does a signed-in customer's session open it.
    client.force_login(world.acme.master)
    assert post(client, body).status_code == 401
    assert stored() == (0, 0)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "",
        "[]",
        "null",
        '{"from": "+46701234567"}',
        {"to": SHARED, "text": "ACME"},
        {"from": CONSUMER, "to": SHARED},
        {"from": CONSUMER, "to": SHARED, "text": "ACME", "extra": 1},
        {"from": CONSUMER, "to": SHARED, "text": None},
        {"from": 46701234567, "to": SHARED, "text": "ACME"},
        {"from": CONSUMER, "to": SHARED, "text": "ACME \u0000"},
        {"from": CONSUMER, "to": SHARED, "text": "x" * 5001},
        {"from": "", "to": SHARED, "text": "ACME"},
        {"from": CONSUMER * 10, "to": SHARED, "text": "ACME"},
        {"from": CONSUMER, "to": SHARED, "text": "ACME", "id": "i" * 101},
        {"from": CONSUMER, "to": SHARED, "text": ["ACME"]},
    ],
)
def test_garbage_bodies_are_422_and_store_nothing(client, keywords, token, body):
    response = post(client, body, token, raw=isinstance(body, str))
    assert response.status_code in (400, 422), response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert stored() == (0, 0)


def test_a_garbage_sender_in_a_valid_body_is_a_logged_rejection(client, keywords, token):
    response = post(client, {"from": "hello?", "to": SHARED, "text": "ACME"}, token)
    assert (response.status_code, response.json()["reason"]) == (200, "bad_sender")
    assert stored() == (0, 1)


def test_the_operation_is_documented_with_its_own_auth(client):
    schema = client.get("/api/v1/openapi.json").json()
    op = schema["paths"][URL]["post"]
    assert op["security"] == [{"InboundTokenAuth": []}]
    assert op["operationId"] == "receive_inbound_message"


# --- where inbound messages show -----------------------------------------------------------------


@pytest.fixture
def traffic(world, keywords, pool, run_commits):
    """Inbound: two to Acme Sales, one to Acme's Support desk, one to Globex; plus one Sales outbound."""
    from kontor.messaging.services.messages import send_message

    acme = world.acme
    sales = receive_inbound(from_number="+46701111111", to=SHARED, text="ACME first", connector="smpp").message
    sales2 = receive_inbound(from_number=CONSUMER, to=SHARED, text="acme second", connector="smpp").message
    desk = receive_inbound(from_number=CONSUMER, to=SHARED, text="HELP2 desk only", connector="smpp").message
    foreign = receive_inbound(from_number=CONSUMER, to=DEDICATED, text="Globex only", connector="smpp").message
    with run_commits():
        out = send_message(acme.account, actor=acme.master, to=CONSUMER, text="Outbound one")
    return sales, sales2, desk, foreign, out


def _inbox_ids(response) -> list[int]:  # type: ignore[no-untyped-def]
    body = response.content.decode()
    return [m.pk for m in Message.objects.all() if reverse("messaging:message", args=[m.pk]) + '"' in body]


def test_inbox_lists_this_accounts_inbound_newest_first(client, world, traffic):
    sales, sales2, _desk, _foreign, _out = traffic
    client.force_login(world.acme.master)
    response = client.get(reverse("messaging:inbox"))
    assert response.status_code == 200
    assert sorted(_inbox_ids(response)) == sorted([sales.pk, sales2.pk])
    body = response.content.decode()
    assert body.index("acme second") < body.index("ACME first")
    assert "Globex only" not in body and "HELP2 desk only" not in body and "Outbound one" not in body
    assert "ACME" in body  # the keyword column


def test_inbox_search_by_mobile(client, world, traffic):
    _sales, sales2, *_ = traffic
    client.force_login(world.acme.users["sender"])
    response = client.get(reverse("messaging:inbox"), {"mobile": "0701234567"})
    assert response.status_code == 200
    assert _inbox_ids(response) == [sales2.pk]
    assert _inbox_ids(client.get(reverse("messaging:inbox"), {"mobile": "nonsense"})) == []


def test_inbox_of_the_other_account_and_of_globex(client, world, traffic):
    _, _, desk, foreign, _ = traffic
    client.force_login(world.acme.users["administrator"])
    assert client.post(reverse("tenancy:switch"), {"account": str(world.acme.other_account.pk)}).status_code == 302
    assert _inbox_ids(client.get(reverse("messaging:inbox"))) == [desk.pk]
    client.force_login(world.globex.master)
    assert _inbox_ids(client.get(reverse("messaging:inbox"))) == [foreign.pk]


def test_inbox_needs_search_transactions(client, world, traffic):
    client.force_login(world.acme.users["support"])
    assert client.get(reverse("messaging:inbox")).status_code == 403
    client.logout()
    assert client.get(reverse("messaging:inbox")).status_code == 302


def _search_key(cw) -> dict[str, str]:  # type: ignore[no-untyped-def]
    issued = create_api_key(cw.account, actor=cw.master, name="Search", perms=["search_transactions"])
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def test_inbound_messages_are_transactions(client, world, traffic):
    sales, sales2, _desk, foreign, _out = traffic
    client.force_login(world.acme.master)
    body = client.get(reverse("messaging:transactions"), {"direction": "in"}).content.decode()
    assert "ACME first" in body and "acme second" in body and "Outbound one" not in body
    assert "HELP2 desk only" not in body and "Globex only" not in body
    client.logout()
    auth = _search_key(world.acme)
    items = client.get("/api/v1/messages", {"direction": "in"}, **auth).json()["items"]
    assert sorted(i["id"] for i in items) == sorted([sales.pk, sales2.pk])
    assert {i["direction"] for i in items} == {"in"} and {i["status"] for i in items} == {"received"}
    globex = _search_key(world.globex)
    items = client.get("/api/v1/messages", {"direction": "in"}, **globex).json()["items"]
    assert [i["id"] for i in items] == [foreign.pk]
    assert client.get(f"/api/v1/messages/{sales.pk}", **globex).status_code == 404
