"""Services: keywords (duplicates refused, nothing changed), assignment by subscriber ID, CSV import
with bad rows, Manage Unmatched rules, keyword orders; each write audited."""

from __future__ import annotations

import pytest

from kontor.audit.models import AuditEntry
from kontor.core.errors import Conflict, ErrorCode, Invalid
from kontor.numbers import services
from kontor.numbers.models import AccountNumber, Keyword, KeywordOrder, Number, UnmatchedOwner
from tests.numbers.conftest import SHARED, SHORT

pytestmark = pytest.mark.django_db


def audit_count() -> int:
    return AuditEntry.objects.count()


# --- keywords ------------------------------------------------------------------------------------


def test_claim_stores_upper_case_and_audits(world, nums):
    a = world.acme
    before = audit_count()
    kw = services.claim_keyword(a.account, "promo1", actor=a.master)
    assert (kw.word, kw.number, kw.account, kw.customer) == ("PROMO1", nums.shared, a.account, a.customer)
    entry = AuditEntry.objects.get(action="keyword.claim")
    assert entry.customer_id == a.customer.pk and entry.after == {"number": SHARED, "word": "PROMO1"}
    assert audit_count() == before + 1


def test_duplicate_keyword_on_the_number_is_refused_and_changes_nothing(world, nums):
    a = world.acme
    services.claim_keyword(a.account, "ACME", actor=a.master)
    before = (list(Keyword.objects.values_list("pk", "word", "account_id")), audit_count())
    for word in ("acme", "Acme", "ACME"):
        with pytest.raises(Invalid) as exc:
            services.claim_keyword(a.other_account, word, actor=a.master)
        assert exc.value.message == f"The keyword ACME is already taken on {SHARED}."
        assert exc.value.fields == {"word": [exc.value.message]}
        assert exc.value.code == ErrorCode.DUPLICATE
    assert (list(Keyword.objects.values_list("pk", "word", "account_id")), audit_count()) == before


def test_the_same_word_on_another_number_is_fine(world, nums):
    services.claim_keyword(world.acme.account, "SHOP", actor=world.acme.master)
    kw = services.claim_keyword(world.globex.account, "shop", actor=world.globex.master)
    assert kw.number == nums.dedicated


@pytest.mark.parametrize("word", ["", "two words", "x" * 21, "semi;colon", "STOP", "unsubscribe", "a_b"])
def test_bad_keywords_are_refused(world, nums, word):
    with pytest.raises(Invalid) as exc:
        services.claim_keyword(world.acme.account, word, actor=world.acme.master)
    assert "word" in exc.value.fields
    assert not Keyword.objects.exists()


def test_keywords_allow_letters_of_any_alphabet_and_digits(world, nums):
    assert services.claim_keyword(world.acme.account, "köp24", actor=world.acme.master).word == "KÖP24"


def test_claim_needs_an_mo_number_and_not_a_short_code(world, nums):
    a = world.acme
    services.set_account_number(a.account, None, actor=a.master)
    with pytest.raises(Invalid, match="no MO number"):
        services.claim_keyword(a.account, "X1", actor=a.master)
    services.set_account_number(a.account, nums.short, actor=a.master)
    with pytest.raises(Invalid, match="short code"):
        services.claim_keyword(a.account, "X1", actor=a.master)
    assert not Keyword.objects.exists()


def test_release_keyword(world, nums):
    kw = services.claim_keyword(world.acme.account, "GONE", actor=world.acme.master)
    services.release_keyword(kw, actor=world.acme.master)
    assert not Keyword.objects.exists()
    assert AuditEntry.objects.filter(action="keyword.release", customer=world.acme.customer).exists()


