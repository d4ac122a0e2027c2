"""The same-customer sweep: accounts keep data apart inside one customer too. A key bound to Acme's
Sales account, holding every permission, and a session user who is a member of Sales only, call every
API operation (and the session user every web page) with the ids of Acme's *other* account and of
objects living in it: each must answer like a missing id (404) or a refusal (403), never list them,
and change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.apps import apps
from django.urls import reverse

from kontor.access.models import ApiKey, Role, User
from kontor.access.perms import CUSTOMER_PERMS
from kontor.access.services import create_api_key, create_user
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Account, CustomColumn, Membership
from kontor.tenancy.services import ColumnSpec, update_account
from tests.isolation.walk import (
    API_PARAM_MODELS,
    STAFF_USER,
    api_operations,
    example_body,
    side_objects,
    web_kwarg_model,
    web_routes,
)

pytestmark = pytest.mark.django_db

ALL = [p.value for p in CUSTOMER_PERMS]
# What lives inside one account (or names it); everything else is the customer's and shared.
ACCOUNT_BOUND = {
    "tenancy.Account",
    "access.ApiKey",
    "tenancy.CustomColumn",
    "tenancy.Membership",
    "audit.AuditEntry",
    "ledger.Wallet",
}
MIN_API_FILLS = 10
MIN_WEB_FILLS = 8


class Desk:
    """Objects of Acme's second account ("Support desk")."""

    def __init__(self, world: Any) -> None:
        a = world.acme
        self.account = a.other_account
        update_account(
            self.account,
            actor=a.master,
            custom_columns=[ColumnSpec(name="Desk secret"), ColumnSpec(name="Desk code", type="number")],
        )
        self.columns = list(CustomColumn.objects.filter(account=self.account).order_by("position"))
        self.key = create_api_key(self.account, actor=a.master, name="Desk key", perms=["send_sms"]).key
        self.membership = Membership.objects.get(account=self.account, user=a.users["administrator"])
        self.entry = AuditEntry.objects.filter(account_id=self.account.pk).order_by("-id").first()
        wallet = apps.get_model("ledger", "Wallet")
        self.wallet = wallet.objects.get_or_create(kind="pool", unit="SMS", customer=a.customer, account=self.account)[
            0
        ]
        assert self.entry is not None and len(self.columns) == 2

    def objects(self) -> dict[str, Any]:
        return {
            "tenancy.Account": self.account,
            "access.ApiKey": self.key,
            "tenancy.CustomColumn": self.columns[0],
            "tenancy.Membership": self.membership,
            "audit.AuditEntry": self.entry,
            "ledger.Wallet": self.wallet,
        }

    def state(self) -> dict[str, Any]:
        pk = self.account.pk
        wallet = apps.get_model("ledger", "Wallet")
        return {
            "account": list(Account.objects.filter(pk=pk).values()),
            "columns": list(CustomColumn.objects.filter(account_id=pk).order_by("pk").values()),
            "keys": [
                {k: v for k, v in row.items() if k != "last_used_at"}
                for row in ApiKey.objects.filter(account_id=pk).order_by("pk").values()
            ],
            "members": list(Membership.objects.filter(account_id=pk).order_by("pk").values()),
            "wallets": list(wallet.objects.filter(account_id=pk).order_by("pk").values()),
        }


@pytest.fixture
def desk(world) -> Desk:
    return Desk(world)


@pytest.fixture
def solo(world) -> User:
    """An Administrator of Sales only: every permission there, none in Support desk."""
    admin = Role.objects.get(customer=None, slug="administrator")
    user = create_user(
        world.acme.customer,
        actor=world.acme.master,
        first_name="Solo",
        last_name="Admin",
        email="solo@acme.test",
        memberships=[(world.acme.account, admin)],
        send_welcome=False,
    )
    return user


def _call(client, method: str, url: str, body: Any, auth: dict) -> tuple[int, dict]:
    kwargs: dict[str, Any] = dict(auth)
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    response = getattr(client, method.lower())(url, **kwargs)
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        payload = {"raw": raw[:200]}
    return response.status_code, payload


def _api_fills(world, desk: Desk, *, wallets: bool = False) -> list[tuple[Any, str]]:
    """(operation, url) with every account-bound path parameter naming Support desk's object and the
    other parameters naming Acme's own (customer-wide) objects. The wallet operations only with
    `wallets`, or only them with wallets="only"."""
    own, theirs = side_objects(world, world.acme), desk.objects()
    out = []
    for op in api_operations():
        if op.is_staff or not op.path_params or not set(op.path_params) <= set(API_PARAM_MODELS):
            continue
        labels = {p: API_PARAM_MODELS[p] for p in op.path_params}
        if not set(labels.values()) & ACCOUNT_BOUND or STAFF_USER in labels.values():
            continue
        is_wallet = "ledger.Wallet" in labels.values()
        if (is_wallet and not wallets) or (wallets == "only" and not is_wallet):
            continue
        values = {p: (theirs[m].pk if m in ACCOUNT_BOUND else own[m].pk) for p, m in labels.items()}
        out.append((op, op.url(values)))
    return out


