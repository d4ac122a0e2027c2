"""Users and memberships through the API."""

from __future__ import annotations

from django.core import mail

from kontor.access.models import Role, User
from kontor.tenancy.models import Membership
from tests.api.conftest import Api, audit_count, problem


def role(slug):
    return Role.objects.get(customer=None, slug=slug)


def test_list_filters(world, acme):
    body = acme.get("/users").json()
    assert body["count"] == 7
    assert all(u["email"].endswith("@acme.test") for u in body["items"])
    emails = [u["email"] for u in acme.get("/users", {"q": "sender"}).json()["items"]]
    assert emails == ["sender@acme.test"]
    # The key works in Sales: the other account of the customer filters to nothing for it...
    assert acme.get("/users", {"account_id": world.acme.other_account.pk}).json()["count"] == 0
    # ...while a master user, who reaches every account, finds who works there.
    client = acme.client
    client.force_login(world.acme.master)
    admin_only = Api(client).get("/users", {"account_id": world.acme.other_account.pk}).json()["items"]
    assert [u["email"] for u in admin_only] == ["administrator@acme.test"]
    techs = acme.get("/users", {"role_id": role("technician").pk}).json()["items"]
    assert [u["email"] for u in techs] == ["technician@acme.test"]
    # Another customer's account filters to nothing, never to their users.
    assert acme.get("/users", {"account_id": world.globex.account.pk}).json()["count"] == 0
    assert acme.get("/users", {"active": "false"}).json()["count"] == 0


def test_read_one_user(world, acme):
    user = world.acme.users["office_credit_manager"]
    body = acme.get(f"/users/{user.pk}").json()
    assert body["primary_office_id"] == world.acme.office.pk
    assert body["additional_office_ids"] == [world.acme.branch.pk]
    assert body["memberships"] == [
        {
            "account_id": world.acme.account.pk,
            "account_name": "Sales",
            "role_id": role("office_credit_manager").pk,
            "role_name": "Office credit manager",
        }
    ]
    problem(acme.get(f"/users/{world.globex.master.pk}"), 404, "not_found")