def test_leaving_a_number_drops_the_accounts_keywords_and_unmatched_role(world, nums):
    a = world.acme
    services.claim_keyword(a.account, "ACME", actor=a.master)
    assert UnmatchedOwner.objects.get(number=nums.shared).account == a.account
    services.set_account_number(a.account, nums.short, actor=a.master)
    assert not Keyword.objects.filter(account=a.account).exists()
    assert not UnmatchedOwner.objects.filter(number=nums.shared).exists()


# --- MO number and Manage Unmatched -------------------------------------------------------------


def test_an_account_may_use_only_its_customers_activated_numbers(world, nums):
    a = world.acme
    for number in (nums.dedicated, nums.spare):
        with pytest.raises(Invalid):
            services.set_account_number(a.account, number, actor=a.master)
    assert AccountNumber.objects.get(account=a.account).number == nums.shared


def test_unmatched_owner_must_be_an_account_using_the_number(world, nums):
    a, g = world.acme, world.globex
    services.set_account_number(a.other_account, nums.short, actor=a.master)
    before = audit_count()
    with pytest.raises(Invalid, match="does not use"):
        services.set_unmatched_owner(nums.shared, a.other_account, actor=a.master)
    with pytest.raises(Invalid):
        services.set_unmatched_owner(nums.shared, g.account, actor=g.master)  # another customer's account
    with pytest.raises(Invalid):
        services.set_unmatched_owner(nums.dedicated, a.account, actor=a.master)  # another customer's number
    assert UnmatchedOwner.objects.get(number=nums.shared).account == a.account
    assert audit_count() == before


def test_set_unmatched_owner_audits(world, nums):
    a = world.acme
    services.set_unmatched_owner(nums.shared, a.other_account, actor=a.master)
    entry = AuditEntry.objects.get(action="number.unmatched_owner")
    assert entry.before == {"account": a.account.pk} and entry.after == {"account": a.other_account.pk}


# --- assignment by subscriber ID ----------------------------------------------------------------


def test_assign_by_subscriber_id_forms(world, nums):
    staff, g = nums.staff, world.globex
    for sid in (g.customer.subscriber_id, str(g.customer.pk), g.customer.pk, f"s{g.customer.pk}"):
        number = services.assign_number(nums.spare, sid, actor=staff)
        assert (number.customer, number.status) == (g.customer, Number.Status.ASSIGNED)
        assert number.assigned_at is not None
    assert AuditEntry.objects.filter(action="number.assign", object_id=str(nums.spare.pk)).count() == 1


@pytest.mark.parametrize("sid", ["S999999", "abc", "", "S-1"])
def test_assign_to_an_unknown_subscriber_is_refused(world, nums, sid):
    with pytest.raises(Invalid) as exc:
        services.assign_number(nums.spare, sid, actor=nums.staff)
    assert "subscriber_id" in exc.value.fields
    assert Number.objects.get(pk=nums.spare.pk).customer is None


def test_a_number_of_another_customer_is_not_reassigned(world, nums):
    with pytest.raises(Invalid, match="another subscriber") as exc:
        services.assign_number(nums.dedicated, world.acme.customer.subscriber_id, actor=nums.staff)
    assert "phone_number" in exc.value.fields
    assert Number.objects.get(pk=nums.dedicated.pk).customer == world.globex.customer
    with pytest.raises(Invalid, match="not assigned to subscriber"):
        services.unassign_number(nums.dedicated, world.acme.customer.pk, actor=nums.staff)


def test_unassign_refused_while_used_unless_forced(world, nums):
    a = world.acme
    services.claim_keyword(a.account, "ACME", actor=a.master)
    with pytest.raises(Conflict, match="Sales, Support desk"):
        services.unassign_number(nums.shared, a.customer.pk, actor=nums.staff)
    assert Number.objects.get(pk=nums.shared.pk).customer == a.customer
    number = services.unassign_number(nums.shared, a.customer.pk, actor=nums.staff, force=True)
    assert (number.customer, number.status, number.assigned_at) == (None, Number.Status.AVAILABLE, None)
    assert not AccountNumber.objects.filter(number=number).exists()
    assert not Keyword.objects.filter(number=number).exists()
    assert not UnmatchedOwner.objects.filter(number=number).exists()
    entry = AuditEntry.objects.get(action="number.unassign")
    assert entry.customer_id == a.customer.pk and entry.before["keywords"] == ["ACME"]


