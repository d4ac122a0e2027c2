"""Connector options that are numbers must be finite: JSON as Python reads it accepts NaN and Infinity,
which no range check refuses (NaN compares false with everything) and PostgreSQL's jsonb cannot store.
They are a field error (422), never a 500 or a connector that cannot work."""

from __future__ import annotations

import pytest

from kontor.messaging.connectors import kinds
from kontor.messaging.models import ConnectorConfig

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "options", "field"),
    [
        ("http", {"url": "https://sms.example.com", "timeout_seconds": float("nan")}, "options.timeout_seconds"),
        ("smpp", {"host": "smsc.test", "enquire_link_seconds": float("nan")}, "options.enquire_link_seconds"),
        ("smpp", {"host": "smsc.test", "window": float("inf")}, "options.window"),
        ("smpp", {"host": "smsc.test", "window": 10**400}, "options.window"),  # too big for a float: no 500
    ],
)
def test_a_number_that_is_not_finite_is_a_field_error(kind, options, field):
    with pytest.raises(kinds.Invalid) as refused:
        kinds.clean_options(kind, options)  # without secrets: the cross-field check does not run
    assert field in refused.value.fields


@pytest.mark.parametrize("literal", ["NaN", "Infinity"])
def test_the_api_refuses_them_with_422(client, world, literal):
    client.force_login(world.staff["tam"])
    body = '{"name": "acme-http", "kind": "http", "options": {"url": "https://sms.example.com", '
    body += f'"timeout_seconds": {literal}}}}}'
    response = client.post("/api/v1/staff/connectors", data=body, content_type="application/json")
    assert response.status_code == 422, response.content
    assert "options.timeout_seconds" in response.json()["errors"]
    assert not ConnectorConfig.objects.exists()
