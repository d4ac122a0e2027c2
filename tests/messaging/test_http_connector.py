"""The HTTP provider connector against a local http.server on 127.0.0.1 (accepted with an id, refused
with the provider's error, 5xx/429/timeouts/refused connections leave the message queued and it is sent
on a retry), and the DLR callback endpoint (good, bad token, unknown connector, garbage)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from kontor.ledger.posting import hold_wallet, pool_wallet, provider_wallet
from kontor.ledger.verify import verify
from kontor.messaging.connectors import HeldConnector, SubmitResult, connector_for, forget_instances
from kontor.messaging.connectors.http import HttpConnector, get_path
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import AccountRoute, ConnectorConfig, Message, PendingDlr, Status
from kontor.messaging.services.connectors import create_connector, route_account, update_connector
from kontor.messaging.services.messages import send_message

pytestmark = pytest.mark.django_db

TO = "+46701234567"
TOKEN = "provider-bearer-token-1"
DLR_TOKEN = "dlr-callback-token-0123456789"


# --- the local provider --------------------------------------------------------------------------


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # dict/list → JSON; str/bytes as is
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


@dataclass
class Provider:
    url: str
    answers: list[Answer] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def answer(self, status: int = 200, body: Any = None, delay: float = 0.0) -> None:
        self.answers.append(Answer(status, body, delay))


@pytest.fixture
def provider() -> Iterator[Provider]:
    state = Provider(url="")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            state.seen.append(Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body))
            answer = state.answers.pop(0) if state.answers else Answer(200, {"id": "default"})
            if answer.delay:
                time.sleep(answer.delay)
            raw = answer.body
            if isinstance(raw, dict | list):
                raw = json.dumps(raw)
            data = raw.encode() if isinstance(raw, str) else (raw or b"")
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if 300 <= answer.status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and left

        do_GET = do_POST = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/send"
    # shutdown() waits for the serving loop to poll its flag: every half second by default, which was
    # half a second of every test using this server.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    forget_instances()


def options(provider: Provider, **extra: Any) -> dict[str, Any]:
    return {"url": provider.url, **extra}


def message(pk: int = 7, text: str = "Hello") -> Message:
    return Message(pk=pk, to_number=TO, from_number="Kontor", text=text)


# --- the connector alone -------------------------------------------------------------------------


def test_json_post_with_mapped_fields_bearer_auth_and_id_path(provider):
    connector = HttpConnector(
        "acme-http",
        {
            **options(
                provider,
                field_to="msisdn",
                field_from="sender",
                field_text="message",
                field_reference="ref",
                extra_fields={"account": "A-1"},
                auth="bearer",
                id_path="data.messages.0.id",
            ),
            "auth_token": TOKEN,
        },
    )
    provider.answer(201, {"data": {"messages": [{"id": "p-991"}]}})
    result = connector.submit(message(text="Hej då"))
    assert result == SubmitResult(True, downstream_id="acme-http:p-991")
    seen = provider.seen[0]
    assert seen.method == "POST" and seen.path == "/send"
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["Content-Type"].startswith("application/json")
    assert seen.json() == {"account": "A-1", "msisdn": TO, "sender": "Kontor", "message": "Hej då", "ref": "message:7"}


def test_get_with_query_string_and_basic_auth(provider):
    connector = HttpConnector(
        "get-http",
        {
            **options(provider, method="GET", auth="basic", auth_username="kontor", field_reference="-"),
            "basic_password": "pw",
        },
    )
    provider.answer(200, {"id": 42})
    assert connector.submit(message()).downstream_id == "get-http:message:7"  # no id_path: our reference
    seen = provider.seen[0]
    assert seen.method == "GET" and seen.body == b""
    assert seen.query == {"to": [TO], "from": ["Kontor"], "text": ["Hello"]}  # "-" left the reference out
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"kontor:pw").decode()


def test_form_body(provider):
    connector = HttpConnector("form-http", options(provider, body_format="form", id_path="id"))
    provider.answer(200, {"id": 42})
    assert connector.submit(message(text="a&b=c")).downstream_id == "form-http:42"
    seen = provider.seen[0]
    assert seen.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert seen.form() == {"to": [TO], "from": ["Kontor"], "text": ["a&b=c"], "reference": ["message:7"]}


def test_4xx_is_refused_with_the_providers_error(provider):
    connector = HttpConnector(
        "p", options(provider, error_code_path="error.code", error_text_path="error.message", id_path="id")
    )
    provider.answer(400, {"error": {"code": "E_NUMBER", "message": "Invalid destination"}})
    assert connector.submit(message()) == SubmitResult(False, error_code="E_NUMBER", error_text="Invalid destination")
    provider.answer(403, "<html>forbidden</html>")
    refused = connector.submit(message())
    assert not refused.accepted and refused.error_code == "http-403"
    assert "403" in refused.error_text and "forbidden" in refused.error_text


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408, 302])
def test_5xx_throttling_and_redirects_leave_it_queued(provider, status):
    connector = HttpConnector("p", options(provider))
    provider.answer(status, {"error": "later"})
    with pytest.raises(ConnectionError, match=str(status)):
        connector.submit(message())


def test_timeout_and_refused_connection_raise_connection_error(provider):
    slow = HttpConnector("p", options(provider, timeout_seconds=1))
    provider.answer(200, {"id": "late"}, delay=1.6)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="no answer"):
        slow.submit(message())
    assert time.monotonic() - started < 1.5
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = HttpConnector("p", {"url": f"http://127.0.0.1:{port}/send", "timeout_seconds": 1})
    with pytest.raises(ConnectionError):
        closed.submit(message())


def test_success_rule_and_json_paths(provider):
    connector = HttpConnector(
        "p",
        options(
            provider,
            success_path="result.status",
            success_value="ok",
            id_path="result.id",
            error_code_path="result.code",
            error_text_path="result.reason",
        ),
    )
    provider.answer(200, {"result": {"status": "OK", "id": 991}})
    assert connector.submit(message()) == SubmitResult(True, downstream_id="p:991")
    provider.answer(200, {"result": {"status": "ERROR", "code": 17, "reason": "Blocked sender"}})
    assert connector.submit(message()) == SubmitResult(False, error_code="17", error_text="Blocked sender")
    provider.answer(200, "not json at all")
    refused = connector.submit(message())
    assert not refused.accepted and refused.error_code == "refused"
    # An id missing from the answer: our reference stands in (the provider knows it).
    provider.answer(200, {"result": {"status": "ok"}})
    assert connector.submit(message()).downstream_id == "p:message:7"
    truthy = HttpConnector("p", options(provider, success_path="accepted"))
    provider.answer(200, {"accepted": True})
    assert truthy.submit(message()).accepted
    provider.answer(200, {"accepted": False})
    assert not truthy.submit(message()).accepted


def test_get_path():
    data = {"a": {"b": [{"c": 1}, {"c": "two"}]}, "x.y": 3}
    assert get_path(data, "a.b.1.c") == "two"
    assert get_path(data, "a.b.-1.c") == "two"
    missing = get_path(data, "a.b.5.c")
    assert missing is get_path(data, "nope") and missing is not None


# --- through dispatch: credits, queue and retry -------------------------------------------------


@pytest.fixture
def http_route(world, provider):
    staff = world.staff["tam"]
    config = create_connector(
        actor=staff,
        name="acme-http",
        kind="http",
        options=options(provider, id_path="id", error_code_path="code", error_text_path="detail"),
        secrets={"dlr_token": DLR_TOKEN},
    )
    route_account(world.acme.account, config, actor=staff)
    return config


def balances(world):
    customer = world.acme.customer
    return (
        pool_wallet(world.acme.account).balance,
        hold_wallet(customer).balance,
        provider_wallet("SMS", customer).balance,
    )


def send(world, text="Hello"):
    return send_message(world.acme.account, actor=world.acme.users["sender"], to=TO, text=text)


def test_dispatch_accepts_and_settles(world, pool, provider, http_route):
    m = send(world)
    provider.answer(200, {"id": "p-1"})
    assert delivery.dispatch(m.pk) == "accepted"
    m.refresh_from_db()
    assert (m.status, m.connector, m.downstream_id) == (Status.ACCEPTED, "acme-http", "acme-http:p-1")
    assert balances(world) == (99, 0, 1)
    assert provider.seen[0].json()["reference"] == m.reference


def test_refused_releases_the_credits(world, pool, provider, http_route):
    m = send(world)
    provider.answer(422, {"code": "BAD_TEXT", "detail": "Text not allowed"})
    assert delivery.dispatch(m.pk) == "failed"
    m.refresh_from_db()
    assert (m.status, m.error_code, m.error_text) == (Status.FAILED, "BAD_TEXT", "Text not allowed")
    assert balances(world) == (100, 0, 0)


@pytest.mark.parametrize("first", [Answer(503, {"detail": "maintenance"}), Answer(200, {"id": "late"}, delay=1.6)])
def test_down_or_slow_provider_leaves_it_queued_and_a_retry_sends_it(world, pool, provider, http_route, first):
    update_connector(http_route, actor=world.staff["tam"], options={**http_route.options, "timeout_seconds": 1})
    m = send(world)
    provider.answers.append(first)
    assert delivery.dispatch(m.pk) == "requeued"
    m.refresh_from_db()
    assert m.status == Status.QUEUED and m.attempts == 1
    queued = m.events.order_by("-at", "-id").first()
    assert queued is not None and "ConnectionError" in queued.detail["error"]
    assert balances(world) == (99, 1, 0)  # still reserved, nothing lost
    provider.answer(200, {"id": "p-2"})
    assert delivery.dispatch(m.pk) == "accepted"
    m.refresh_from_db()
    assert (m.status, m.downstream_id, m.attempts) == (Status.ACCEPTED, "acme-http:p-2", 2)
    assert [s.json()["reference"] for s in provider.seen] == [m.reference, m.reference]
    assert balances(world) == (99, 0, 1)


def test_a_disabled_route_holds_messages_in_the_queue(world, pool, provider, http_route):
    update_connector(http_route, actor=world.staff["tam"], enabled=False)
    assert isinstance(connector_for(world.acme.account), HeldConnector)
    m = send(world)
    assert delivery.dispatch(m.pk) == "requeued"
    m.refresh_from_db()
    assert m.status == Status.QUEUED and m.connector == "acme-http"
    assert provider.seen == []  # not sent anywhere, not even through the simulator
    update_connector(http_route, actor=world.staff["tam"], enabled=True)
    provider.answer(200, {"id": "p-3"})
    assert delivery.dispatch(m.pk) == "accepted"


# --- the DLR callback ----------------------------------------------------------------------------

DLR_URL = "/api/v1/connectors/acme-http/dlr"


def dlr(client, body: Any, token: str | None = DLR_TOKEN, url: str = DLR_URL, raw: bool = False, **extra: Any):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = body if raw else json.dumps(body)
    return client.post(url, data=data, content_type=extra.pop("content_type", "application/json"), **headers, **extra)


@pytest.fixture
def accepted(world, pool, provider, http_route):
    m = send(world)
    provider.answer(200, {"id": "p-9"})
    assert delivery.dispatch(m.pk) == "accepted"
    return m


def test_dlr_delivered(client, accepted):
    response = dlr(client, {"id": "p-9", "status": "DELIVRD"})
    assert response.status_code == 200, response.content
    assert response.json() == {"applied": 1, "pending": 0, "ignored": 0}
    accepted.refresh_from_db()
    assert accepted.status == Status.DELIVERED


def test_dlr_failed_refunds_with_the_providers_error(client, world, accepted):
    response = dlr(client, [{"id": "p-9", "status": "ENROUTE"}, {"id": "p-9", "status": "undeliv", "error_code": 34}])
    assert response.json() == {"applied": 1, "pending": 0, "ignored": 1}
    accepted.refresh_from_db()
    assert (accepted.status, accepted.error_code) == (Status.FAILED, "34")
    assert balances(world) == (100, 0, 0)
    assert verify() == []


def test_dlr_mapped_fields_form_body_and_query_token(client, world, accepted, http_route):
    update_connector(
        http_route,
        actor=world.staff["tam"],
        options={
            **http_route.options,
            "dlr_id_field": "msgid",
            "dlr_status_field": "state",
            "dlr_status_map": {"D": "delivered", "X": "expired"},
        },
    )
    response = client.post(
        f"{DLR_URL}?token={DLR_TOKEN}",
        data="msgid=p-9&state=X",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    accepted.refresh_from_db()
    assert accepted.status == Status.EXPIRED


def test_dlr_nested_json_paths(client, world, accepted, http_route):
    update_connector(
        http_route,
        actor=world.staff["tam"],
        options={**http_route.options, "dlr_id_field": "report.message.id", "dlr_status_field": "report.state"},
    )
    assert dlr(client, {"report": {"message": {"id": "p-9"}, "state": "delivered"}}).status_code == 200
    accepted.refresh_from_db()
    assert accepted.status == Status.DELIVERED


def test_dlr_before_acceptance_is_kept(client, http_route):
    response = dlr(client, {"id": "p-early", "status": "delivered"})
    assert response.json() == {"applied": 0, "pending": 1, "ignored": 0}
    assert PendingDlr.objects.filter(downstream_id="acme-http:p-early").exists()


def test_dlr_ids_are_per_connector(client, world, accepted, provider):
    """Another HTTP provider reporting the same id does not touch this connector's message."""
    create_connector(
        actor=world.staff["tam"],
        name="other-http",
        kind="http",
        options={"url": provider.url},
        secrets={"dlr_token": "other-token-0123456789"},
    )
    other = dlr(
        client,
        {"id": "p-9", "status": "failed"},
        token="other-token-0123456789",
        url="/api/v1/connectors/other-http/dlr",
    )
    assert other.json() == {"applied": 0, "pending": 1, "ignored": 0}
    accepted.refresh_from_db()
    assert accepted.status == Status.ACCEPTED


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789", DLR_TOKEN + "x"])
def test_dlr_bad_token_is_401(client, accepted, token):
    response = dlr(client, {"id": "p-9", "status": "delivered"}, token=token)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_authenticated"
    accepted.refresh_from_db()
    assert accepted.status == Status.ACCEPTED


