"""Web pages: Numbers & keywords (customer), inventory, import, Assign/Unassign Number and keyword orders
(staff); foreign ids answer 404, missing permissions 403, bad input changes nothing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from kontor.access.models import Role
from kontor.audit.models import AuditEntry
from kontor.numbers import services
from kontor.numbers.models import AccountNumber, Keyword, KeywordOrder, Number, UnmatchedOwner
from kontor.tenancy.models import Membership
from tests.numbers.conftest import SHARED, SHORT, SPARE

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("slug", ["technician", "administrator", "master"])
def test_numbers_page_for_roles_with_technical_settings(client, world, nums, slug):
    client.force_login(world.acme.user(slug))
    response = client.get(reverse("numbers:index"))
    assert response.status_code == 200
    body = response.content.decode()
    assert SHARED in body and "Manage Unmatched" in body
    assert "Numbers &amp; keywords" in body  # the navigation link


@pytest.mark.parametrize("slug", ["support", "read_only", "sender"])
def test_numbers_page_refused_without_technical_settings(client, world, nums, slug):
    client.force_login(world.acme.user(slug))
    assert client.get(reverse("numbers:index")).status_code == 403
    assert client.post(reverse("numbers:keyword_claim"), {"word": "X"}).status_code == 403
    assert "Numbers &amp; keywords" not in client.get(reverse("web:home")).content.decode()
    assert not Keyword.objects.exists()


def test_default_number_warning(client, world, nums):
    a = world.acme
    services.set_account_number(a.account, None, actor=a.master)
    client.force_login(a.users["technician"])
    body = client.get(reverse("numbers:index")).content.decode()
    assert "default number Kontor is used" in body
    assert "not activated to receive SMS messages or allow replies" in body


def test_choose_mo_number(client, world, nums):
    a = world.acme
    client.force_login(a.users["technician"])
    response = client.post(reverse("numbers:mo_number"), {"number": nums.short.pk}, follow=True)
    assert f"The MO number is now {SHORT}." in response.content.decode()
    # Another customer's number is not offered, and posting it changes nothing.
    response = client.post(reverse("numbers:mo_number"), {"number": nums.dedicated.pk})
    assert response.status_code == 422
    assert AccountNumber.objects.get(account=a.account).number == nums.short


def test_claim_and_duplicate_keyword_on_the_page(client, world, nums):
    a = world.acme
    client.force_login(a.users["technician"])
    response = client.post(reverse("numbers:keyword_claim"), {"word": "acme"}, follow=True)
    assert "The keyword ACME is yours" in response.content.decode()
    client.force_login(a.users["administrator"])
    client.post(reverse("tenancy:switch"), {"account": a.other_account.pk})
    before = AuditEntry.objects.count()
    response = client.post(reverse("numbers:keyword_claim"), {"word": "Acme"})
    assert response.status_code == 422
    assert f"The keyword ACME is already taken on {SHARED}." in response.content.decode()
    assert Keyword.objects.count() == 1 and AuditEntry.objects.count() == before


def test_release_keyword_with_confirmation_and_foreign_404(client, world, nums):
    a, g = world.acme, world.globex
    mine = services.claim_keyword(a.account, "MINE", actor=a.master)
    theirs = services.claim_keyword(g.account, "THEIRS", actor=g.master)
    client.force_login(a.users["technician"])
    assert client.get(reverse("numbers:keyword_release", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("numbers:keyword_release", args=[theirs.pk])).status_code == 404
    assert "Release the keyword MINE" in client.get(reverse("numbers:keyword_release", args=[mine.pk])).content.decode()
    assert client.post(reverse("numbers:keyword_release", args=[mine.pk])).status_code == 302
    assert list(Keyword.objects.values_list("word", flat=True)) == ["THEIRS"]


def test_keyword_of_the_other_account_is_404(client, world, nums):
    a = world.acme
    desk = services.claim_keyword(a.other_account, "DESK", actor=a.master)
    client.force_login(a.users["technician"])  # member of Sales only
    assert client.post(reverse("numbers:keyword_release", args=[desk.pk])).status_code == 404
    assert Keyword.objects.filter(pk=desk.pk).exists()


def test_manage_unmatched_on_the_page(client, world, nums):
    a = world.acme
    # Moving the unmatched messages concerns both accounts: the technician works in both here.
    Membership.objects.create(
        customer=a.customer,
        account=a.other_account,
        user=a.users["technician"],
        role=Role.objects.get(customer=None, slug="technician"),
    )
    client.force_login(a.users["technician"])
    url = reverse("numbers:unmatched_set", args=[nums.shared.pk])
    prefix = f"n{nums.shared.pk}-account"
    response = client.post(url, {prefix: a.other_account.pk}, follow=True)
    assert "now go to Support desk" in response.content.decode()
    assert UnmatchedOwner.objects.get(number=nums.shared).account == a.other_account
    # An account not using the number is not a choice; another customer's number is 404.
    response = client.post(url, {prefix: world.globex.account.pk})
    assert response.status_code == 422
    assert client.post(reverse("numbers:unmatched_set", args=[nums.dedicated.pk]), {prefix: 1}).status_code == 404
    assert client.get(url).status_code == 405
    assert UnmatchedOwner.objects.get(number=nums.shared).account == a.other_account


def test_order_keyword_on_a_short_code_and_list(client, world, nums):
    a = world.acme
    services.set_account_number(a.account, nums.short, actor=a.master)
    client.force_login(a.users["technician"])
    body = client.get(reverse("numbers:index")).content.decode()
    assert "Order more keywords" in body and "Claim keyword" not in body
    response = client.post(reverse("numbers:keyword_order"), {"order-word": "win"}, follow=True)
    assert "The keyword WIN on 72000 is ordered" in response.content.decode()
    assert client.post(reverse("numbers:keyword_order"), {"order-word": "win"}).status_code == 422
    assert "WIN" in client.get(reverse("numbers:orders")).content.decode()
    assert KeywordOrder.objects.count() == 1


# --- staff ---------------------------------------------------------------------------------------


def test_staff_pages_refuse_customers_and_billing(client, world, nums):
    for user in (world.acme.master, world.staff["billing"]):
        client.force_login(user)
        for name in ("numbers:inventory", "numbers:assign", "numbers:number_import", "numbers:orders_staff"):
            assert client.get(reverse(name)).status_code == 403, (user, name)


def test_inventory_filters_and_export(client, world, nums):
    client.force_login(world.staff["csr"])
    body = client.get(reverse("numbers:inventory"), {"kind": "short_code"}).content.decode()
    assert SHORT in body and SHARED not in body
    body = client.get(reverse("numbers:inventory"), {"customer": world.globex.customer.subscriber_id}).content.decode()
    assert "+447700900123" in body and SHARED not in body
    response = client.get(reverse("numbers:inventory_export"), {"status": "available"})
    csv_text = b"".join(response.streaming_content).decode()
    assert SPARE in csv_text and SHARED not in csv_text


def test_add_number_page(client, world, nums):
    client.force_login(world.staff["tam"])
    data = {"value": "+46 70 333 00 01", "kind": "long_code", "country": "SE", "two_way": "on"}
    assert client.post(reverse("numbers:number_add"), data).status_code == 302
    assert Number.objects.get(value="+46703330001").two_way
    response = client.post(reverse("numbers:number_add"), data)
    assert response.status_code == 422 and "already in the inventory" in response.content.decode()


def test_edit_number_suspends(client, world, nums):
    client.force_login(world.staff["tam"])
    url = reverse("numbers:number_edit", args=[nums.spare.pk])
    assert client.post(url, {"operator": "Telia", "suspended": "on"}).status_code == 302
    assert Number.objects.get(pk=nums.spare.pk).status == "suspended"
    assert client.get(reverse("numbers:number_edit", args=[987654321])).status_code == 404


def test_assign_unassign_page_as_in_manual_002(client, world, nums):
    g = world.globex
    client.force_login(world.staff["csr"])
    url = reverse("numbers:assign")
    page = client.get(url).content.decode()
    assert "Phone Number" in page and "Subscriber ID" in page
    response = client.post(
        url, {"phone_number": SPARE, "subscriber_id": g.customer.subscriber_id, "assign": "1"}, follow=True
    )
    assert f"{SPARE} was assigned to Globex ({g.customer.subscriber_id})." in response.content.decode()
    assert Number.objects.get(pk=nums.spare.pk).customer == g.customer
    # Unknown subscriber, unknown number, and another customer's number: errors beside the fields.
    for data, text in [
        ({"phone_number": SHORT, "subscriber_id": "S999999"}, "no subscriber with the ID"),
        ({"phone_number": "+46700000000", "subscriber_id": "1"}, "is not a number in the inventory"),
        ({"phone_number": SPARE, "subscriber_id": world.acme.customer.pk}, "assigned to another subscriber"),
    ]:
        response = client.post(url, {**data, "assign": "1"})
        assert response.status_code == 422 and text in response.content.decode()
    assert Number.objects.get(pk=nums.spare.pk).customer == g.customer
    response = client.post(url, {"phone_number": SPARE, "subscriber_id": g.customer.pk, "unassign": "1"}, follow=True)
    assert f"{SPARE} was unassigned from Globex" in response.content.decode()
    # In use by accounts: refused unless forced.
    data = {"phone_number": SHARED, "subscriber_id": world.acme.customer.pk, "unassign": "1"}
    response = client.post(url, data)
    assert response.status_code == 422 and "is the MO number of 2 account(s)" in response.content.decode()
    assert client.post(url, {**data, "force": "on"}).status_code == 302
    assert Number.objects.get(pk=nums.shared.pk).customer is None


def test_import_page_reports_bad_rows(client, world, nums):
    client.force_login(world.staff["tam"])
    data = "value,kind,country\n+46704440001,long_code,SE\n99,short_code,SE\n"
    upload = SimpleUploadedFile("n.csv", data.encode(), content_type="text/csv")
    response = client.post(reverse("numbers:number_import"), {"file": upload})
    body = response.content.decode()
    assert response.status_code == 422 and "Line 3:" in body and "Nothing was imported" in body
    assert not Number.objects.filter(value="+46704440001").exists()
    upload = SimpleUploadedFile("n.csv", data.encode(), content_type="text/csv")
    response = client.post(reverse("numbers:number_import"), {"file": upload, "only_valid": "on"})
    assert "1 valid row(s) were imported" in response.content.decode()
    assert Number.objects.filter(value="+46704440001").exists()


def test_keyword_order_queue_approve_and_reject(client, world, nums):
    a = world.acme
    services.set_account_number(a.account, nums.short, actor=a.master)
    win = services.order_keyword(a.account, nums.short, "WIN", actor=a.master)
    lose = services.order_keyword(a.account, nums.short, "LOSE", actor=a.master)
    client.force_login(world.staff["tam"])
    body = client.get(reverse("numbers:orders_staff"), {"status": "pending"}).content.decode()
    assert "WIN" in body and "LOSE" in body
    assert "Give the keyword WIN" in client.get(reverse("numbers:order_approve", args=[win.pk])).content.decode()
    assert client.post(reverse("numbers:order_approve", args=[win.pk])).status_code == 302
    assert Keyword.objects.get(word="WIN").account == a.account
    assert client.post(reverse("numbers:order_reject", args=[lose.pk]), {"reason": ""}).status_code == 422
    assert client.post(reverse("numbers:order_reject", args=[lose.pk]), {"reason": "Reserved"}).status_code == 302
    assert KeywordOrder.objects.get(pk=lose.pk).status == "rejected"
    response = client.post(reverse("numbers:order_approve", args=[lose.pk]), follow=True)
    assert "already rejected" in response.content.decode()
    assert client.get(reverse("numbers:order_approve", args=[987654321])).status_code == 404
