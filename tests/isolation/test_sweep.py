"""The cross-tenant sweep: every URL pattern and every API operation that takes an id is called by
Acme with Globex's ids, and must answer exactly as for a missing id (404) and change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from kontor.access.models import ApiKey, Role, User
from kontor.access.perms import CUSTOMER_PERMS
from kontor.access.services import create_api_key
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Account, CostCenter, CustomColumn, Customer, Membership, Office, Team
from tests.isolation.walk import (
    API_PARAM_MODELS,
    CATALOGUE,
    MISSING,
    STAFF_USER,
    ApiOperation,
    WebRoute,
    api_operations,
    example_body,
    iter_fills,
    side_objects,
    web_kwarg_model,
    web_routes,
)

pytestmark = pytest.mark.django_db

MIN_WEB_ROUTES = 20
MIN_API_OPERATIONS = 15


@pytest.fixture
def sides(world):
    return side_objects(world, world.acme), side_objects(world, world.globex)


def globex_state(world) -> dict[str, Any]:
    """Everything Globex owns, as plain values, to prove nothing of it changed."""
    g = world.globex.customer
    state: dict[str, Any] = {"customer": list(Customer.objects.filter(pk=g.pk).values())}
    for model in (Account, Office, Team, User, Membership, CustomColumn, ApiKey, Role, CostCenter):
        rows = model.objects.filter(customer_id=g.pk).order_by("pk").values()
        state[model.__name__] = [{k: v for k, v in row.items() if k != "last_used_at"} for row in rows]
    state["features"] = sorted(g.features.values_list("pk", flat=True))
    state["offices_of_users"] = sorted(
        User.additional_offices.through.objects.filter(user__customer=g).values_list("user_id", "office_id")
    )
    state["audit"] = AuditEntry.objects.filter(customer_id=g.pk).count()
    return state


# --- web -----------------------------------------------------------------------------------------


def id_routes() -> list[WebRoute]:
    return [r for r in web_routes() if r.int_kwargs]


def test_every_url_with_an_id_is_understood():
    unknown = [f"{r.name} ({r.route}): {k}" for r in id_routes() for k in r.int_kwargs if web_kwarg_model(r, k) is None]
    assert not unknown, (
        "URL patterns with an int kwarg the sweep does not know; add them to WEB_KWARG_MODELS in "
        "tests/isolation/walk.py:\n" + "\n".join(unknown)
    )


def _web_fills(route: WebRoute, acme: dict, globex: dict) -> list[tuple[dict, dict]]:
    """(kwargs with foreign ids, the same kwargs with missing ids) for every fill combination."""
    models_ = {k: web_kwarg_model(route, k) for k in route.int_kwargs}
    if None in models_.values() or STAFF_USER in models_.values():
        return []  # unknown (reported by the test above), or provider staff users: no customer's
    if route.kind != "staff" and set(models_.values()) <= CATALOGUE:
        return []  # the provider's catalogue is the same for every customer
    foreign = {k: globex[m].pk for k, m in models_.items()}
    own = {k: acme[m].pk for k, m in models_.items()}
    out = []
    for kwargs in iter_fills(route.int_kwargs, foreign, own):
        missing = {k: (MISSING if v == foreign[k] else v) for k, v in kwargs.items()}
        out.append((kwargs, missing))
    return out


def test_web_sweep_with_the_other_customers_ids(world, client, sides):
    acme, globex = sides
    before = globex_state(world)
    client.force_login(world.acme.master)
    problems: list[str] = []
    covered = 0
    for route in id_routes():
        if route.other_kwargs:
            continue
        for kwargs, missing_kwargs in _web_fills(route, acme, globex):
            url = reverse(route.name, kwargs=kwargs)
            missing_url = reverse(route.name, kwargs=missing_kwargs)
            covered += 1
            answers = {}
            for method in ("get", "post"):
                got = getattr(client, method)(url, {}).status_code
                missing = getattr(client, method)(missing_url, {}).status_code
                answers[method] = got
                # A customer user is refused every staff page, whatever the id. Elsewhere 405 means
                # the method is refused before any lookup (a POST-only or read-only page).
                allowed = (403,) if route.kind == "staff" else (404, 405)
                ok = got == missing and got in allowed
                if not ok:
                    problems.append(f"{method.upper()} {url} ({route.name}): {got}, missing id gives {missing}")
            if route.kind != "staff" and 404 not in answers.values():
                problems.append(f"{url} ({route.name}): no method reached the lookup: {answers}")
    assert covered >= MIN_WEB_ROUTES, f"only {covered} URL fills swept"
    assert not problems, "\n".join(problems)
    assert globex_state(world) == before


def test_web_pages_of_the_own_customer_do_answer(world, client, sides):
    """The sweep above proves something only if the same pages find Acme's own objects."""
    acme, _ = sides
    client.force_login(world.acme.master)
    found = 0
    for route in id_routes():
        labels = [web_kwarg_model(route, k) for k in route.int_kwargs]
        if route.other_kwargs or route.kind == "staff" or None in labels or set(labels) <= CATALOGUE:
            continue
        kwargs = {k: acme[label].pk for k, label in zip(route.int_kwargs, labels, strict=True)}
        status = client.get(reverse(route.name, kwargs=kwargs)).status_code
        assert status != 500, route.name
        found += status in (200, 302, 405)
    assert found >= MIN_WEB_ROUTES // 2