def _api_sweep(
    client, world, desk: Desk, auth: dict, allowed: set[tuple[int, str]], wallets: Any = False
) -> tuple[int, list[str]]:
    problems, covered = [], 0
    for op, url in _api_fills(world, desk, wallets=wallets):
        for full in (False, True) if op.spec.get("requestBody") else (False,):
            covered += 1
            status, body = _call(client, op.method, url, example_body(op, full=full), auth)
            if (status, body.get("code")) not in allowed:
                problems.append(f"{op.method} {url} ({op.operation_id}, full: {full}): {status} {body}")
    return covered, problems


def test_api_key_of_one_account_cannot_reach_the_other(world, client, desk):
    secret = create_api_key(world.acme.account, actor=world.acme.master, name="Sales all", perms=ALL).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    before = desk.state()
    covered, problems = _api_sweep(client, world, desk, auth, {(404, "not_found")})
    assert covered >= MIN_API_FILLS, covered
    assert not problems, "\n".join(problems)
    assert desk.state() == before


def test_api_key_of_one_account_cannot_reach_the_others_wallets(world, client, desk):
    secret = create_api_key(world.acme.account, actor=world.acme.master, name="Sales all", perms=ALL).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    before = desk.state()
    covered, problems = _api_sweep(client, world, desk, auth, {(404, "not_found")}, wallets="only")
    assert covered >= 3, covered
    assert not problems, "\n".join(problems)
    assert desk.state() == before


def test_api_session_member_of_one_account_cannot_reach_the_other(world, client, desk, solo):
    client.force_login(solo)
    before = desk.state()
    refused = {(404, "not_found"), (403, "permission_denied")}
    covered, problems = _api_sweep(client, world, desk, {}, refused, wallets=True)
    assert covered >= MIN_API_FILLS, covered
    assert not problems, "\n".join(problems)
    assert desk.state() == before


def _lists_show_nothing_of_the_desk(client, world, desk: Desk, auth: dict) -> None:
    def items(path: str, **params: Any) -> list[dict]:
        status, body = _call(
            client, "GET", f"/api/v1{path}?{'&'.join(f'{k}={v}' for k, v in params.items())}", None, auth
        )
        assert status == 200, (path, body)
        return body["items"]

    accounts = items("/accounts", limit=200)
    assert desk.account.pk not in {a["id"] for a in accounts}
    assert all(c["name"] not in {"Desk secret", "Desk code"} for a in accounts for c in a["custom_columns"])
    assert desk.key.pk not in {k["id"] for k in items("/api-keys", limit=200)}
    audit = items("/audit", limit=200)
    assert audit and all(e["account_id"] in (None, world.acme.account.pk) for e in audit)
    assert items("/users", account_id=desk.account.pk) == []
    users = items("/users", limit=200)
    assert users and all(m["account_id"] != desk.account.pk for u in users for m in u["memberships"])


def _wallets_show_nothing_of_the_desk(client, desk: Desk, auth: dict) -> None:
    status, body = _call(client, "GET", "/api/v1/credits/wallets?limit=200", None, auth)
    assert status == 200, body
    assert desk.wallet.pk not in {w["id"] for w in body["items"]}


def test_api_key_lists_nothing_of_the_other_account(world, client, desk):
    secret = create_api_key(world.acme.account, actor=world.acme.master, name="Sales all", perms=ALL).secret
    _lists_show_nothing_of_the_desk(client, world, desk, {"HTTP_AUTHORIZATION": f"Bearer {secret}"})


def test_api_key_lists_no_wallet_of_the_other_account(world, client, desk):
    secret = create_api_key(world.acme.account, actor=world.acme.master, name="Sales all", perms=ALL).secret
    _wallets_show_nothing_of_the_desk(client, desk, {"HTTP_AUTHORIZATION": f"Bearer {secret}"})


def test_api_session_lists_nothing_of_the_other_account(world, client, desk, solo):
    client.force_login(solo)
    _wallets_show_nothing_of_the_desk(client, desk, {})
    status, body = _call(client, "GET", "/api/v1/accounts", None, {})
    assert status == 200 and [a["id"] for a in body["items"]] == [world.acme.account.pk]
    status, body = _call(client, "GET", "/api/v1/audit?limit=200", None, {})
    assert status == 200 and all(e["account_id"] in (None, world.acme.account.pk) for e in body["items"])


