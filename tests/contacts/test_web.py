"""Contact pages: lists, forms with typed custom columns, import with its report and "only the valid
rows", opt-outs; foreign and other-account ids answer 404; permissions are enforced."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from kontor.audit.models import AuditEntry
from kontor.contacts import services
from kontor.contacts.models import Contact, OptOut, Phonebook

pytestmark = pytest.mark.django_db


def _csv(text: str, name: str = "contacts.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_phonebook_list_and_detail_show_counts_columns_and_search(world, client, book, columns):
    a = world.acme
    services.add_contact(book, actor=a.master, phone="+46701234567", values={"Name": "Anna", "Birthday": "1990-02-28"})
    services.add_contact(book, actor=a.master, phone="+46701234568", values={"Name": "Bo"})
    client.force_login(a.users["read_only"])
    page = client.get(reverse("contacts:phonebooks"))
    assert page.status_code == 200
    assert b"Customers" in page.content and b">2<" in page.content.replace(b" ", b"")
    assert b'href="/contacts/"' in page.content  # the nav link
    detail = client.get(reverse("contacts:phonebook_detail", args=[book.pk]))
    assert detail.status_code == 200
    assert b"Birthday" in detail.content and b"1990-02-28" in detail.content
    assert b"Add contact" not in detail.content  # read-only: no write actions
    found = client.get(reverse("contacts:phonebook_detail", args=[book.pk]), {"q": "ann"})
    assert b"+46701234567" in found.content and b"+46701234568" not in found.content
    national = client.get(reverse("contacts:phonebook_detail", args=[book.pk]), {"q": "070-123 45 68"})
    assert b"+46701234568" in national.content and b"+46701234567" not in national.content
    for sort in ("phone", f"-col_{columns['Name'].pk}", f"col_{columns['Birthday'].pk}"):
        assert client.get(reverse("contacts:phonebook_detail", args=[book.pk]), {"sort": sort}).status_code == 200


def test_sorting_by_a_custom_column(world, client, book, columns):
    a = world.acme
    for phone, name in (("+46701234567", "Cecilia"), ("+46701234568", "Anna"), ("+46701234569", "Bo")):
        services.add_contact(book, actor=a.master, phone=phone, values={"Name": name})
    client.force_login(a.master)
    page = client.get(reverse("contacts:phonebook_detail", args=[book.pk]), {"sort": f"col_{columns['Name'].pk}"})
    body = page.content.decode()
    assert body.index("Anna") < body.index("Bo") < body.index("Cecilia")


def test_add_contact_form_has_typed_fields_and_shows_errors_inline(world, client, book, columns):
    client.force_login(world.acme.users["sender"])
    url = reverse("contacts:phonebook_contact_add", args=[book.pk])
    form = client.get(url)
    assert b'type="date"' in form.content and b'type="email"' in form.content
    bad = client.post(url, {"phone": "070", f"col_{columns['Birthday'].pk}": "tomorrow"})
    assert bad.status_code == 200
    assert b"not a date in the form YYYY-MM-DD" in bad.content and b"not a valid phone number" in bad.content
    assert not Contact.objects.exists()
    good = client.post(url, {"phone": "070-123 45 67", f"col_{columns['Name'].pk}": "Anna"})
    assert good.status_code == 302
    contact = Contact.objects.get()
    assert contact.phone == "+46701234567" and contact.values == {str(columns["Name"].pk): "Anna"}
    edit = reverse("contacts:contact_edit", args=[contact.pk])
    assert b"Anna" in client.get(edit).content
    assert client.post(edit, {"phone": "+46701234567", f"col_{columns['Name'].pk}": "Annie"}).status_code == 302
    contact.refresh_from_db()
    assert contact.values == {str(columns["Name"].pk): "Annie"}
    delete = reverse("contacts:contact_delete", args=[contact.pk])
    assert b"Remove +46701234567" in client.get(delete).content
    assert client.post(delete).status_code == 302
    assert not Contact.objects.exists()


def test_phonebook_add_rename_delete(world, client, columns):
    a = world.acme
    client.force_login(a.users["sender"])
    assert client.post(reverse("contacts:phonebook_add"), {"name": "VIP"}).status_code == 302
    book = Phonebook.objects.get(name="VIP")
    dup = client.post(reverse("contacts:phonebook_add"), {"name": "vip"})
    assert dup.status_code == 200 and b"already exists" in dup.content
    assert client.post(reverse("contacts:phonebook_edit", args=[book.pk]), {"name": "VIPs"}).status_code == 302
    confirm = client.get(reverse("contacts:phonebook_delete", args=[book.pk]))
    assert b"Delete the phonebook" in confirm.content
    assert client.post(reverse("contacts:phonebook_delete", args=[book.pk])).status_code == 302
    assert not Phonebook.objects.exists()


MIXED = (
    "phone,Name,Birthday\n+46701234567,Anna,1990-02-28\nnope,Bert,\n+46701234568,Cecilia,31/12/1990\n"
    "+46701234569,Dan,\n"
)


def test_import_shows_every_bad_row_then_imports_only_the_valid_rows(world, client, book, columns):
    client.force_login(world.acme.users["sender"])
    url = reverse("contacts:phonebook_import", args=[book.pk])
    assert client.get(url).status_code == 200
    page = client.post(url, {"file": _csv(MIXED)})
    assert page.status_code == 200
    body = page.content.decode()
    assert "Import only the 2 valid rows" in body
    assert "<td>3</td>" in body and "<td>4</td>" in body and "YYYY-MM-DD" in body
    assert not Contact.objects.exists()
    token = page.context["token"]
    done = client.post(url, {"token": token})
    assert done.status_code == 302
    assert sorted(Contact.objects.values_list("phone", flat=True)) == ["+46701234567", "+46701234569"]
    # The kept upload is used once: a second click finds nothing and imports nothing again.
    again = client.post(url, {"token": token})
    assert again.status_code == 302
    assert AuditEntry.objects.filter(action="phonebook.import").count() == 1


def test_import_token_of_another_session_or_phonebook_is_useless(world, client, book, columns):
    a = world.acme
    client.force_login(a.users["sender"])
    url = reverse("contacts:phonebook_import", args=[book.pk])
    token = client.post(url, {"file": _csv(MIXED)}).context["token"]
    other = services.create_phonebook(a.account, actor=a.master, name="Other")
    assert client.post(reverse("contacts:phonebook_import", args=[other.pk]), {"token": token}).status_code == 302
    assert not Contact.objects.exists()
    client.force_login(a.master)  # a new session does not know the token
    assert client.post(url, {"token": token}).status_code == 302
    assert not Contact.objects.exists()


def test_import_all_valid_with_the_checkbox_and_garbage_file(world, client, book, columns):
    client.force_login(world.acme.users["sender"])
    url = reverse("contacts:phonebook_import", args=[book.pk])
    assert client.post(url, {"file": _csv(MIXED), "only_valid": "on"}).status_code == 302
    assert Contact.objects.count() == 2
    garbage = SimpleUploadedFile("x.csv", b"\x00\x01\x02PK\x03\x04" * 50)
    page = client.post(url, {"file": garbage})
    assert page.status_code == 200 and b"NUL bytes" in page.content
    missing = client.post(url, {})
    assert missing.status_code == 200 and b"required" in missing.content


def test_opt_out_pages(world, client, columns):
    a = world.acme
    client.force_login(a.users["sender"])
    assert client.post(reverse("contacts:opt_out_add"), {"phone": "070-123 45 67"}).status_code == 302
    row = OptOut.objects.get()
    assert (row.phone, row.source, row.account_id) == ("+46701234567", "manual", a.account.pk)
    bad = client.post(reverse("contacts:opt_out_add"), {"phone": "hello"})
    assert bad.status_code == 200 and b"not a phone number" in bad.content
    listing = client.get(reverse("contacts:opt_outs"))
    assert b"+46701234567" in listing.content
    remove = reverse("contacts:opt_out_remove", args=[row.pk])
    assert b"consent" in client.get(remove).content
    assert OptOut.objects.exists()  # GET only asks
    assert client.post(remove).status_code == 302
    assert not OptOut.objects.exists()


def test_permissions(world, client, book):
    a = world.acme
    client.force_login(a.users["support"])  # no contact permissions
    assert client.get(reverse("contacts:phonebooks")).status_code == 403
    assert b'href="/contacts/"' not in client.get(reverse("web:home")).content
    client.force_login(a.users["read_only"])  # may look, not change
    assert client.get(reverse("contacts:phonebooks")).status_code == 200
    assert client.get(reverse("contacts:opt_outs")).status_code == 200
    for name in ("phonebook_edit", "phonebook_delete", "phonebook_import", "phonebook_contact_add"):
        assert client.post(reverse(f"contacts:{name}", args=[book.pk]), {"name": "x"}).status_code == 403
    assert client.post(reverse("contacts:opt_out_add"), {"phone": "+46701234567"}).status_code == 403
    book.refresh_from_db()
    assert book.name == "Customers" and not OptOut.objects.exists()


def test_other_account_and_other_customer_never_see_the_contacts(world, client, book):
    a = world.acme
    contact = services.add_contact(book, actor=a.master, phone="+46701234567")
    opt = services.opt_out(a.account, "+46701234599", source="manual")
    client.force_login(a.users["administrator"])
    assert client.post(reverse("tenancy:switch"), {"account": str(a.other_account.pk)}).status_code == 302
    assert b"Customers" not in client.get(reverse("contacts:phonebooks")).content
    assert b"+46701234599" not in client.get(reverse("contacts:opt_outs")).content
    urls = [
        reverse("contacts:phonebook_detail", args=[book.pk]),
        reverse("contacts:phonebook_export", args=[book.pk]),
        reverse("contacts:phonebook_import", args=[book.pk]),
        reverse("contacts:contact_edit", args=[contact.pk]),
        reverse("contacts:contact_delete", args=[contact.pk]),
        reverse("contacts:opt_out_remove", args=[opt.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
        assert client.post(url).status_code == 404, url
    client.force_login(world.globex.master)
    for url in urls:
        assert client.get(url).status_code == 404, url
        assert client.post(url).status_code == 404, url
    assert Contact.objects.filter(pk=contact.pk).exists() and OptOut.objects.filter(pk=opt.pk).exists()
