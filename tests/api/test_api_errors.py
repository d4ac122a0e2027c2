"""Under /api/v1/ every error is problem+json (issue 8 §4): a body over DATA_UPLOAD_MAX_MEMORY_SIZE is
413 `payload_too_large` on every operation (the fast lane included), never a 500; an unknown route is
404, a wrong method 405 with an Allow header, a Host outside ALLOWED_HOSTS 400. Web pages keep the
app's HTML error pages, and a CSV import (multipart: files are not bound by that setting) still works."""

from __future__ import annotations

import io

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, override_settings

from kontor.contacts import services as contact_services
from kontor.contacts.models import Contact
from kontor.messaging.api.fastlane import FastLane
from tests.api.conftest import BASE, problem
from tests.messaging.test_fastlane import call

pytestmark = pytest.mark.django_db

BIG = b'{"to": "+46701234567", "text": "' + b"x" * (3 * 1024 * 1024) + b'"}'


@pytest.fixture
def raw_client():
    # A 500 must come back as an answer the test can see, not be re-raised by the test client.
    return Client(raise_request_exception=False)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/messages"),
        ("post", "/messages/batch"),
        ("post", "/accounts"),
        ("patch", "/users/1"),
        ("post", "/contacts/phonebooks"),
        ("post", "/credits/transfers"),
        ("post", "/users"),
    ],
)
def test_a_body_over_the_limit_is_413_problem_json(world, raw_client, make_key, method, path):
    key = make_key(world.acme)
    response = getattr(raw_client, method)(
        f"{BASE}{path}", data=BIG, content_type="application/json", headers={"Authorization": f"Bearer {key}"}
    )
    problem(response, 413, "payload_too_large")


def test_a_dlr_callback_over_the_limit_is_413(world, raw_client):
    response = raw_client.post(f"{BASE}/connectors/anything/dlr?token=x", data=BIG, content_type="application/json")
    assert response.status_code in (401, 413)  # refused before or after reading: never a 500
    assert response["Content-Type"].startswith("application/problem+json")


@pytest.fixture
def keep_connection():
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@override_settings(KONTOR_FAST_LANE=True)
def test_the_fast_lane_answers_413_for_a_body_over_the_limit(world, keep_connection):
    answer = call(FastLane(WSGIHandler()), world.acme.key_secret, BIG)
    assert answer["status"] == 413
    assert answer["headers"]["Content-Type"].startswith("application/problem+json")
    assert b'"payload_too_large"' in answer["body"]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2000)
def test_a_csv_import_larger_than_the_limit_still_works(world, client, make_key):
    book = contact_services.create_phonebook(world.acme.account, actor=world.acme.master, name="Big")
    rows = "phone\n" + "".join(f"+4670{1000000 + n}\n" for n in range(400))
    assert len(rows) > 2000
    upload = io.BytesIO(rows.encode())
    upload.name = "contacts.csv"
    key = make_key(world.acme)
    response = client.post(
        f"{BASE}/contacts/phonebooks/{book.pk}/import",
        data={"file": upload},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.content
    assert Contact.objects.filter(phonebook=book).count() == 400


def test_an_unknown_api_route_is_404_problem_json(world, client, make_key):
    key = make_key(world.acme)
    problem(client.get(f"{BASE}/no/such/thing", headers={"Authorization": f"Bearer {key}"}), 404, "not_found")
    problem(client.get(f"{BASE}/no/such/thing"), 404, "not_found")


def test_a_wrong_method_is_405_problem_json_with_allow(world, client, make_key):
    key = make_key(world.acme)
    response = client.put(f"{BASE}/accounts", headers={"Authorization": f"Bearer {key}"})
    problem(response, 405, "method_not_allowed")
    assert {m.strip() for m in response["Allow"].split(",")} == {"GET", "POST"}


def test_a_bad_host_is_400_problem_json_under_the_api(client):
    problem(client.get(f"{BASE}/me", HTTP_HOST="attacker.example"), 400, "bad_request")


def test_web_pages_keep_their_html_error_pages(client):
    missing = client.get("/no/such/page/")
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("text/html")
    bad_host = client.get("/", HTTP_HOST="attacker.example")
    assert bad_host.status_code == 400
    assert bad_host["Content-Type"].startswith("text/html")
