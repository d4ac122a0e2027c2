"""POST /contacts/phonebooks/{id}/contacts/bulk: preview (nothing changes, a fingerprint), apply with the
fingerprint, 409 bulk_plan_changed with a fresh preview on drift, per-row results, 404 for ids outside the
phonebook, 403 without "manage contacts"."""

from __future__ import annotations

import pytest

from kontor.access.perms import Perm
from kontor.access.services import create_api_key
from kontor.audit.models import AuditEntry
from kontor.contacts import services
from kontor.contacts.models import Contact
from tests.api.conftest import ALL_PERMS, Api, problem

pytestmark = pytest.mark.django_db


def _api(client, cw, *perms) -> Api:
    issued = create_api_key(cw.account, actor=cw.master, name="Test", perms=list(perms) or ALL_PERMS)
    return Api(client, issued.secret)


@pytest.fixture
def filled(world, book):
    for i in range(4):
        services.add_contact(book, actor=world.acme.master, phone=f"+4670123456{i}", values={"Name": f"Anna{i}"})
    services.add_contact(book, actor=world.acme.master, phone="+46709999999", values={"Name": "Bo"})
    return book


def _url(book) -> str:
    return f"/contacts/phonebooks/{book.pk}/contacts/bulk"


def test_preview_then_apply_a_filtered_delete(world, client, filled):
    api = _api(client, world.acme)
    body = {"action": "delete", "filter": {"q": "anna"}}
    shown = api.post(_url(filled), body)
    assert shown.status_code == 200, shown.content
    plan = shown.json()
    assert plan["applied"] is False and plan["changing"] == 4 and plan["refused"] == 0
    assert plan["selection"] == ["Search: anna"] and plan["summary"] == "4 contacts will be deleted."
    assert plan["rows"][0] == {
        "id": plan["rows"][0]["id"],
        "phone": "+46701234560",
        "before": {"phonebook": "Customers"},
        "after": None,
    }
    assert Contact.objects.filter(phonebook=filled).count() == 5
    done = api.post(_url(filled), {**body, "preview": False, "fingerprint": plan["fingerprint"], "results": True})
    assert done.status_code == 200, done.content
    answer = done.json()
    assert answer["applied"] is True and answer["changed"] == 4 and answer["batch_id"]
    assert {r["outcome"] for r in answer["results"]} == {"ok"} and len(answer["results"]) == 4
    assert list(Contact.objects.filter(phonebook=filled).values_list("phone", flat=True)) == ["+46709999999"]
    assert AuditEntry.objects.filter(batch_id=answer["batch_id"], action="contact.delete").count() == 4
    # The same apply sent again (a retry) finds the rows gone: refused, never applied twice.
    again = api.post(_url(filled), {**body, "preview": False, "fingerprint": plan["fingerprint"]})
    assert problem(again, 409, "bulk_plan_changed")["preview"]["changing"] == 0


def test_a_repeated_copy_is_refused_not_copied_twice(world, client, filled):
    api = _api(client, world.acme)
    vip = services.create_phonebook(world.acme.account, actor=world.acme.master, name="VIP")
    body = {"action": "copy", "target_phonebook_id": vip.pk, "filter": {}}
    plan = api.post(_url(filled), body).json()
    assert api.post(_url(filled), {**body, "preview": False, "fingerprint": plan["fingerprint"]}).status_code == 200
    again = api.post(_url(filled), {**body, "preview": False, "fingerprint": plan["fingerprint"]})
    assert problem(again, 409, "bulk_plan_changed")["preview"]["refused"] == 5
    assert Contact.objects.filter(phonebook=vip).count() == 5


def test_move_by_ids_reports_skips_and_drift_is_409_with_a_fresh_preview(world, client, filled):
    api = _api(client, world.acme)
    vip = services.create_phonebook(world.acme.account, actor=world.acme.master, name="VIP")
    services.add_contact(vip, actor=world.acme.master, phone="+46701234560")
    ids = list(Contact.objects.filter(phonebook=filled).order_by("phone").values_list("pk", flat=True)[:3])
    body = {"action": "move", "target_phonebook_id": vip.pk, "ids": ids}
    plan = api.post(_url(filled), body).json()
    assert plan["changing"] == 2 and plan["refusals"] == [
        {"code": "already_in_target", "reason": "+46701234560 is already in “VIP”.", "count": 1}
    ]
    assert plan["refused_rows"][0]["phone"] == "+46701234560"
    services.update_contact(Contact.objects.get(pk=ids[1]), actor=world.acme.master, values={"Name": "Changed"})
    drift = problem(
        api.post(_url(filled), {**body, "preview": False, "fingerprint": plan["fingerprint"]}), 409, "bulk_plan_changed"
    )
    assert drift["fingerprint"] != plan["fingerprint"] and drift["preview"]["changing"] == 2
    assert Contact.objects.filter(phonebook=vip).count() == 1
    done = api.post(_url(filled), {**body, "preview": False, "fingerprint": drift["fingerprint"]}).json()
    assert done["changed"] == 2 and Contact.objects.filter(phonebook=vip).count() == 3


def test_foreign_ids_and_phonebooks_are_404_and_bad_requests_422(world, client, filled):
    api = _api(client, world.acme)
    g = world.globex
    theirs = services.create_phonebook(g.account, actor=g.master, name="Theirs")
    foreign = services.add_contact(theirs, actor=g.master, phone="+4520123456")
    mine = Contact.objects.filter(phonebook=filled).first()
    problem(api.post(_url(filled), {"action": "delete", "ids": [mine.pk, foreign.pk]}), 404, "not_found")
    problem(api.post(_url(theirs), {"action": "delete", "filter": {}}), 404, "not_found")
    problem(
        api.post(_url(filled), {"action": "copy", "target_phonebook_id": theirs.pk, "filter": {}}), 404, "not_found"
    )
    problem(api.post(_url(filled), {"action": "delete"}), 422, "validation_error")
    problem(api.post(_url(filled), {"action": "delete", "ids": [mine.pk], "filter": {}}), 422, "validation_error")
    problem(api.post(_url(filled), {"action": "delete", "filter": {}, "preview": False}), 422, "validation_error")
    problem(api.post(_url(filled), {"action": "move", "filter": {}}), 422, "validation_error")
    problem(api.post(_url(filled), {"action": "explode", "filter": {}}), 422, "validation_error")
    assert Contact.objects.filter(pk__in=[foreign.pk, mine.pk]).count() == 2


def test_needs_manage_contacts(world, client, filled):
    api = _api(client, world.acme, Perm.VIEW_CONTACTS)
    problem(api.post(_url(filled), {"action": "delete", "filter": {}}), 403, "permission_denied")
    assert Contact.objects.filter(phonebook=filled).count() == 5