def test_dlr_unknown_or_closed_connector_is_401_like_a_bad_token(client, world, http_route):
    """A 404 for an unknown name would let anyone probe which connectors exist (issue 8 §4)."""
    for url in (
        "/api/v1/connectors/nobody/dlr",
        "/api/v1/connectors/simulator/dlr",
        "/api/v1/connectors/" + "x" * 300 + "/dlr",
    ):
        for token in (None, DLR_TOKEN, "wrong-token-0123456789"):
            response = dlr(client, {"id": "p-9", "status": "delivered"}, url=url, token=token)
            assert (response.status_code, response.json()["code"]) == (401, "not_authenticated"), url
    # Without a DLR token the callback is off: 401, the same as a missing connector or a wrong token.
    update_connector(http_route, actor=world.staff["tam"], secrets={"dlr_token": None})
    response = dlr(client, {"id": "p-9", "status": "delivered"})
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "bad_request"),
        (b"\xff\xfe\x00", "application/json", 400, "bad_request"),
        ("", "application/json", 400, "bad_request"),
        ("[]", "application/json", 400, "bad_request"),
        ("<dlr/>", "application/xml", 400, "bad_request"),
        ('"just a string"', "application/json", 422, "validation_error"),
        ("[1, 2]", "application/json", 422, "validation_error"),
        ('{"status": "delivered"}', "application/json", 422, "validation_error"),
        ('{"id": "p-9"}', "application/json", 422, "validation_error"),
        ('{"id": "p-9", "status": "PURPLE"}', "application/json", 422, "validation_error"),
        ('{"id": {"nested": 1}, "status": "delivered"}', "application/json", 422, "validation_error"),
        ('{"id": "' + "9" * 101 + '", "status": "delivered"}', "application/json", 422, "validation_error"),
        ("id=p-9", "application/x-www-form-urlencoded", 422, "validation_error"),
    ],
)
def test_dlr_garbage_is_refused_and_changes_nothing(client, accepted, body, content_type, status, code):
    response = dlr(client, body, raw=True, content_type=content_type)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    accepted.refresh_from_db()
    assert accepted.status == Status.ACCEPTED
    assert not PendingDlr.objects.exists()