# --- API -----------------------------------------------------------------------------------------


def id_operations() -> list[ApiOperation]:
    return [op for op in api_operations() if op.path_params]


def test_every_api_path_parameter_is_understood():
    unknown = sorted(
        {f"{op.method} {op.path}: {p}" for op in id_operations() for p in op.path_params if p not in API_PARAM_MODELS}
    )
    assert not unknown, (
        "API path parameters the sweep does not know; add them to API_PARAM_MODELS in "
        "tests/isolation/walk.py:\n" + "\n".join(unknown)
    )


@pytest.fixture
def acme_key(world) -> str:
    issued = create_api_key(
        world.acme.account, actor=world.acme.master, name="Sweep", perms=[p.value for p in CUSTOMER_PERMS]
    )
    return issued.secret


def _call(client, op: ApiOperation, url: str, auth: dict, *, full: bool = False) -> tuple[int, dict, str]:
    body = example_body(op, full=full)
    kwargs: dict[str, Any] = dict(auth)
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    response = getattr(client, op.method.lower())(url, **kwargs)
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        payload = {"raw": raw[:200]}
    return response.status_code, payload, response.get("Content-Type", "")


def _api_sweep(client, world, sides, auth: dict) -> tuple[int, list[str]]:
    acme, globex = sides
    problems: list[str] = []
    covered = 0
    for op in id_operations():
        if not set(op.path_params) <= set(API_PARAM_MODELS):
            continue  # reported by test_every_api_path_parameter_is_understood
        models_ = {p: API_PARAM_MODELS[p] for p in op.path_params}
        foreign = {p: globex[m].pk for p, m in models_.items()}
        own = {p: acme[m].pk for p, m in models_.items()}
        for values in iter_fills(op.path_params, foreign, own):
            missing_values = {p: (MISSING if v == foreign[p] else v) for p, v in values.items()}
            url, missing_url = op.url(values), op.url(missing_values)
            covered += 1
            # A body with only the required fields, and one with every field filled in.
            for full in (False, True) if op.spec.get("requestBody") else (False,):
                got, body, ctype = _call(client, op, url, auth, full=full)
                missing, missing_body, _ = _call(client, op, missing_url, auth, full=full)
                want = (403, "permission_denied") if op.is_staff else (404, "not_found")
                if op.operation_id == "receive_connector_dlr":
                    # The providers' callback answers every name it will not serve alike (no name probing).
                    want = (401, "not_authenticated")
                if (got, body.get("code")) != want or (missing, missing_body.get("code")) != want:
                    problems.append(
                        f"{op.method} {url} ({op.operation_id}, full body: {full}): {got} {body.get('code')} "
                        f"{body.get('errors') or ''}; missing id: {missing} {missing_body.get('code')}; "
                        f"expected {want}"
                    )
                elif not ctype.startswith("application/problem+json"):
                    problems.append(f"{op.method} {url}: content type {ctype}")
    return covered, problems


def test_api_sweep_with_an_all_permissions_key(world, client, sides, acme_key):
    before = globex_state(world)
    covered, problems = _api_sweep(client, world, sides, {"HTTP_AUTHORIZATION": f"Bearer {acme_key}"})
    assert covered >= MIN_API_OPERATIONS, f"only {covered} operation fills swept"
    assert not problems, "\n".join(problems)
    assert globex_state(world) == before


def test_api_sweep_with_the_master_session(world, client, sides):
    before = globex_state(world)
    client.force_login(world.acme.master)
    covered, problems = _api_sweep(client, world, sides, {})
    assert covered >= MIN_API_OPERATIONS
    assert not problems, "\n".join(problems)
    assert globex_state(world) == before


