"""The fast lane (messaging/api/fastlane.py) answers a plain send itself, exactly as the full stack would,
and hands everything else to the full stack untouched."""

from __future__ import annotations

import io
import json

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings

from kontor.access.services import revoke_api_key
from kontor.core import hotcache
from kontor.ledger.posting import pool_wallet
from kontor.messaging.api.fastlane import FastLane
from kontor.messaging.models import Message

pytestmark = pytest.mark.django_db

TO = "+46701234567"


class Spy:
    """The full stack, counting what reaches it."""

    def __init__(self) -> None:
        self.app = WSGIHandler()
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.app(environ, start_response)


def call(app, secret: str | None, body: object, **headers: str):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/messages",
        "CONTENT_LENGTH": str(len(raw)),
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.url_scheme": "http",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    if secret is not None:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    answer: dict[str, object] = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    answer["body"] = b"".join(app(environ, start_response))
    return answer


@pytest.fixture
def lanes():
    # As Django's test client does: a request must not close the test's connection (and transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    spy = Spy()
    yield FastLane(spy), spy
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@override_settings(KONTOR_FAST_LANE=True)
def test_a_plain_send_is_answered_by_the_fast_lane_as_the_full_stack_would(world, pool, lanes):
    fast, spy = lanes
    secret = world.acme.key_secret
    quick = call(fast, secret, {"to": TO, "text": "hello"}, X_REQUEST_ID="req-12345678")
    assert spy.calls == 0
    with override_settings(KONTOR_FAST_LANE=False):
        full = call(fast, secret, {"to": TO, "text": "hello"})
    assert spy.calls == 1
    assert quick["status"] == full["status"] == 201
    quick_body, full_body = json.loads(quick["body"]), json.loads(full["body"])
    assert quick_body.keys() == full_body.keys()
    for name in ("direction", "to_number", "text", "encoding", "segments", "credits", "status", "user_id"):
        assert quick_body[name] == full_body[name]
    assert quick_body["id"] != full_body["id"]
    ignored = {"X-Request-ID", "Content-Length"}
    assert {k: v for k, v in quick["headers"].items() if k not in ignored} == {
        k: v for k, v in full["headers"].items() if k not in ignored
    }
    assert quick["headers"]["X-Request-ID"] == "req-12345678"
    assert Message.objects.filter(account=world.acme.account).count() == 2
    assert pool_wallet(world.acme.account).balance == 98


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ({"to": "12", "text": "hello"}, {}, 422, "validation_error"),
        ({"to": TO, "text": ""}, {}, 422, "validation_error"),
        ({"to": TO}, {}, 422, "validation_error"),
        (b"{not json", {}, 400, None),
        ({"to": TO, "text": "hello", "schedule_at": "soon"}, {}, 422, "validation_error"),
    ],
)
@override_settings(KONTOR_FAST_LANE=True)
def test_bad_input_goes_to_the_full_stack_and_changes_nothing(world, pool, lanes, body, headers, status, code):
    fast, spy = lanes
    answer = call(fast, world.acme.key_secret, body, **headers)
    assert spy.calls == 1
    assert answer["status"] == status
    assert answer["headers"]["Content-Type"] == "application/problem+json"
    if code:
        assert json.loads(answer["body"])["code"] == code
    assert Message.objects.count() == 0


@override_settings(KONTOR_FAST_LANE=True)
def test_refusals_are_the_full_stacks(world, lanes):
    fast, spy = lanes
    secret = world.acme.key_secret
    broke = call(fast, secret, {"to": TO, "text": "hello"})  # no credits in the pool
    assert (broke["status"], json.loads(broke["body"])["code"]) == (409, "insufficient_credits")
    unknown = call(fast, "kon_nope_nothing", {"to": TO, "text": "hello"})
    assert unknown["status"] == 401
    anonymous = call(fast, None, {"to": TO, "text": "hello"})
    assert anonymous["status"] == 401
    assert spy.calls == 3
    assert Message.objects.count() == 0


@override_settings(KONTOR_FAST_LANE=True, KONTOR_HOT_CACHE_SECONDS=60)
def test_a_revoked_key_stops_at_once_in_this_process(world, pool, lanes, django_capture_on_commit_callbacks):
    fast, _ = lanes
    secret = world.acme.key_secret
    hotcache.clear()
    try:
        assert call(fast, secret, {"to": TO, "text": "hello"})["status"] == 201
        assert call(fast, secret, {"to": TO, "text": "hello"})["status"] == 201  # from the memo
        with django_capture_on_commit_callbacks(execute=True):
            revoke_api_key(world.acme.key, actor=world.acme.master)
        assert call(fast, secret, {"to": TO, "text": "hello"})["status"] == 401
    finally:
        hotcache.clear()


@override_settings(KONTOR_FAST_LANE=True)
def test_an_idempotent_send_takes_the_full_stack_and_replays(world, pool, lanes):
    fast, spy = lanes
    first = call(fast, world.acme.key_secret, {"to": TO, "text": "hello"}, IDEMPOTENCY_KEY="k-1")
    again = call(fast, world.acme.key_secret, {"to": TO, "text": "hello"}, IDEMPOTENCY_KEY="k-1")
    assert spy.calls == 2
    assert first["status"] == again["status"] == 201
    assert json.loads(first["body"])["id"] == json.loads(again["body"])["id"]
    assert Message.objects.count() == 1


@override_settings(KONTOR_FAST_LANE=True)
def test_a_key_without_send_permission_is_refused_by_the_full_stack(world, pool, lanes):
    from kontor.access.services import create_api_key

    reader = create_api_key(world.acme.account, actor=world.acme.master, name="reader", perms=["search_transactions"])
    fast, spy = lanes
    answer = call(fast, reader.secret, {"to": TO, "text": "hello"})
    assert spy.calls == 1
    assert answer["status"] == 403
    assert Message.objects.count() == 0


@override_settings(KONTOR_FAST_LANE=True)
def test_an_address_outside_the_allowlist_is_refused_by_the_full_stack(world, pool, lanes):
    customer = world.acme.customer
    customer.ip_allowlist = "192.0.2.0/24"
    customer.save()
    fast, spy = lanes
    answer = call(fast, world.acme.key_secret, {"to": TO, "text": "hello"})
    assert spy.calls == 1
    assert answer["status"] == 403
    assert Message.objects.count() == 0
