"""CSV import: every bad row reported with its line, nothing applied unless all valid or only_valid;
BOM and ; delimiter; malformed files refused clearly; export round-trips."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from kontor.audit.models import AuditEntry
from kontor.contacts import csvimport, services
from kontor.contacts.csvimport import import_contacts
from kontor.contacts.models import Contact
from kontor.core.errors import Invalid

pytestmark = pytest.mark.django_db

MIXED = (
    "phone,Name,Birthday,Shoe size\n"  # line 1: Shoe size is not a column
    "070-123 45 67,Anna,1990-02-28,38\n"  # 2 ok
    "12345,Bert,1991-01-01,40\n"  # 3 bad phone
    "+46701234568,Cecilia,31/12/1990,39\n"  # 4 bad date
    "0701234567,Anna again,,38\n"  # 5 duplicate of line 2
    "\n"  # 6 blank: skipped
    "+46701234569,David,,44\n"  # 7 ok
)


def _file(text: str, encoding: str = "utf-8") -> io.BytesIO:
    return io.BytesIO(text.encode(encoding))


def test_mixed_file_reports_every_bad_row_and_applies_nothing(world, book):
    audit_before = AuditEntry.objects.count()
    report = import_contacts(book, _file(MIXED), actor=world.acme.master)
    assert not report.applied
    assert (report.rows, report.valid, report.invalid) == (5, 2, 3)
    by_line = {e.line: e for e in report.errors}
    assert set(by_line) == {1, 3, 4, 5}
    assert "Unknown column Shoe size" in by_line[1].reason and "Name, Surname" in by_line[1].reason
    assert by_line[3].column == "phone" and by_line[3].value == "12345"
    assert by_line[4].column == "Birthday" and "YYYY-MM-DD" in by_line[4].reason
    assert "also on line 2" in by_line[5].reason
    assert not Contact.objects.exists()
    assert AuditEntry.objects.count() == audit_before


def test_only_valid_imports_the_good_rows_and_audits_once(world, book):
    report = import_contacts(book, _file(MIXED), actor=world.acme.master, only_valid=True)
    assert report.applied and report.created == 2
    assert sorted(Contact.objects.values_list("phone", flat=True)) == ["+46701234567", "+46701234569"]
    entry = AuditEntry.objects.get(action="phonebook.import")
    assert entry.after["created"] == 2 and entry.after["invalid"] == 3
    assert entry.account_id == world.acme.account.pk


def test_dry_run_counts_without_writing(world, book):
    text = "phone;Name\n+46701234567;Anna\n+46701234568;Bo\n"
    services.add_contact(book, actor=world.acme.master, phone="+46701234567", values={"Name": "Old"})
    report = import_contacts(book, _file(text), actor=world.acme.master, dry_run=True)
    assert (report.created, report.updated, report.applied) == (1, 1, False)
    assert Contact.objects.count() == 1


def test_bom_and_semicolons(world, book, columns):
    text = '\ufeffMobile;NAME;Score\r\n0701234567;Åsa Öberg;3,5\r\n0701234568;"Lund; Per";7\r\n'
    report = import_contacts(book, _file(text), actor=world.acme.master)
    # "3,5" is not a number (decimals use a dot): the row is reported, nothing applied.
    assert report.delimiter == ";"
    assert [(e.line, e.column) for e in report.errors] == [(2, "Score")]
    fixed = text.replace("3,5", "3.5")
    report = import_contacts(book, _file(fixed), actor=world.acme.master)
    assert report.applied and report.created == 2
    by_phone = {c.phone: c.values for c in Contact.objects.all()}
    assert by_phone["+46701234567"][str(columns["Name"].pk)] == "Åsa Öberg"
    assert by_phone["+46701234568"][str(columns["Name"].pk)] == "Lund; Per"
    assert by_phone["+46701234567"][str(columns["Score"].pk)] == "3.5"


def test_existing_contacts_are_updated_with_the_files_columns(world, book, columns):
    m = world.acme.master
    services.add_contact(book, actor=m, phone="+46701234567", values={"Name": "Old", "Surname": "Kept"})
    report = import_contacts(book, _file("phone,Name\n+46701234567,New\n+46701234568,Other\n"), actor=m)
    assert (report.created, report.updated) == (1, 1)
    values = Contact.objects.get(phone="+46701234567").values
    assert values == {str(columns["Name"].pk): "New", str(columns["Surname"].pk): "Kept"}


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "NUL bytes"),
        ("phone,Name\n+46701234567,Anna\n".encode("utf-16"), "UTF-16"),
        (b"phone,Name\n+46701234567,\xff\xfe\xfa broken\n", "not UTF-8"),
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"Name,Surname\nAnna,Berg\n", "no phone number column"),
        (b"phone,mobile\n1,2\n", "appears twice"),
    ],
)
def test_malformed_files_are_refused_clearly(world, book, payload, fragment):
    with pytest.raises(Invalid) as exc:
        import_contacts(book, io.BytesIO(payload), actor=world.acme.master)
    assert "file" in exc.value.fields
    assert fragment in exc.value.message
    assert not Contact.objects.exists()


def test_size_and_row_limits(world, book, settings, monkeypatch):
    settings.KONTOR_MAX_IMPORT_BYTES = 100
    with pytest.raises(Invalid) as exc:
        import_contacts(book, _file("phone\n" + "+46701234567\n" * 20), actor=world.acme.master)
    assert "larger than" in exc.value.message
    settings.KONTOR_MAX_IMPORT_BYTES = 10_000
    monkeypatch.setattr(csvimport, "MAX_ROWS", 2)
    with pytest.raises(Invalid) as exc:
        import_contacts(book, _file("phone\n+46701234567\n+46701234568\n+46701234569\n"), actor=world.acme.master)
    assert "more than 2 rows" in exc.value.message
    assert not Contact.objects.exists()


def test_a_row_with_more_cells_than_the_header_is_reported(world, book):
    report = import_contacts(book, _file("phone,Name\n+46701234567,Anna,extra\n"), actor=world.acme.master)
    assert [e.line for e in report.errors] == [2]
    assert not report.applied


def test_many_rows_are_imported_in_chunks(world, book):
    rows = "".join(f"+4670{1000000 + i}\n" for i in range(2500))
    report = import_contacts(book, _file("phone\n" + rows), actor=world.acme.master)
    assert report.created == 2500 and Contact.objects.count() == 2500


def test_export_round_trips(world, book, columns, client):
    m = world.acme.master
    services.add_contact(
        book,
        actor=m,
        phone="+46701234567",
        values={"Name": "=cmd|' /C calc'!A0", "Surname": "Berg, Jr.", "Birthday": "1990-02-28", "Score": "-4"},
    )
    services.add_contact(book, actor=m, phone="+46701234568", values={"Name": 'Bo "the" Ek'})
    client.force_login(m)
    response = client.get(reverse("contacts:phonebook_export", args=[book.pk]))
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    assert data.startswith("\ufeff".encode())
    original = {c.phone: c.values for c in Contact.objects.all()}
    copy = services.create_phonebook(world.acme.account, actor=m, name="Copy")
    report = import_contacts(copy, io.BytesIO(data), actor=m)
    assert report.applied and not report.errors, report.errors
    assert {c.phone: c.values for c in Contact.objects.filter(phonebook=copy)} == original