def test_api_reads_of_own_objects_succeed(world, client, sides, acme_key):
    """Guards the sweep: the same GET operations find Acme's own objects with the same key."""
    acme, _ = sides
    auth = {"HTTP_AUTHORIZATION": f"Bearer {acme_key}"}
    found = 0
    for op in id_operations():
        if op.method != "GET" or op.is_staff or not set(op.path_params) <= set(API_PARAM_MODELS):
            continue
        values = {p: acme[API_PARAM_MODELS[p]].pk for p in op.path_params}
        status, body, _ = _call(client, op, op.url(values), auth)
        assert status != 500, (op.path, body)
        found += status == 200
    assert found >= 3


def test_staff_operations_refuse_api_keys(world, client, acme_key):
    for op in api_operations():
        if not op.is_staff or op.path_params:
            continue
        status, body, _ = _call(client, op, op.path, {"HTTP_AUTHORIZATION": f"Bearer {acme_key}"})
        assert (status, body.get("code")) == (403, "permission_denied"), op.path


# --- accounts of one customer ------------------------------------------------------------------


def test_one_accounts_data_is_not_visible_from_another_account(world, client):
    """API keys and custom columns of Sales are invisible to a key of Support desk, and vice versa."""
    a = world.acme
    desk_key = create_api_key(a.other_account, actor=a.master, name="Desk", perms=[p.value for p in CUSTOMER_PERMS])
    desk = {"HTTP_AUTHORIZATION": f"Bearer {desk_key.secret}"}
    sales = {"HTTP_AUTHORIZATION": f"Bearer {a.key_secret}"}
    ops = {op.operation_id: op for op in api_operations()}
    key_list = next(op for op in ops.values() if op.method == "GET" and op.path.endswith("/api-keys"))
    status, body, _ = _call(client, key_list, key_list.path, desk)
    assert status == 200
    ids = {item["id"] for item in body["items"]}
    assert a.key.pk not in ids and desk_key.key.pk in ids
    key_ops = [op for op in ops.values() if op.path_params in (("key_id",), ("api_key_id",))]
    assert key_ops, "no API-key operation with an id: the sweep below would check nothing"
    for op in key_ops:
        status, body, _ = _call(client, op, op.url({op.path_params[0]: a.key.pk}), desk)
        assert (status, body.get("code")) == (404, "not_found"), op.path
    # Columns of an account are shown only through that account.
    get_account = next(
        op
        for op in ops.values()
        if op.method == "GET" and op.path_params == ("account_id",) and op.path.endswith("{account_id}")
    )
    status, body, _ = _call(client, get_account, get_account.url({"account_id": a.other_account.pk}), desk)
    assert status == 200
    assert body.get("custom_columns") == []
    status, body, _ = _call(client, get_account, get_account.url({"account_id": a.account.pk}), sales)
    assert status == 200 and [c["name"] for c in body["custom_columns"]] == ["Name", "Surname"]
    # A key is bound to its account: the other account is not found at all.
    status, body, _ = _call(client, get_account, get_account.url({"account_id": a.other_account.pk}), sales)
    assert (status, body.get("code")) == (404, "not_found")


def test_one_accounts_data_is_not_visible_from_another_account_on_the_web(world, client):
    """The administrator works in both of Acme's accounts; what Sales holds never shows in Support desk."""
    a = world.acme
    desk_key = create_api_key(a.other_account, actor=a.master, name="Desk key", perms=["send_sms"])
    client.force_login(a.users["administrator"])
    switch = reverse("tenancy:switch")
    assert client.post(switch, {"account": str(a.other_account.pk)}).status_code == 302
    page = client.get(reverse("access:api_keys"))
    assert page.status_code == 200
    assert desk_key.key.prefix.encode() in page.content
    assert a.key.prefix.encode() not in page.content
    revoke = reverse("access:api_key_revoke", kwargs={"pk": a.key.pk})
    assert client.get(revoke).status_code == 404
    assert client.post(revoke).status_code == 404
    a.key.refresh_from_db()
    assert a.key.revoked_at is None
    # Back in Sales, the same pages show the Sales key and not the desk key.
    assert client.post(switch, {"account": str(a.account.pk)}).status_code == 302
    page = client.get(reverse("access:api_keys"))
    assert a.key.prefix.encode() in page.content
    assert desk_key.key.prefix.encode() not in page.content
    # A user without a membership in Support desk cannot switch there at all.
    client.force_login(a.users["sender"])
    assert client.post(switch, {"account": str(a.other_account.pk)}).status_code == 404
    assert client.post(switch, {"account": str(world.globex.account.pk)}).status_code == 404