def test_create_user_with_memberships(world, client, django_capture_on_commit_callbacks):
    client.force_login(world.acme.master)  # a session reaches both accounts; a key only its own
    with django_capture_on_commit_callbacks(execute=True):
        response = Api(client).post(
            "/users",
            {
                "first_name": "Nina",
                "last_name": "New",
                "email": "Nina@Acme.test",
                "phone": "070-123 45 67",
                "primary_office_id": world.acme.office.pk,
                "additional_office_ids": [world.acme.branch.pk],
                "team_id": world.acme.team.pk,
                "memberships": [
                    {"account_id": world.acme.account.pk, "role_id": role("sender").pk},
                    {"account_id": world.acme.other_account.pk, "role_id": role("read_only").pk},
                ],
            },
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "nina@acme.test"
    assert body["phone"] == "+46701234567"
    assert body["time_zone"] == "Europe/Stockholm"
    assert {m["account_name"]: m["role_name"] for m in body["memberships"]} == {
        "Sales": "Sender",
        "Support desk": "Read-only",
    }
    assert audit_count("user.create", body["id"]) == 1
    assert audit_count("membership.create") == 2
    assert [m.to for m in mail.outbox] == [["nina@acme.test"]]


def test_create_user_bad_input_changes_nothing(world, acme, django_capture_on_commit_callbacks):
    before = (User.objects.count(), Membership.objects.count())
    body = problem(
        acme.post(
            "/users",
            {
                "first_name": "",
                "last_name": "X",
                "email": "not-an-email",
                "phone": "12",
                "time_zone": "Mars/Olympus",
            },
        ),
        422,
        "validation_error",
    )
    assert {"first_name", "email", "phone", "time_zone"} <= set(body["errors"])
    body = problem(
        acme.post(
            "/users",
            {
                "first_name": "A",
                "last_name": "B",
                "email": "ab@acme.test",
                "primary_office_id": world.globex.office.pk,
                "additional_office_ids": [world.globex.branch.pk],
                "team_id": world.globex.team.pk,
                "memberships": [{"account_id": world.globex.account.pk, "role_id": 0}],
            },
        ),
        422,
        "validation_error",
    )
    assert set(body["errors"]) == {
        "primary_office_id",
        "additional_office_ids",
        "team_id",
        "memberships.0.account_id",
        "memberships.0.role_id",
    }
    taken = acme.post("/users", {"first_name": "A", "last_name": "B", "email": "SENDER@acme.test"})
    assert problem(taken, 422, "duplicate")["errors"] == {"email": ["A user with this email already exists."]}
    assert (User.objects.count(), Membership.objects.count()) == before
    assert audit_count("user.create") == 0
    assert mail.outbox == []


def test_master_role_cannot_be_given_as_membership(world, acme):
    count = User.objects.count()
    body = problem(
        acme.post(
            "/users",
            {
                "first_name": "A",
                "last_name": "B",
                "email": "ab@acme.test",
                "memberships": [{"account_id": world.acme.account.pk, "role_id": role("master").pk}],
            },
        ),
        422,
        "validation_error",
    )
    assert "memberships" in body["errors"]
    assert User.objects.count() == count


def test_granting_more_than_you_have_is_403(world, client):
    tech = world.acme.users["administrator"]
    # An administrator of Sales cannot create a master user.
    client.force_login(tech)
    response = Api(client).post(
        "/users", {"first_name": "M", "last_name": "M", "email": "m@acme.test", "is_master": True}
    )
    problem(response, 403, "permission_denied")
    assert not User.objects.filter(email="m@acme.test").exists()


def test_patch_user(world, acme):
    user = world.acme.users["sender"]
    body = acme.patch(
        f"/users/{user.pk}", {"last_name": "Renamed", "team_id": None, "additional_office_ids": [world.acme.branch.pk]}
    ).json()
    assert body["last_name"] == "Renamed" and body["team_id"] is None
    assert body["additional_office_ids"] == [world.acme.branch.pk]
    assert body["first_name"] == "Sender"
    assert audit_count("user.update", user.pk) == 1
    for payload, field in [
        ({"email": "master@acme.test"}, "email"),
        ({"first_name": None}, "first_name"),
        ({"primary_office_id": world.globex.office.pk}, "primary_office_id"),
        ({"additional_office_ids": [world.globex.office.pk]}, "additional_office_ids"),
        ({"is_admin": True}, "is_admin"),
    ]:
        response = acme.patch(f"/users/{user.pk}", payload)
        assert response.status_code == 422 and field in response.json()["errors"], (payload, response.content)
    user.refresh_from_db()
    assert (user.email, user.first_name, user.primary_office_id) == ("sender@acme.test", "Sender", world.acme.office.pk)
    assert audit_count("user.update", user.pk) == 1
    problem(acme.patch(f"/users/{world.globex.users['sender'].pk}", {"last_name": "X"}), 404, "not_found")


def test_disable_and_enable(world, acme):
    user = world.acme.users["sender"]
    assert acme.post(f"/users/{user.pk}/disable").json()["is_active"] is False
    assert audit_count("user.disable", user.pk) == 1
    assert acme.post(f"/users/{user.pk}/enable").json()["is_active"] is True
    assert audit_count("user.enable", user.pk) == 1
    # A key never reaches a master user (issue 8 §4.1), not even its creator.
    problem(acme.post(f"/users/{world.acme.master.pk}/disable"), 403, "permission_denied")
    problem(acme.post(f"/users/{world.globex.users['sender'].pk}/disable"), 404, "not_found")
    assert User.objects.get(pk=world.globex.users["sender"].pk).is_active


def test_memberships(world, client):
    client.force_login(world.acme.master)  # a session reaches both accounts; a key only its own
    acme = Api(client)
    user = world.acme.users["sender"]
    other = world.acme.other_account.pk
    body = acme.put(f"/users/{user.pk}/memberships/{other}", {"role_id": role("read_only").pk}).json()
    assert body["account_name"] == "Support desk" and body["role_name"] == "Read-only"
    assert audit_count("membership.create") == 1
    acme.put(f"/users/{user.pk}/memberships/{other}", {"role_id": role("sender").pk})
    assert audit_count("membership.update") == 1
    problem(
        acme.put(f"/users/{user.pk}/memberships/{world.globex.account.pk}", {"role_id": role("sender").pk}),
        404,
        "not_found",
    )
    problem(
        acme.put(f"/users/{world.globex.users['sender'].pk}/memberships/{other}", {"role_id": role("sender").pk}),
        404,
        "not_found",
    )
    err = problem(acme.put(f"/users/{user.pk}/memberships/{other}", {"role_id": 98765432}), 422, "validation_error")
    assert err["errors"] == {"role_id": ["No such role."]}
    assert acme.delete(f"/users/{user.pk}/memberships/{other}").status_code == 204
    assert audit_count("membership.delete") == 1
    assert not Membership.objects.filter(user=user, account_id=other).exists()
    problem(acme.delete(f"/users/{user.pk}/memberships/{other}"), 404, "not_found")


def test_user_writes_need_manage_users(world, client, make_key):
    api = Api(client, make_key(world.acme, "view_users"))
    user = world.acme.users["sender"]
    assert api.get(f"/users/{user.pk}").status_code == 200
    problem(api.patch(f"/users/{user.pk}", {"last_name": "X"}), 403, "permission_denied")
    problem(api.post(f"/users/{user.pk}/disable"), 403, "permission_denied")
    problem(api.post("/users", {"first_name": "A", "last_name": "B", "email": "x@acme.test"}), 403, "permission_denied")