def test_dlr_batch_with_one_bad_report_applies_none(client, accepted):
    response = dlr(client, [{"id": "p-9", "status": "delivered"}, {"id": "p-10", "status": "???"}])
    assert response.status_code == 422
    assert "1.status" in response.json()["errors"]
    accepted.refresh_from_db()
    assert accepted.status == Status.ACCEPTED


def test_dlr_endpoint_ignores_customer_credentials(client, world, accepted):
    response = client.post(
        DLR_URL,
        data=json.dumps({"id": "p-9", "status": "delivered"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.acme.key_secret}",
    )
    assert response.status_code == 401
    client.force_login(world.staff["admin"])
    assert dlr(client, {"id": "p-9", "status": "delivered"}, token=None).status_code == 401
    assert AccountRoute.objects.count() == 1 and ConnectorConfig.objects.count() == 1


def test_garbage_text_from_the_provider_is_cleaned_before_it_is_stored(world, pool, provider, http_route):
    m = send(world)
    provider.answer(400, '{"code": "E\\u0000X", "detail": "bad\\u0000 \\ud800 text\\n"}')
    assert delivery.dispatch(m.pk) == "failed"
    m.refresh_from_db()
    assert (m.error_code, m.error_text) == ("E X", "bad  ? text")


def test_dlr_with_control_characters_and_surrogates_never_fails(client, accepted):
    body = '{"id": "p-9", "status": "failed", "error_code": "\\u0000", "error_text": "\\ud800\\u0001x"}'
    response = dlr(client, body, raw=True)
    assert response.status_code == 200, response.content
    accepted.refresh_from_db()
    assert accepted.status == Status.FAILED and "\x00" not in accepted.error_text
    response = dlr(client, '{"id": "\\u0000", "status": "delivered"}', raw=True)
    assert response.status_code == 422


def test_dlr_needs_no_csrf_token(accepted):
    from django.test import Client

    provider_client = Client(enforce_csrf_checks=True)
    assert dlr(provider_client, {"id": "p-9", "status": "delivered"}).status_code == 200


def test_dlr_body_over_the_upload_limit_is_413(client, accepted):
    body = json.dumps({"id": "p-9", "status": "delivered", "pad": "x" * (3 * 1024 * 1024)})
    response = dlr(client, body, raw=True)
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
    assert response["Content-Type"] == "application/problem+json"
    accepted.refresh_from_db()
    assert accepted.status == Status.ACCEPTED
