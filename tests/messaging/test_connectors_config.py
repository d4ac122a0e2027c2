"""Connector configuration: options validated per kind, secrets never shown (pages, API, audit), one
default, the registry (account route → default → KONTOR_CONNECTOR; disabled or unavailable → the
messages wait in the queue), the staff pages and API, who may use them, and the audit rows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from kontor.audit.models import AuditEntry
from kontor.core.errors import ErrorCode, Forbidden, Invalid
from kontor.messaging.connectors import (
    HeldConnector,
    build,
    connector_for,
    forget_instances,
    get_connector,
    kinds,
)
from kontor.messaging.connectors.http import HttpConnector
from kontor.messaging.connectors.simulator import SimulatorConnector
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import AccountRoute, ConnectorConfig, Status
from kontor.messaging.services.connectors import create_connector, route_account, update_connector
from kontor.messaging.services.messages import send_message

pytestmark = pytest.mark.django_db

SECRETS = {
    "auth_token": "tok-SECRET-bearer-4711",
    "dlr_token": "dlr-SECRET-callback-4711",
}
SMPP_PASSWORD = "pw-S3cr"
HTTP_OPTIONS = {"url": "http://127.0.0.1:9/send", "auth": "bearer", "id_path": "id"}


@pytest.fixture(autouse=True)
def _fresh_instances():
    forget_instances()
    yield
    forget_instances()


@pytest.fixture
def tam(world):
    return world.staff["tam"]


def make_http(tam, name="acme-http", **extra: Any) -> ConnectorConfig:
    return create_connector(actor=tam, name=name, kind="http", options=HTTP_OPTIONS, secrets=dict(SECRETS), **extra)


def errors_of(exc: pytest.ExceptionInfo[Invalid]) -> dict[str, list[str]]:
    return exc.value.fields


# --- options per kind ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options", "secrets", "field"),
    [
        ("http", {}, {}, "options.url"),
        ("http", {"url": "ftp://example.com/x"}, {}, "options.url"),
        ("http", {"url": "http://"}, {}, "options.url"),
        ("http", {"url": "http://x.test", "method": "PUT"}, {}, "options.method"),
        ("http", {"url": "http://x.test", "timeout_seconds": 0}, {}, "options.timeout_seconds"),
        ("http", {"url": "http://x.test", "timeout_seconds": "10"}, {}, "options.timeout_seconds"),
        ("http", {"url": "http://x.test", "id_path": "a..b"}, {}, "options.id_path"),
        ("http", {"url": "http://x.test", "id_path": "a b"}, {}, "options.id_path"),
        ("http", {"url": "http://x.test", "dlr_status_map": {"D": "sent"}}, {}, "options.dlr_status_map"),
        ("http", {"url": "http://x.test", "dlr_status_map": ["D"]}, {}, "options.dlr_status_map"),
        ("http", {"url": "http://x.test", "extra_fields": {"a": {"b": 1}}}, {}, "options.extra_fields"),
        ("http", {"url": "http://x.test", "urll": "typo"}, {}, "options.urll"),
        ("http", {"url": "http://x.test", "auth": "bearer"}, {}, "secrets.auth_token"),
        ("http", {"url": "http://x.test", "auth": "basic"}, {"basic_password": "p"}, "options.auth_username"),
        ("http", {"url": "http://x.test", "auth": "basic", "auth_username": "u"}, {}, "secrets.basic_password"),
        ("http", {"url": "http://x.test", "success_value": "ok"}, {}, "options.success_value"),
        ("http", {"url": "http://x.test", "field_to": "-"}, {}, "options.field_to"),
        ("http", {"url": "http://x.test"}, {"dlr_token": "short"}, "secrets.dlr_token"),
        ("http", {"url": "http://x.test"}, {"password": "x"}, "secrets.password"),
        ("smpp", {"port": 2775}, {}, "options.host"),
        ("smpp", {"host": "smsc.test", "port": 70000}, {}, "options.port"),
        ("smpp", {"host": "smsc.test", "port": True}, {}, "options.port"),
        ("smpp", {"host": "smsc.test", "bind": "sideways"}, {}, "options.bind"),
        ("smpp", {"host": "smsc.test", "system_id": "x" * 16}, {}, "options.system_id"),
        ("smpp", {"host": "smsc.test", "registered_delivery": "yes"}, {}, "options.registered_delivery"),
        ("smpp", {"host": "smsc.test"}, {"password": "ninechars"}, "secrets.password"),
        ("smpp", {"host": "smsc.test", "url": "http://x.test"}, {}, "options.url"),
        ("http", {"url": "http://x.test", "extra_fields": {"a": "\x00"}}, {}, "options.extra_fields"),
        ("http", {"url": "http://x.test", "extra_fields": {"\ud800": "x"}}, {}, "options.extra_fields"),
        ("http", {"url": "http://x.test", "id_path": "a\x00"}, {}, "options.id_path"),
        ("http", {"url": "http://x.test"}, {"auth_token": "a\x00b"}, "secrets.auth_token"),
        ("simulator", {"dlr_seconds": 2}, {}, "options.dlr_seconds"),
        ("simulator", {}, {"auth_token": "x"}, "secrets.auth_token"),
    ],
)
def test_options_are_validated_per_kind(tam, kind, options, secrets, field):
    with pytest.raises(Invalid) as exc:
        create_connector(actor=tam, name="c1", kind=kind, options=options, secrets=secrets)
    assert field in errors_of(exc), errors_of(exc)
    assert not ConnectorConfig.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="connector.").exists()


def test_valid_options_are_stored_cleaned(tam):
    config = create_connector(
        actor=tam,
        name="acme-http",
        kind="http",
        options={
            "url": " https://sms.example.com/api ",
            "method": "post",
            "timeout_seconds": 2.5,
            "dlr_status_map": {"DeLiVrD ": "Delivered", "X": "ignore"},
            "extra_fields": {"account": 17},
            "success_path": "",
        },
    )
    assert config.options == {
        "url": "https://sms.example.com/api",
        "method": "POST",
        "timeout_seconds": 2.5,
        "dlr_status_map": {"delivrd": "delivered", "x": "ignore"},
        "extra_fields": {"account": "17"},
    }
    smpp = create_connector(
        actor=tam,
        name="telia-smpp",
        kind="smpp",
        options={"host": "smsc.test", "port": 2776, "system_id": "kontor", "registered_delivery": False},
        secrets={"password": SMPP_PASSWORD},
    )
    assert smpp.options["port"] == 2776 and smpp.secrets == {"password": SMPP_PASSWORD}
    assert kinds.effective("smpp", smpp.options)["enquire_link_seconds"] == 30


@pytest.mark.parametrize("name", ["", "Acme", "acme_http", "-acme", "a" * 41, "acme http", "ä"])
def test_names_are_slugs(tam, name):
    with pytest.raises(Invalid) as exc:
        create_connector(actor=tam, name=name, kind="simulator")
    assert "name" in errors_of(exc)


def test_names_are_unique_and_simulator_is_reserved(tam):
    make_http(tam)
    with pytest.raises(Invalid) as exc:
        make_http(tam)
    assert exc.value.code == ErrorCode.DUPLICATE
    with pytest.raises(Invalid) as exc:
        create_connector(actor=tam, name="simulator", kind="http", options=HTTP_OPTIONS)
    assert "name" in errors_of(exc)
    assert create_connector(actor=tam, name="simulator", kind="simulator").kind == "simulator"
    with pytest.raises(Invalid):
        create_connector(actor=tam, name="x", kind="carrier-pigeon")


def test_only_staff_who_manage_customers_configure(world):
    for user in (world.staff["csr"], world.staff["billing"], world.acme.master):
        with pytest.raises(Forbidden):
            create_connector(actor=user, name="x", kind="simulator")
    config = create_connector(actor=world.staff["admin"], name="x", kind="simulator")
    with pytest.raises(Forbidden):
        route_account(world.acme.account, config, actor=world.staff["csr"])
    with pytest.raises(Forbidden):
        update_connector(config, actor=world.acme.master, enabled=False)


# --- secrets ---------------------------------------------------------------------------------------


def test_secrets_are_write_only_in_the_service_and_audit(tam):
    config = make_http(tam)
    assert config.secret_state() == {"auth_token": "set", "dlr_token": "set"}
    update_connector(config, actor=tam, secrets={"auth_token": "tok-SECRET-rotated-0815"})
    update_connector(config, actor=tam, description="Main route")  # secrets left out: kept
    config.refresh_from_db()
    assert config.secrets == {"auth_token": "tok-SECRET-rotated-0815", "dlr_token": SECRETS["dlr_token"]}
    with pytest.raises(Invalid) as exc:  # bearer auth needs its token
        update_connector(config, actor=tam, secrets={"auth_token": None})
    assert "secrets.auth_token" in errors_of(exc)
    update_connector(config, actor=tam, secrets={"dlr_token": None})
    config.refresh_from_db()
    assert config.secret_state() == {"auth_token": "set"}
    entries = AuditEntry.objects.filter(action__startswith="connector.").order_by("id")
    assert [e.action for e in entries] == ["connector.create"] + ["connector.update"] * 3
    dumped = json.dumps([[e.before, e.after] for e in entries])
    assert "SECRET" not in dumped
    assert entries[0].after["secrets"] == {"auth_token": "set", "dlr_token": "set"}
    assert entries[3].before["secrets"] == {"auth_token": "set", "dlr_token": "set"}
    assert entries[3].after["secrets"] == {"auth_token": "set"}


def test_no_change_writes_no_audit_row(tam):
    config = make_http(tam)
    count = AuditEntry.objects.count()
    update_connector(config, actor=tam, options=dict(config.options), description="", secrets={})
    update_connector(config, actor=tam, secrets={"basic_password": None})  # clearing what is not set
    assert AuditEntry.objects.count() == count


def _no_secret_in(text: str) -> None:
    for value in (*SECRETS.values(), SMPP_PASSWORD):
        assert value not in text


def test_pages_never_render_secrets(client, world, tam):
    config = make_http(tam)
    smpp = create_connector(
        actor=tam, name="telia-smpp", kind="smpp", options={"host": "smsc.test"}, secrets={"password": SMPP_PASSWORD}
    )
    client.force_login(tam)
    pages = [
        reverse("messaging:connectors"),
        reverse("messaging:connector_edit", args=[config.pk]),
        reverse("messaging:connector_edit", args=[smpp.pk]),
        reverse("messaging:connector_enabled", args=[config.pk]),
        reverse("messaging:connector_routes", args=[world.acme.customer.pk]),
        reverse("staff:audit"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        _no_secret_in(response.content.decode())
    edit = client.get(reverse("messaging:connector_edit", args=[config.pk])).content.decode()
    assert "Bearer token (set)" in edit and "Basic auth password (not set)" in edit
    # A form re-rendered with an error does not echo the secret typed into it either.
    response = client.post(
        reverse("messaging:connector_edit", args=[config.pk]),
        {"enabled": "on", "url": "not a url", "auth": "bearer", "auth_token": "tok-SECRET-typed-1234"},
    )
    assert response.status_code == 200
    assert "tok-SECRET-typed-1234" not in response.content.decode()
    assert "An http:// or https:// URL" in response.content.decode()


def test_api_never_returns_secrets(client, world, tam):
    client.force_login(tam)
    response = client.post(
        "/api/v1/staff/connectors",
        data=json.dumps({"name": "acme-http", "kind": "http", "options": HTTP_OPTIONS, "secrets": SECRETS}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secrets"] == {"auth_token": "set", "basic_password": "not set", "dlr_token": "set"}
    assert body["dlr_path"] == "/api/v1/connectors/acme-http/dlr"
    pk = body["id"]
    for url in ("/api/v1/staff/connectors", f"/api/v1/staff/connectors/{pk}", "/api/v1/staff/audit?limit=200"):
        response = client.get(url)
        assert response.status_code == 200, url
        _no_secret_in(response.content.decode())
    response = client.patch(
        f"/api/v1/staff/connectors/{pk}",
        data=json.dumps({"secrets": {"dlr_token": None}, "enabled": False}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["secrets"]["dlr_token"] == "not set" and response.json()["enabled"] is False
    _no_secret_in(response.content.decode())


# --- one default -----------------------------------------------------------------------------------


def test_exactly_one_default(tam):
    a = create_connector(actor=tam, name="a", kind="simulator", is_default=True)
    b = create_connector(actor=tam, name="b", kind="simulator", is_default=True)
    a.refresh_from_db()
    assert (a.is_default, b.is_default) == (False, True)
    update_connector(a, actor=tam, is_default=True)
    assert list(ConnectorConfig.objects.filter(is_default=True).values_list("name", flat=True)) == ["a"]
    demoted = AuditEntry.objects.filter(action="connector.update", object_id=str(b.pk)).latest("id")
    assert (demoted.before["is_default"], demoted.after["is_default"]) == (True, False)
    update_connector(a, actor=tam, is_default=False)
    assert not ConnectorConfig.objects.filter(is_default=True).exists()


def test_the_database_refuses_a_second_default(tam):
    from django.db import IntegrityError, transaction

    create_connector(actor=tam, name="a", kind="simulator", is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectorConfig.objects.create(name="b", kind="simulator", is_default=True)


# --- the registry ----------------------------------------------------------------------------------


def test_without_configuration_the_simulator_carries_everything(world, settings):
    connector = connector_for(world.acme.account)
    assert isinstance(connector, SimulatorConnector) and connector.name == "simulator"
    assert get_connector("simulator") is connector
    settings.KONTOR_CONNECTOR = "nowhere"
    assert connector_for(world.acme.account).name == "simulator"
    with pytest.raises(KeyError):
        get_connector("nowhere")


def test_route_then_default_then_setting(world, tam, settings):
    sim2 = create_connector(actor=tam, name="sim-two", kind="simulator")
    settings.KONTOR_CONNECTOR = "sim-two"
    assert connector_for(world.acme.account).name == "sim-two"
    http = make_http(tam, is_default=True)
    assert isinstance(connector_for(world.acme.account), HttpConnector)
    route_account(world.acme.account, sim2, actor=tam)
    assert connector_for(world.acme.account).name == "sim-two"
    assert connector_for(world.acme.other_account).name == "acme-http"
    assert connector_for(world.globex.account).name == "acme-http"
    assert get_connector("acme-http").name == http.name
    route_account(world.acme.account, None, actor=tam)
    assert connector_for(world.acme.account).name == "acme-http"
    assert not AccountRoute.objects.exists()


def test_instances_are_cached_until_the_configuration_changes(tam):
    config = make_http(tam)
    first = get_connector("acme-http")
    assert get_connector("acme-http") is first
    update_connector(config, actor=tam, description="Renamed in words only")
    assert get_connector("acme-http") is first
    update_connector(config, actor=tam, options={**config.options, "timeout_seconds": 3})
    second = get_connector("acme-http")
    assert second is not first and isinstance(second, HttpConnector)
    assert second.options["timeout_seconds"] == 3
    update_connector(config, actor=tam, secrets={"auth_token": "tok-rotated-000000"})
    assert get_connector("acme-http") is not second


def test_disabled_unavailable_or_broken_connectors_hold_the_messages(world, tam, monkeypatch):
    config = create_connector(actor=tam, name="sim-two", kind="simulator", enabled=False, is_default=True)
    held = connector_for(world.acme.account)
    assert isinstance(held, HeldConnector) and held.name == "sim-two"
    with pytest.raises(ConnectionError, match="disabled"):
        held.submit(None)  # type: ignore[arg-type]
    smpp = create_connector(actor=tam, name="telia-smpp", kind="smpp", options={"host": "smsc.test"})
    monkeypatch.setattr(kinds, "unavailable", lambda kind: "SMPP is not installed here." if kind == "smpp" else "")
    unavailable = build(smpp)
    assert isinstance(unavailable, HeldConnector) and "not installed" in unavailable.reason
    ConnectorConfig.objects.filter(pk=config.pk).update(enabled=True, options={"url": "gopher://x"}, kind="http")
    config.refresh_from_db()
    broken = build(config)
    assert isinstance(broken, HeldConnector) and "misconfigured" in broken.reason


def test_a_message_for_a_disabled_connector_waits_and_is_not_sent_elsewhere(world, tam, pool):
    config = create_connector(actor=tam, name="sim-two", kind="simulator", enabled=False)
    route_account(world.acme.account, config, actor=tam)
    create_connector(actor=tam, name="sim-default", kind="simulator", is_default=True)
    message = send_message(world.acme.account, actor=world.acme.users["sender"], to="+46701234567", text="Hi")
    assert delivery.dispatch(message.pk) == "requeued"
    message.refresh_from_db()
    assert (message.status, message.connector, message.downstream_id) == (Status.QUEUED, "sim-two", "")
    assert "disabled" in message.events.latest("id").detail["error"]
    update_connector(config, actor=tam, enabled=True)
    assert delivery.dispatch(message.pk) == "accepted"
    message.refresh_from_db()
    assert message.connector == "sim-two" and message.downstream_id.startswith("sim-")


# --- staff pages -----------------------------------------------------------------------------------


def test_staff_add_edit_disable_and_route_on_the_pages(client, world, tam):
    client.force_login(tam)
    assert client.get(reverse("messaging:connector_add")).status_code == 200
    add = reverse("messaging:connector_add") + "?kind=http"
    assert client.get(add).status_code == 200
    response = client.post(
        add,
        {
            "name": "acme-http",
            "enabled": "on",
            "url": "https://sms.example.com/send",
            "auth": "bearer",
            "auth_token": "tok-from-the-form-1",
            "dlr_status_map": "DELIVRD = delivered\nX = expired",
            "timeout_seconds": "4",
        },
    )
    assert response.status_code == 302, response.content.decode()
    config = ConnectorConfig.objects.get(name="acme-http")
    assert config.options["dlr_status_map"] == {"delivrd": "delivered", "x": "expired"}
    assert config.options["timeout_seconds"] == 4 and config.secrets == {"auth_token": "tok-from-the-form-1"}
    # Edit with the secret left blank: kept.
    edit = reverse("messaging:connector_edit", args=[config.pk])
    response = client.post(edit, {"enabled": "on", "url": "https://sms.example.com/v2", "auth": "bearer"})
    assert response.status_code == 302
    config.refresh_from_db()
    assert config.options["url"] == "https://sms.example.com/v2" and config.secrets["auth_token"]
    # A bad status map line is an error beside its field.
    response = client.post(edit, {"enabled": "on", "url": "https://x.test", "dlr_status_map": "no equals sign"})
    assert response.status_code == 200 and "Line 1" in response.content.decode()
    # Disable (confirm, then post).
    toggle = reverse("messaging:connector_enabled", args=[config.pk]) + "?to=off"
    assert "wait in the queue" in client.get(toggle).content.decode()
    assert client.post(toggle).status_code == 302
    config.refresh_from_db()
    assert config.enabled is False
    assert client.post(toggle).status_code == 302  # twice: still off, not toggled back
    config.refresh_from_db()
    assert config.enabled is False
    # Route Acme's Sales account from the customer's page.
    routes = reverse("messaging:connector_routes", args=[world.acme.customer.pk])
    response = client.post(routes, {"account": world.acme.account.pk, "connector": "acme-http"})
    assert response.status_code == 302
    route = AccountRoute.objects.get()
    assert (route.account, route.customer, route.connector) == (world.acme.account, world.acme.customer, config)
    page = client.get(routes).content.decode()
    assert "disabled: messages wait" in page
    entry = AuditEntry.objects.get(action="connector.route")
    assert (entry.customer_id, entry.account_id) == (world.acme.customer.pk, world.acme.account.pk)
    assert (entry.before, entry.after) == ({"connector": None}, {"connector": "acme-http"})
    # Back to the default.
    assert client.post(routes, {"account": world.acme.account.pk, "connector": ""}).status_code == 302
    assert not AccountRoute.objects.exists()


def test_routes_page_refuses_another_customers_account_and_unknown_connectors(client, world, tam):
    make_http(tam)
    client.force_login(tam)
    routes = reverse("messaging:connector_routes", args=[world.acme.customer.pk])
    response = client.post(routes, {"account": world.globex.account.pk, "connector": "acme-http"}, follow=True)
    assert response.status_code == 200 and "No such account" in response.content.decode()
    response = client.post(routes, {"account": world.acme.account.pk, "connector": "nope"}, follow=True)
    assert "Choose one of the connectors" in response.content.decode()
    assert not AccountRoute.objects.exists()
    assert client.get(reverse("messaging:connector_routes", args=[987654321])).status_code == 404


def test_subscriber_lookup_leads_to_the_routes_page(client, world, tam):
    client.force_login(tam)
    response = client.get(reverse("messaging:connectors"), {"subscriber": world.acme.customer.subscriber_id})
    assert response.status_code == 302
    assert response["Location"] == reverse("messaging:connector_routes", args=[world.acme.customer.pk])
    response = client.get(reverse("messaging:connectors"), {"subscriber": "S999999999"})
    assert response.status_code == 200 and "No customer has the subscriber ID" in response.content.decode()


# --- staff API -------------------------------------------------------------------------------------


def call(client, method: str, url: str, body: Any = None, **extra: Any):
    kwargs: dict[str, Any] = dict(extra)
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(url, **kwargs)


def test_staff_api_routes_an_account(client, world, tam):
    config = make_http(tam)
    client.force_login(tam)
    base = f"/api/v1/staff/connectors/customers/{world.acme.customer.pk}/accounts"
    listed = call(client, "get", base)
    assert listed.status_code == 200
    assert {row["account_name"]: row["effective"] for row in listed.json()} == {
        "Sales": "simulator",
        "Support desk": "simulator",
    }
    url = f"{base}/{world.acme.account.pk}"
    response = call(client, "put", url, {"connector": "acme-http"})
    assert response.status_code == 200, response.content
    assert response.json()["connector"] == "acme-http" and response.json()["effective"] == "acme-http"
    assert call(client, "get", url).json()["connector"] == "acme-http"
    routed = call(client, "get", f"/api/v1/staff/connectors/{config.pk}/accounts").json()
    assert routed["count"] == 1 and routed["items"][0]["account_id"] == world.acme.account.pk
    response = call(client, "put", url, {"connector": "nope"})
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert "connector" in response.json()["errors"]
    # Globex's account through Acme's customer id: like a missing one.
    foreign = f"{base}/{world.globex.account.pk}"
    assert call(client, "put", foreign, {"connector": "acme-http"}).status_code == 404
    assert call(client, "put", url, {"connector": None}).json()["effective"] == "simulator"
    assert AccountRoute.objects.count() == 0
    assert AuditEntry.objects.filter(action="connector.route").count() == 2


def test_staff_api_validation_errors_are_422_with_fields(client, world, tam):
    client.force_login(tam)
    response = call(
        client,
        "post",
        "/api/v1/staff/connectors",
        {"name": "Bad Name", "kind": "http", "options": {"url": "ftp://x", "bogus": 1}},
    )
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    response = call(
        client, "post", "/api/v1/staff/connectors", {"name": "ok", "kind": "http", "options": {"url": "ftp://x"}}
    )
    assert response.status_code == 422 and "options.url" in response.json()["errors"]
    config = make_http(tam)
    response = call(client, "patch", f"/api/v1/staff/connectors/{config.pk}", {"enabled": None})
    assert response.status_code == 422 and "enabled" in response.json()["errors"]
    response = call(client, "patch", f"/api/v1/staff/connectors/{config.pk}", {"name": "renamed"})
    assert response.status_code == 422  # the name never changes
    assert call(client, "get", "/api/v1/staff/connectors/987654321").status_code == 404


# --- who may -------------------------------------------------------------------------------------


def _page_urls(world, config) -> list[str]:
    return [
        reverse("messaging:connectors"),
        reverse("messaging:connector_add"),
        reverse("messaging:connector_add") + "?kind=http",
        reverse("messaging:connector_edit", args=[config.pk]),
        reverse("messaging:connector_enabled", args=[config.pk]),
        reverse("messaging:connector_routes", args=[world.acme.customer.pk]),
    ]


def _api_calls(world, config) -> list[tuple[str, str, Any]]:
    account = f"/api/v1/staff/connectors/customers/{world.acme.customer.pk}/accounts/{world.acme.account.pk}"
    return [
        ("get", "/api/v1/staff/connectors", None),
        ("post", "/api/v1/staff/connectors", {"name": "x", "kind": "simulator"}),
        ("get", f"/api/v1/staff/connectors/{config.pk}", None),
        ("patch", f"/api/v1/staff/connectors/{config.pk}", {"enabled": False}),
        ("get", f"/api/v1/staff/connectors/{config.pk}/accounts", None),
        ("get", f"/api/v1/staff/connectors/customers/{world.acme.customer.pk}/accounts", None),
        ("get", account, None),
        ("put", account, {"connector": "acme-http"}),
    ]


@pytest.mark.parametrize("who", ["master", "administrator", "technician", "csr", "billing"])
def test_customers_and_other_staff_cannot_reach_pages_or_api(client, world, tam, who):
    config = make_http(tam)
    user = world.staff[who] if who in world.staff else world.acme.user(who)
    client.force_login(user)
    for url in _page_urls(world, config):
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"enabled": "on", "name": "y"}).status_code == 403, url
    for method, url, body in _api_calls(world, config):
        response = call(client, method, url, body)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied"), (method, url)
    client.logout()
    key = {"HTTP_AUTHORIZATION": f"Bearer {world.acme.key_secret}"}
    for method, url, body in _api_calls(world, config):
        response = call(client, method, url, body, **key)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied"), (method, url)
    config.refresh_from_db()
    assert config.enabled and ConnectorConfig.objects.count() == 1 and not AccountRoute.objects.exists()


@pytest.mark.parametrize("who", ["tam", "admin"])
def test_technical_account_managers_and_admins_may(client, world, tam, who):
    config = make_http(tam)
    client.force_login(world.staff[who])
    for url in _page_urls(world, config):
        assert client.get(url).status_code == 200, url
    for method, url, body in _api_calls(world, config):
        response = call(client, method, url, body)
        assert response.status_code in (200, 201), (method, url, response.content)


def test_a_connector_whose_options_no_longer_pass_can_still_be_switched_off(tam):
    config = make_http(tam)
    ConnectorConfig.objects.filter(pk=config.pk).update(options={"url": "gopher://old"})
    config.refresh_from_db()
    update_connector(config, actor=tam, enabled=False)
    config.refresh_from_db()
    assert config.enabled is False
    with pytest.raises(Invalid) as exc:  # but a change of its options is checked
        update_connector(config, actor=tam, options={"url": "gopher://still-bad"})
    assert "options.url" in errors_of(exc)


def test_api_bodies_with_nul_or_surrogates_are_422_not_500(client, tam):
    client.force_login(tam)
    for body in (
        '{"name": "n1", "kind": "http", "options": {"url": "http://x.test", "extra_fields": {"k": "\\u0000"}}}',
        '{"name": "n1", "kind": "http", "options": {"url": "http://x.test"}, "description": "\\ud800"}',
        '{"name": "n1", "kind": "http", "options": {"url": "http://x.test\\u0000"}}',
    ):
        response = client.post("/api/v1/staff/connectors", data=body, content_type="application/json")
        assert response.status_code == 422, (body, response.content)
    assert not ConnectorConfig.objects.exists()
