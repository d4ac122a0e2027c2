"""The fast lane (messaging/api/fastlane.py) never answers what the full stack would refuse: a Host header
outside ALLOWED_HOSTS (400 from Django) and text no database column can take (422 from the API's input
check) go to the full stack, and nothing is written."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from kontor.messaging.models import Message
from tests.messaging import test_fastlane
from tests.messaging.test_fastlane import TO, call

pytestmark = pytest.mark.django_db

lanes = test_fastlane.lanes  # the shared fixture (assigned, so that pytest finds it here)


@pytest.mark.parametrize("headers", [{"HOST": "evil.test"}, {"HOST": "evil.test:80"}])
@override_settings(KONTOR_FAST_LANE=True, ALLOWED_HOSTS=["127.0.0.1", "testserver"])
def test_a_host_django_refuses_is_not_answered_by_the_fast_lane(world, pool, lanes, headers):
    fast, spy = lanes
    answer = call(fast, world.acme.key_secret, {"to": TO, "text": "hello"}, **headers)
    assert spy.calls == 1
    assert answer["status"] == 400
    assert Message.objects.count() == 0


@override_settings(KONTOR_FAST_LANE=True, ALLOWED_HOSTS=["127.0.0.1", "testserver"])
def test_an_allowed_host_header_is_still_answered_by_the_fast_lane(world, pool, lanes):
    fast, spy = lanes
    answer = call(fast, world.acme.key_secret, {"to": TO, "text": "hello"}, HOST="testserver")
    assert (answer["status"], spy.calls) == (201, 0)


@pytest.mark.parametrize("text", ["nul \x00 inside", "lone \ud800 surrogate"])
@override_settings(KONTOR_FAST_LANE=True)
def test_text_no_column_can_store_goes_to_the_full_stack(world, pool, lanes, text):
    fast, spy = lanes
    body = json.dumps({"to": TO, "text": text}).encode()  # JSON escapes both; json.loads gives them back
    answer = call(fast, world.acme.key_secret, body)
    assert spy.calls == 1
    assert answer["status"] == 422
    assert json.loads(answer["body"])["code"] == "validation_error"
    assert Message.objects.count() == 0
