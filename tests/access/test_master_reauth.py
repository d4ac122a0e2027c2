"""Issue 8 §4.1 on the web: master status, another master's email and their enablement need the signed-in
master to type their password again; a wrong or missing password changes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.access.models import User

pytestmark = pytest.mark.django_db


def edit_data(user: User, **changes: object) -> dict:
    data = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "phone": user.phone,
        "time_zone": user.time_zone,
        "is_master": "on" if user.is_master else "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


@pytest.mark.parametrize("password", [None, "wrong password"])
def test_master_changes_need_the_password(world, client, second_master, password):
    client.force_login(world.acme.master)
    extra = {} if password is None else {"current_password": password}
    sender = world.acme.users["sender"]
    # Grant master rights.
    response = client.post(reverse("access:user_edit", args=[sender.pk]), edit_data(sender, is_master="on", **extra))
    assert response.status_code == 200 and "current_password" in response.context["form"].errors
    assert not User.objects.get(pk=sender.pk).is_master
    # Remove them, or change another master's email.
    edit = reverse("access:user_edit", args=[second_master.pk])
    response = client.post(edit, edit_data(second_master, is_master="", **extra))
    assert response.status_code == 200 and "current_password" in response.context["form"].errors
    response = client.post(edit, edit_data(second_master, email="evil@attacker.test", **extra))
    assert response.status_code == 200 and "current_password" in response.context["form"].errors
    assert User.objects.get(pk=second_master.pk).email == "max@acme.test"
    assert User.objects.get(pk=second_master.pk).is_master
    # Create a master user.
    data = {"first_name": "New", "last_name": "Master", "email": "newm@acme.test", "time_zone": "UTC"}
    response = client.post(reverse("access:user_add"), {**data, "is_master": "on", **extra})
    assert response.status_code == 200 and "current_password" in response.context["form"].errors
    assert not User.objects.filter(email="newm@acme.test").exists()
    # Disable another master.
    disable = reverse("access:user_disable", args=[second_master.pk])
    assert b"current_password" in client.get(disable).content
    response = client.post(disable, extra)
    assert response.status_code == 200 and b"not correct" in response.content
    assert User.objects.get(pk=second_master.pk).is_active


def test_with_the_password_they_go_through(world, client, second_master):
    client.force_login(world.acme.master)
    ok = {"current_password": world.password}
    edit = reverse("access:user_edit", args=[second_master.pk])
    assert client.post(edit, edit_data(second_master, email="max2@acme.test", **ok)).status_code == 302
    assert User.objects.get(pk=second_master.pk).email == "max2@acme.test"
    assert client.post(reverse("access:user_disable", args=[second_master.pk]), ok).status_code == 302
    assert not User.objects.get(pk=second_master.pk).is_active
    assert client.post(reverse("access:user_enable", args=[second_master.pk]), ok).status_code == 302
    second_master.refresh_from_db()
    assert client.post(edit, edit_data(second_master, is_master="", **ok)).status_code == 302
    assert not User.objects.get(pk=second_master.pk).is_master
    data = {"first_name": "New", "last_name": "Master", "email": "newm@acme.test", "time_zone": "UTC"}
    assert client.post(reverse("access:user_add"), {**data, "is_master": "on", **ok}).status_code == 302
    assert User.objects.get(email="newm@acme.test").is_master


def test_ordinary_changes_need_no_password(world, client):
    client.force_login(world.acme.master)
    sender = world.acme.users["sender"]
    response = client.post(reverse("access:user_edit", args=[sender.pk]), edit_data(sender, first_name="Sam"))
    assert response.status_code == 302
    assert client.post(reverse("access:user_disable", args=[sender.pk])).status_code == 302
    assert not User.objects.get(pk=sender.pk).is_active
