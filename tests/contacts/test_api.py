"""Contacts API: CRUD, import (multipart, 422 with the row errors when nothing was applied), export,
opt-outs; other accounts' and customers' ids answer 404; permissions are enforced."""

from __future__ import annotations

import csv
import io

import pytest

from kontor.access.services import create_api_key
from kontor.contacts import services
from kontor.contacts.models import Contact, OptOut, Phonebook
from tests.api.conftest import ALL_PERMS, BASE, Api, audit_count, problem

pytestmark = pytest.mark.django_db


def _api(client, cw, *perms, account=None) -> Api:
    issued = create_api_key(account or cw.account, actor=cw.master, name="Test", perms=list(perms) or ALL_PERMS)
    return Api(client, issued.secret)


def _upload(api: Api, book_id: int, text: bytes, **flags: str):
    data = {"file": io.BytesIO(text), **flags}
    data["file"].name = "contacts.csv"
    return api.client.post(f"{BASE}/contacts/phonebooks/{book_id}/import", data=data, headers=api.headers)


def test_phonebook_and_contact_crud(world, client, columns):
    api = _api(client, world.acme)
    created = api.post("/contacts/phonebooks", {"name": "Customers", "description": "All of them"})
    assert created.status_code == 201, created.content
    book_id = created.json()["id"]
    problem(api.post("/contacts/phonebooks", {"name": "customers"}), 422, "duplicate")
    assert api.patch(f"/contacts/phonebooks/{book_id}", {"name": "Clients"}).json()["name"] == "Clients"
    contact = api.post(
        f"/contacts/phonebooks/{book_id}/contacts",
        {"phone": "070-123 45 67", "values": {"name": "Anna", "Birthday": "1990-02-28"}},
    )
    assert contact.status_code == 201, contact.content
    body = contact.json()
    assert body["phone"] == "+46701234567"
    assert body["values"] == {"Name": "Anna", "Birthday": "1990-02-28"}
    bad = problem(
        api.post(f"/contacts/phonebooks/{book_id}/contacts", {"phone": "1", "values": {"Birthday": "soon"}}),
        422,
        "validation_error",
    )
    assert {"phone", "Birthday"} <= set(bad["errors"])
    patched = api.patch(f"/contacts/contacts/{body['id']}", {"values": {"Name": None, "Score": "7"}})
    assert patched.json()["values"] == {"Birthday": "1990-02-28", "Score": "7"}
    listing = api.get(f"/contacts/phonebooks/{book_id}/contacts", {"q": "1990", "limit": 10}).json()
    assert listing["count"] == 1 and listing["items"][0]["id"] == body["id"]
    assert api.get(f"/contacts/phonebooks/{book_id}/contacts", {"q": "zzz"}).json()["count"] == 0
    assert api.get(f"/contacts/phonebooks/{book_id}").json()["contact_count"] == 1
    assert api.delete(f"/contacts/contacts/{body['id']}").status_code == 204
    assert api.delete(f"/contacts/phonebooks/{book_id}").status_code == 204
    assert not Phonebook.objects.exists()
    assert audit_count("phonebook.delete") == 1


def test_import_refuses_a_file_with_bad_rows_then_imports_only_valid(world, client, book, columns):
    api = _api(client, world.acme)
    text = b"phone,Name,Birthday\n+46701234567,Anna,\nbad,Bert,\n+46701234568,Cec,2020-13-01\n"
    refused = problem(_upload(api, book.pk, text), 422, "validation_error")
    report = refused["report"]
    assert report["applied"] is False and report["valid"] == 1 and report["invalid"] == 2
    assert [(e["line"], e["column"]) for e in report["errors"]] == [(3, "phone"), (4, "Birthday")]
    assert not Contact.objects.exists()
    done = _upload(api, book.pk, text, only_valid="true")
    assert done.status_code == 200, done.content
    assert done.json()["created"] == 1 and done.json()["applied"] is True
    assert Contact.objects.get().phone == "+46701234567"


def test_import_of_garbage_and_without_a_file(world, client, book):
    api = _api(client, world.acme)
    garbage = problem(_upload(api, book.pk, bytes(range(256)) * 10), 422, "validation_error")
    assert "file" in garbage["errors"]
    no_file = api.client.post(f"{BASE}/contacts/phonebooks/{book.pk}/import", data={}, headers=api.headers)
    assert "file" in problem(no_file, 422, "validation_error")["errors"]


def test_export_csv(world, client, book, columns):
    services.add_contact(book, actor=world.acme.master, phone="+46701234567", values={"Name": "Anna"})
    api = _api(client, world.acme, "view_contacts")
    response = api.get(f"/contacts/phonebooks/{book.pk}/export.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["phone", "Name", "Surname", "Birthday", "Score", "Email", "Work phone"]
    assert rows[1][:2] == ["+46701234567", "Anna"]


def test_opt_outs_per_account(world, client):
    a = world.acme
    sales = _api(client, a)
    created = sales.post("/contacts/opt-outs", {"phone": "0701234567", "note": "asked by phone"})
    assert created.status_code == 201 and created.json()["source"] == "api"
    again = sales.post("/contacts/opt-outs", {"phone": "+46701234567"})
    assert again.json()["id"] == created.json()["id"]
    assert sales.get("/contacts/opt-outs").json()["count"] == 1
    desk = _api(client, a, account=a.other_account)
    assert desk.get("/contacts/opt-outs").json()["count"] == 0
    problem(desk.delete(f"/contacts/opt-outs/{created.json()['id']}"), 404, "not_found")
    assert sales.delete(f"/contacts/opt-outs/{created.json()['id']}").status_code == 204
    assert not OptOut.objects.exists()


def test_other_account_and_other_customer_get_404(world, client, book):
    a = world.acme
    contact = services.add_contact(book, actor=a.master, phone="+46701234567")
    desk = _api(client, a, account=a.other_account)
    globex = _api(client, world.globex)
    for api in (desk, globex):
        assert api.get("/contacts/phonebooks").json()["count"] == 0
        for path in (
            f"/contacts/phonebooks/{book.pk}",
            f"/contacts/phonebooks/{book.pk}/contacts",
            f"/contacts/phonebooks/{book.pk}/export.csv",
            f"/contacts/contacts/{contact.pk}",
        ):
            problem(api.get(path), 404, "not_found")
        problem(api.patch(f"/contacts/contacts/{contact.pk}", {"phone": "+46701234568"}), 404, "not_found")
        problem(api.delete(f"/contacts/phonebooks/{book.pk}"), 404, "not_found")
        problem(_upload(api, book.pk, b"phone\n+46701234569\n"), 404, "not_found")
    assert Contact.objects.get().phone == "+46701234567"


def test_permissions(world, client, book):
    reader = _api(client, world.acme, "view_contacts")
    assert reader.get("/contacts/phonebooks").status_code == 200
    problem(reader.post("/contacts/phonebooks", {"name": "X"}), 403, "permission_denied")
    problem(_upload(reader, book.pk, b"phone\n+46701234567\n"), 403, "permission_denied")
    problem(reader.post("/contacts/opt-outs", {"phone": "+46701234567"}), 403, "permission_denied")
    nobody = _api(client, world.acme, "send_sms")
    problem(nobody.get("/contacts/phonebooks"), 403, "permission_denied")
    assert not Contact.objects.exists() and not OptOut.objects.exists()