def test_unassign_an_unused_number(world, nums):
    number = services.unassign_number(nums.one_way, world.acme.customer.subscriber_id, actor=nums.staff)
    assert number.status == Number.Status.AVAILABLE


def test_add_number_validates_and_refuses_duplicates(world, nums):
    with pytest.raises(Invalid) as exc:
        services.add_number(actor=nums.staff, value="0701110001", kind="long_code", country="SE")
    assert exc.value.code == ErrorCode.DUPLICATE  # the same number as SHARED, written nationally
    for value, kind, country, field in [
        ("12", "short_code", "SE", "value"),
        ("123456789", "short_code", "SE", "value"),
        ("hello", "long_code", "SE", "value"),
        ("+46701234567", "premium", "SE", "kind"),
        ("+46701234567", "long_code", "Sweden", "country"),
    ]:
        with pytest.raises(Invalid) as exc:
            services.add_number(actor=nums.staff, value=value, kind=kind, country=country)
        assert field in exc.value.fields


# --- CSV import ----------------------------------------------------------------------------------

CSV = (
    "value,kind,country,operator,two_way\n"
    "+46702220001,long_code,SE,Telia,yes\n"  # line 2: good
    "12,short_code,SE,,no\n"  # line 3: too short
    "71000,short_code,SE,Tele2,\n"  # line 4: good
    f"{SHORT},short_code,SE,,yes\n"  # line 5: exists
    "+46702220001,long_code,SE,,no\n"  # line 6: duplicate of line 2
    "+46702220002,long_code,SE,,maybe\n"  # line 7: bad flag
    "+46702220003,fax,SE,,\n"  # line 8: bad kind
)


def test_import_reports_every_bad_row_and_applies_nothing(world, nums):
    before = (Number.objects.count(), audit_count())
    report = services.import_numbers(CSV.encode(), actor=nums.staff)
    assert [line for line, _ in report.errors] == [3, 5, 6, 7, 8]
    assert "also on line 2" in dict(report.errors)[6]
    assert "already in the inventory" in dict(report.errors)[5]
    assert report.created == [] and report.valid_rows == 2
    assert (Number.objects.count(), audit_count()) == before


def test_import_only_valid_rows(world, nums):
    report = services.import_numbers(CSV, actor=nums.staff, only_valid=True)
    assert sorted(n.value for n in report.created) == ["+46702220001", "71000"]
    assert len(report.errors) == 5
    telia = Number.objects.get(value="+46702220001")
    assert (telia.operator, telia.two_way, telia.status) == ("Telia", True, Number.Status.AVAILABLE)
    assert AuditEntry.objects.filter(action="number.import").count() == 2


def test_import_clean_file(world, nums):
    report = services.import_numbers("\ufeffvalue,kind,country\n+46702220009,dnis,se\n", actor=nums.staff)
    assert [n.value for n in report.created] == ["+46702220009"] and not report.errors


@pytest.mark.parametrize(
    "data", [b"\xff\xfe\x00garbage", "number,kind\n1,2\n", "", 'value,kind,country\n"unterminated,dnis,SE\n']
)
def test_import_malformed_files(world, nums, data):
    before = Number.objects.count()
    try:
        report = services.import_numbers(data, actor=nums.staff, only_valid=True)
    except Invalid as exc:
        assert "file" in exc.fields
    else:
        assert report.errors and not report.created
    assert Number.objects.count() == before


# --- keyword orders ------------------------------------------------------------------------------


@pytest.fixture
def on_short(world, nums):
    a = world.acme
    services.set_account_number(a.account, nums.short, actor=a.master)
    return nums


