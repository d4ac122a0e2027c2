"""Issue 8 §4.1 through the API: a signed-in master's session needs its password again to create a master,
grant or remove master rights, change another master's email, or enable/disable another master, just
as the pages ask; a wrong or missing password is 403 `reauthentication_required` and changes nothing."""

from __future__ import annotations

import json

import pytest

from kontor.access.models import User
from tests.api.conftest import problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(client, world):
    client.force_login(world.acme.master)

    def call(method: str, path: str, body: dict | None = None):
        kwargs = {"data": "" if body is None else json.dumps(body), "content_type": "application/json"}
        return getattr(client, method)(f"/api/v1{path}", **kwargs)

    return call


NEW_MASTER = {"first_name": "New", "last_name": "Master", "email": "newm@acme.test", "is_master": True}


@pytest.mark.parametrize("password", [None, "wrong password"])
def test_master_changes_from_a_session_need_the_password(world, session, second_master, password):
    extra = {} if password is None else {"current_password": password}
    sender = world.acme.users["sender"]
    code = "reauthentication_required"
    problem(session("post", "/users", {**NEW_MASTER, **extra}), 403, code)
    problem(session("patch", f"/users/{sender.pk}", {"is_master": True, **extra}), 403, code)
    problem(session("patch", f"/users/{second_master.pk}", {"is_master": False, **extra}), 403, code)
    problem(session("patch", f"/users/{second_master.pk}", {"email": "evil@attacker.test", **extra}), 403, code)
    problem(session("post", f"/users/{second_master.pk}/disable", extra or None), 403, code)
    assert not User.objects.filter(email="newm@acme.test").exists()
    assert not User.objects.get(pk=sender.pk).is_master
    second_master.refresh_from_db()
    assert second_master.is_master and second_master.is_active and second_master.email == "max@acme.test"


def test_with_the_password_the_same_changes_go_through(world, session, second_master):
    ok = {"current_password": world.password}
    assert session("post", "/users", {**NEW_MASTER, **ok}).status_code == 201
    assert session("patch", f"/users/{second_master.pk}", {"email": "max2@acme.test", **ok}).status_code == 200
    assert session("post", f"/users/{second_master.pk}/disable", ok).status_code == 200
    assert session("post", f"/users/{second_master.pk}/enable", ok).status_code == 200
    second_master.refresh_from_db()
    assert second_master.email == "max2@acme.test" and second_master.is_active


def test_ordinary_changes_need_no_password(world, session, second_master):
    sender = world.acme.users["sender"]
    assert session("patch", f"/users/{sender.pk}", {"first_name": "Sam"}).status_code == 200
    assert session("patch", f"/users/{sender.pk}", {"email": "sam@acme.test"}).status_code == 200
    assert session("post", f"/users/{sender.pk}/disable").status_code == 200
    assert session("post", f"/users/{sender.pk}/enable").status_code == 200
    # A master's own email is theirs to change (the page asks nothing either).
    master = world.acme.master
    assert session("patch", f"/users/{master.pk}", {"email": "mia2@acme.test"}).status_code == 200
