"""Offices and teams through the API."""

from __future__ import annotations

from kontor.tenancy.models import Office, Team
from tests.api.conftest import Api, audit_count, problem


def test_list_and_read_need_view_users_or_manage_offices(world, client, make_key):
    body = Api(client, make_key(world.acme, "view_users")).get("/offices").json()
    assert [o["name"] for o in body["items"]] == ["Acme Branch", "Acme HQ"]
    assert Api(client, make_key(world.acme, "manage_offices")).get("/teams").status_code == 200
    problem(Api(client, make_key(world.acme, "send_sms")).get("/offices"), 403, "permission_denied")
    problem(Api(client, make_key(world.acme, "view_users")).post("/offices", {"name": "X"}), 403, "permission_denied")


def test_office_lifecycle(world, acme):
    response = acme.post("/offices", {"name": "Malmö", "address": "Stortorget 1"})
    assert response.status_code == 201
    pk = response.json()["id"]
    assert audit_count("office.create", pk) == 1
    assert acme.get(f"/offices/{pk}").json()["address"] == "Stortorget 1"
    body = acme.patch(f"/offices/{pk}", {"name": "Malmö City"}).json()
    assert body == {"id": pk, "name": "Malmö City", "address": "Stortorget 1"}
    assert audit_count("office.update", pk) == 1
    assert acme.delete(f"/offices/{pk}").status_code == 204
    assert not Office.objects.filter(pk=pk).exists()
    assert audit_count("office.delete", pk) == 1


def test_office_bad_input_and_conflicts(world, acme):
    count = Office.objects.count()
    assert "name" in problem(acme.post("/offices", {"name": ""}), 422, "validation_error")["errors"]
    assert "name" in problem(acme.post("/offices", {"name": "acme hq"}), 422, "duplicate")["errors"]
    assert (
        "name"
        in problem(acme.patch(f"/offices/{world.acme.branch.pk}", {"name": "Acme HQ"}), 422, "duplicate")["errors"]
    )
    assert Office.objects.count() == count
    # Users have it as their primary office.
    problem(acme.delete(f"/offices/{world.acme.office.pk}"), 409, "conflict")
    assert Office.objects.filter(pk=world.acme.office.pk).exists()


def test_other_customers_offices_and_teams_are_404(world, acme):
    office, team = world.globex.office.pk, world.globex.team.pk
    problem(acme.get(f"/offices/{office}"), 404, "not_found")
    problem(acme.patch(f"/offices/{office}", {"name": "Ours"}), 404, "not_found")
    problem(acme.delete(f"/offices/{office}"), 404, "not_found")
    problem(acme.get(f"/teams/{team}"), 404, "not_found")
    problem(acme.patch(f"/teams/{team}", {"name": "Ours"}), 404, "not_found")
    problem(acme.delete(f"/teams/{team}"), 404, "not_found")
    assert Office.objects.get(pk=office).name == "Globex HQ"
    assert Team.objects.get(pk=team).name == "Globex Team"


def test_team_lifecycle_and_office_reference(world, acme):
    response = acme.post("/teams", {"name": "Night shift", "office_id": world.acme.branch.pk})
    assert response.status_code == 201
    body = response.json()
    assert body["office"]["name"] == "Acme Branch"
    pk = body["id"]
    assert audit_count("team.create", pk) == 1
    # An office of another customer is a field error, as is a missing one.
    for office_id in (world.globex.office.pk, 99999999):
        err = problem(acme.patch(f"/teams/{pk}", {"office_id": office_id}), 422, "validation_error")
        assert err["errors"] == {"office_id": ["No such office."]}
    assert Team.objects.get(pk=pk).office_id == world.acme.branch.pk
    body = acme.patch(f"/teams/{pk}", {"office_id": None}).json()
    assert body["office"] is None and body["name"] == "Night shift"
    assert audit_count("team.update", pk) == 1
    assert acme.delete(f"/teams/{pk}").status_code == 204
    assert audit_count("team.delete", pk) == 1
    count = Team.objects.count()
    problem(acme.post("/teams", {"name": "Z", "office_id": world.globex.office.pk}), 422, "validation_error")
    assert Team.objects.count() == count
