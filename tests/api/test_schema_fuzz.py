"""Property-based fuzzing of the customer API from its own OpenAPI schema (schemathesis).

Every operation is called with generated valid and invalid input, as world.acme's master key with
every customer permission. Whatever comes in, the API must answer without a 5xx, with a status it
documents and a body matching its schema. The run is bounded and deterministic (derandomize) so it
stays fast and does not flake."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from kontor.access.services import create_api_key
from kontor.wsgi import application
from tests.api.conftest import ALL_PERMS

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": 15, "deterministic": True},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)


# The customer API's own operations (by tag); provider staff and other apps' routers have their own
# tests. Loaded from the running app at collection: the schema needs no database.
TAGS = ["me", "accounts", "offices", "security", "users", "roles", "api keys", "audit"]
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=CONFIG).include(tag=TAGS)


@pytest.fixture
def keep_connection():
    """The real WSGI handler closes the database connection after each request, which would end the
    test's transaction on PostgreSQL; Django's own test client unhooks this the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(world, keep_connection):
    issued = create_api_key(world.acme.account, actor=world.acme.master, name="Fuzz", perms=ALL_PERMS)
    return {"Authorization": f"Bearer {issued.secret}"}


@schema.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_fails_and_keeps_its_contract(case, bearer):
    case.call_and_validate(
        headers=bearer,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