def test_body_ids_of_the_other_account_are_refused(world, client, desk):
    """Ids in a body are resolved like ids in a path: the other account is no such account."""
    secret = create_api_key(world.acme.account, actor=world.acme.master, name="Sales all", perms=ALL).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    users = User.objects.count()
    sender = Role.objects.get(customer=None, slug="sender")
    status, body = _call(
        client,
        "POST",
        "/api/v1/users",
        {
            "first_name": "Side",
            "last_name": "Door",
            "email": "side@acme.test",
            "memberships": [{"account_id": desk.account.pk, "role_id": sender.pk}],
        },
        auth,
    )
    assert (status, body.get("code")) == (422, "validation_error"), body
    assert "memberships.0.account_id" in body["errors"]
    assert User.objects.count() == users


def test_body_wallet_ids_of_the_other_account_are_refused(world, client, desk):
    secret = create_api_key(world.acme.account, actor=world.acme.master, name="Sales all", perms=ALL).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    own_pool = apps.get_model("ledger", "Wallet").objects.get_or_create(
        kind="pool", unit="SMS", customer=world.acme.customer, account=world.acme.account
    )[0]
    before = desk.state()
    status, body = _call(
        client,
        "POST",
        "/api/v1/credits/transfers",
        {"from_wallet_id": desk.wallet.pk, "to_wallet_id": own_pool.pk, "amount": 1},
        auth,
    )
    assert status in (403, 404, 422), body
    assert desk.state() == before


# --- web -----------------------------------------------------------------------------------------


def _web_fills(world, desk: Desk) -> list[tuple[str, str]]:
    own, theirs = side_objects(world, world.acme), desk.objects()
    out = []
    for route in web_routes():
        if route.kind == "staff" or not route.int_kwargs or route.other_kwargs:
            continue
        labels = {k: web_kwarg_model(route, k) for k in route.int_kwargs}
        if None in labels.values() or not set(labels.values()) & ACCOUNT_BOUND:
            continue
        kwargs = {k: (theirs[m].pk if m in ACCOUNT_BOUND else own[m].pk) for k, m in labels.items()}
        out.append((route.name, reverse(route.name, kwargs=kwargs)))
    return out


def test_web_member_of_one_account_cannot_reach_the_other(world, client, desk, solo):
    client.force_login(solo)
    before = desk.state()
    problems, covered = [], 0
    for name, url in _web_fills(world, desk):
        covered += 1
        for method in ("get", "post"):
            status = getattr(client, method)(url, {}).status_code
            # 405: the method is refused before any lookup (a POST-only or a read-only page).
            if status not in (403, 404, 405):
                problems.append(f"{method.upper()} {url} ({name}): {status}")
    assert covered >= MIN_WEB_FILLS, covered
    assert not problems, "\n".join(problems)
    assert desk.state() == before
    # The switcher offers, and accepts, only the user's own accounts.
    assert client.post(reverse("tenancy:switch"), {"account": str(desk.account.pk)}).status_code == 404


def test_web_lists_show_nothing_of_the_other_account(world, client, desk, solo):
    client.force_login(solo)
    accounts = client.get(reverse("tenancy:accounts"))
    assert accounts.status_code == 200
    assert b"Support desk" not in accounts.content
    keys = client.get(reverse("access:api_keys"))
    assert keys.status_code == 200 and desk.key.prefix.encode() not in keys.content
    log = client.get(reverse("audit:log"))
    assert log.status_code == 200
    shown = {e.pk for e in log.context["table"].data}
    assert desk.entry.pk not in shown
    assert not AuditEntry.objects.filter(pk__in=shown, account_id=desk.account.pk).exists()
    home = client.get(reverse("web:home"))
    assert all(e.account_id != desk.account.pk for e in home.context["recent"])


def test_the_sweep_reaches_the_own_account(world, client, desk, solo):
    """Guards the sweeps above: the same pages and operations find Sales' own objects."""
    client.force_login(solo)
    sales = world.acme.account
    assert client.get(reverse("tenancy:account_detail", args=[sales.pk])).status_code == 200
    status, body = _call(client, "GET", f"/api/v1/accounts/{sales.pk}", None, {})
    assert status == 200 and [c["name"] for c in body["custom_columns"]] == ["Name", "Surname"]
    key = create_api_key(sales, actor=world.acme.master, name="Sales all", perms=ALL)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}
    assert _call(client, "GET", f"/api/v1/accounts/{sales.pk}", None, auth)[0] == 200
    assert (
        _call(
            client,
            "GET",
            f"/api/v1/audit/{AuditEntry.objects.get(action='api_key.create', object_id=str(key.key.pk)).pk}",
            None,
            auth,
        )[0]
        == 200
    )
