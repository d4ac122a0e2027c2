"""In a real browser: import a file with bad rows, read the report, import only the valid rows, find a
contact by search and export the phonebook."""

from __future__ import annotations

import os
import shutil

import pytest

from kontor.contacts import services
from kontor.contacts.models import Contact

CHROMIUM = os.environ.get("KONTOR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM, reason="no chromium found (apt-get install chromium)"),
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox", "--disable-gpu"]}


CSV = (
    "\ufeffphone;Name;Birthday\n"
    "070-123 45 67;Anna;1990-02-28\n"
    "not a number;Bert;\n"
    "+46701234568;Cecilia;31/12/1990\n"
    "0701234569;Dan;\n"
)


def test_import_report_then_only_valid_rows(page, live_server, world, columns, tmp_path):
    from playwright.sync_api import expect

    a = world.acme
    book = services.create_phonebook(a.account, actor=a.master, name="Newsletter")
    upload = tmp_path / "contacts.csv"
    upload.write_text(CSV, encoding="utf-8")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_email", a.users["sender"].email)
    page.fill("#id_password", world.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="Newsletter").click()
    page.get_by_role("link", name="Import CSV").click()
    page.set_input_files("#id_file", str(upload))
    page.get_by_role("button", name="Import", exact=True).click()
    report = page.locator("#import-report")
    expect(report).to_contain_text("2 valid")
    expect(page.locator("#import-errors")).to_contain_text("YYYY-MM-DD")
    expect(page.locator("#import-errors")).to_contain_text("not a number")
    page.screenshot(path="/tmp/contacts_report.png", full_page=True)
    assert not Contact.objects.filter(phonebook=book).exists()
    page.get_by_role("button", name="Import only the 2 valid rows").click()
    expect(page.locator(".messages")).to_contain_text("2 added")
    expect(page.locator("#contacts")).to_contain_text("+46701234569")
    page.screenshot(path="/tmp/contacts_detail.png", full_page=True)
    page.fill("input[name=q]", "anna")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#contacts")).not_to_contain_text("+46701234569")
    expect(page.locator("#contacts")).to_contain_text("+46701234567")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename == "newsletter.csv"
    assert sorted(Contact.objects.filter(phonebook=book).values_list("phone", flat=True)) == [
        "+46701234567",
        "+46701234569",
    ]