def test_order_then_approve_creates_the_keyword(world, on_short):
    a = world.acme
    order = services.order_keyword(a.account, on_short.short, "win", actor=a.users["technician"])
    assert (order.status, order.word, order.ordered_by) == ("pending", "WIN", a.users["technician"])
    keyword = services.approve_keyword_order(order, actor=on_short.staff)
    assert (keyword.word, keyword.account, keyword.number) == ("WIN", a.account, on_short.short)
    order.refresh_from_db()
    assert (order.status, order.decided_by) == ("approved", on_short.staff)
    with pytest.raises(Conflict):
        services.approve_keyword_order(order, actor=on_short.staff)
    assert AuditEntry.objects.filter(action="keyword_order.approve", customer=a.customer).count() == 1


def test_order_refusals(world, on_short):
    a = world.acme
    services.order_keyword(a.account, on_short.short, "WIN", actor=a.master)
    with pytest.raises(Invalid, match="already ordered"):
        services.order_keyword(a.account, on_short.short, "win", actor=a.master)
    with pytest.raises(Invalid, match="not a short code"):
        services.order_keyword(a.other_account, on_short.shared, "X", actor=a.master)
    with pytest.raises(Invalid, match="does not use"):
        services.order_keyword(a.other_account, on_short.short, "X", actor=a.master)
    with pytest.raises(Invalid):
        services.order_keyword(world.globex.account, on_short.short, "X", actor=world.globex.master)
    assert KeywordOrder.objects.count() == 1


def test_approve_refused_when_taken_meanwhile(world, on_short):
    a = world.acme
    order = services.order_keyword(a.account, on_short.short, "WIN", actor=a.master)
    services.set_account_number(a.other_account, on_short.short, actor=a.master)
    Keyword.objects.create(customer=a.customer, account=a.other_account, number=on_short.short, word="WIN")
    before = audit_count()
    with pytest.raises(Invalid, match=f"already taken on {SHORT}"):
        services.approve_keyword_order(order, actor=on_short.staff)
    order.refresh_from_db()
    assert order.status == "pending" and Keyword.objects.count() == 1 and audit_count() == before


def test_reject_needs_a_reason(world, on_short):
    a = world.acme
    order = services.order_keyword(a.account, on_short.short, "WIN", actor=a.master)
    with pytest.raises(Invalid):
        services.reject_keyword_order(order, actor=on_short.staff, reason="  ")
    done = services.reject_keyword_order(order, actor=on_short.staff, reason="Reserved by the operator")
    assert (done.status, done.reason) == ("rejected", "Reserved by the operator")
    assert not Keyword.objects.exists()
    with pytest.raises(Conflict):
        services.reject_keyword_order(order, actor=on_short.staff, reason="again")


def test_a_technician_of_one_account_cannot_take_another_accounts_number_or_its_unmatched_messages(world):
    """A number used by account B is B's business too: joining it, or moving its unmatched messages,
    needs the right to manage numbers in B (or a master user)."""
    from kontor.core.errors import Forbidden
    from kontor.numbers.models import UnmatchedOwner
    from kontor.numbers.services import add_number, assign_number, set_account_number, set_unmatched_owner

    acme, staff = world.acme, world.staff["admin"]
    number = add_number(actor=staff, value="+46701119999", kind="long_code", country="SE", two_way=True)
    assign_number(number, acme.customer.subscriber_id, actor=staff)
    set_account_number(acme.other_account, number, actor=acme.master)  # B has it to itself
    technician = acme.users["technician"]  # member of Sales only
    with pytest.raises(Forbidden):
        set_account_number(acme.account, number, actor=technician)
    set_account_number(acme.account, number, actor=acme.master)  # a master user may share it
    with pytest.raises(Forbidden):
        set_unmatched_owner(number, acme.account, actor=technician)
    assert UnmatchedOwner.objects.get(number=number).account == acme.other_account
