"""The plan → preview → apply engine on contacts: the plan writes nothing and is stable, its fingerprint
moves with any row, apply refuses drift and writes set-based with one audit batch, all or nothing, and
only the caller's rows are ever in a plan."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kontor.audit.models import AuditEntry
from kontor.contacts import services
from kontor.contacts.bulk import IN_TARGET, CopyContacts, DeleteContacts, MoveContacts, apply_bulk
from kontor.contacts.models import Contact
from kontor.core import bulk
from kontor.core.errors import ErrorCode, Invalid

pytestmark = pytest.mark.django_db


@pytest.fixture
def filled(world, book):
    a = world.acme
    for i in range(5):
        services.add_contact(book, actor=a.master, phone=f"+4670123456{i}", values={"Name": f"N{i}"})
    return book


@pytest.fixture
def vip(world):
    return services.create_phonebook(world.acme.account, actor=world.acme.master, name="VIP")


def _contacts(book):
    return Contact.objects.filter(phonebook=book)


def test_plan_writes_nothing_and_is_stable(world, filled):
    audits = AuditEntry.objects.count()
    action = DeleteContacts(filled)
    first = bulk.plan(action, _contacts(filled))
    second = bulk.plan(action, _contacts(filled))
    assert first == second and len(first.changes) == 5 and len(first.ids) == 5
    assert [c.label for c in first.changes] == sorted(c.label for c in first.changes)
    assert first.changes[0].after is None and first.changes[0].before == {"phonebook": "Customers"}
    assert _contacts(filled).count() == 5 and AuditEntry.objects.count() == audits


def test_decide_is_pure_over_rows(world, filled, vip):
    """The pure part takes plain rows: the same rows and context give the same plan, no database."""
    action = MoveContacts(filled, vip)
    rows = [{"pk": 2, bulk.VERSION: "t2", "phone": "+2"}, {"pk": 1, bulk.VERSION: "t1", "phone": "+1"}]
    one = bulk.decide_all(action, rows, {"+2"})
    assert one == bulk.decide_all(action, list(reversed(rows)), {"+2"})
    assert [c.pk for c in one.changes] == [1, 2] and one.ids == (1,)
    assert one.refused[0].refusal == IN_TARGET
    assert bulk.decide_all(action, rows, set()).fingerprint != one.fingerprint  # a refusal is part of it


def test_fingerprint_moves_with_any_row_and_with_the_change(world, filled, vip):
    action = DeleteContacts(filled)
    before = bulk.plan(action, _contacts(filled)).fingerprint
    contact = _contacts(filled).first()
    services.update_contact(contact, actor=world.acme.master, values={"Name": "Changed"})
    edited = bulk.plan(action, _contacts(filled)).fingerprint
    assert edited != before
    services.add_contact(filled, actor=world.acme.master, phone="+46709999999")
    assert bulk.plan(action, _contacts(filled)).fingerprint != edited
    assert (
        bulk.plan(MoveContacts(filled, vip), _contacts(filled)).fingerprint
        != bulk.plan(CopyContacts(filled, vip), _contacts(filled)).fingerprint
    )


def test_apply_deletes_set_based_with_one_audit_batch(world, filled):
    action = DeleteContacts(filled)
    plan = bulk.plan(action, _contacts(filled))
    with CaptureQueriesContext(connection) as queries:
        applied = apply_bulk(action, _contacts(filled), plan.fingerprint, actor=world.acme.master)
    assert applied.count == 5 and not _contacts(filled).exists()
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    # The per-row audit (INSERT … SELECT), the DELETE, and the batch's own entry: not one statement per row.
    assert len(writes) == 3, writes
    rows = AuditEntry.objects.filter(batch_id=applied.batch_id)
    assert rows.count() == 6
    per_row = rows.filter(action="contact.delete").order_by("object_repr")
    assert per_row.count() == 5
    first = per_row.first()
    assert first.object_repr == "+46701234560" and first.actor == world.acme.master
    assert first.customer_id == world.acme.customer.pk and first.account_id == world.acme.account.pk
    assert first.before["phone"] == "+46701234560" and first.before["values"] == {str(world.acme.columns[0].pk): "N0"}
    header = rows.get(action="contact.bulk")
    assert header.after["changed"] == 5 and header.after["action"] == "contacts.delete"


def test_drift_is_refused_and_nothing_changes(world, filled):
    action = DeleteContacts(filled)
    plan = bulk.plan(action, _contacts(filled))
    services.add_contact(filled, actor=world.acme.master, phone="+46709999999")
    with pytest.raises(bulk.PlanChanged) as refused:
        apply_bulk(action, _contacts(filled), plan.fingerprint, actor=world.acme.master)
    assert refused.value.code == ErrorCode.BULK_PLAN_CHANGED and refused.value.status == 409
    assert len(refused.value.plan.changes) == 6  # the fresh plan, to preview again
    assert _contacts(filled).count() == 6 and not AuditEntry.objects.filter(action="contact.bulk").exists()
    applied = apply_bulk(action, _contacts(filled), refused.value.plan.fingerprint, actor=world.acme.master)
    assert applied.count == 6


def test_move_skips_numbers_already_in_the_target(world, filled, vip):
    services.add_contact(vip, actor=world.acme.master, phone="+46701234560")
    action = MoveContacts(filled, vip)
    plan = bulk.plan(action, _contacts(filled))
    assert len(plan.ids) == 4 and [c.label for c in plan.refused] == ["+46701234560"]
    assert plan.refusals()[0][0] == IN_TARGET and plan.refusals()[0][2] == 1
    applied = apply_bulk(action, _contacts(filled), plan.fingerprint, actor=world.acme.master)
    assert applied.count == 4
    assert list(_contacts(filled).values_list("phone", flat=True)) == ["+46701234560"]
    assert _contacts(vip).count() == 5
    outcomes = {label: outcome for _, label, outcome, _ in applied.results()}
    assert outcomes["+46701234560"] == "skipped" and outcomes["+46701234561"] == "ok"
    moved = AuditEntry.objects.filter(batch_id=applied.batch_id, action="contact.update")
    assert moved.count() == 4 and moved.first().after == {"phonebook": vip.pk}


def test_copy_inserts_set_based_and_audits_the_copies(world, filled, vip):
    action = CopyContacts(filled, vip)
    plan = bulk.plan(action, _contacts(filled))
    applied = apply_bulk(action, _contacts(filled), plan.fingerprint, actor=world.acme.master)
    assert applied.count == 5 and _contacts(filled).count() == 5 and _contacts(vip).count() == 5
    copy = _contacts(vip).get(phone="+46701234562")
    original = _contacts(filled).get(phone="+46701234562")
    assert copy.values == original.values and copy.search == original.search
    assert copy.customer_id == original.customer_id and copy.account_id == original.account_id
    created = AuditEntry.objects.filter(batch_id=applied.batch_id, action="contact.create")
    assert created.count() == 5
    entry = created.get(object_id=str(copy.pk))
    assert entry.after["copied_from"] == original.pk and entry.after["phonebook"] == vip.pk


def test_all_or_nothing_when_the_write_fails(world, filled, vip):
    """A number that reaches the target after the preview breaks the unique constraint: the whole move
    rolls back, audit included."""
    action = MoveContacts(filled, vip)
    contexts = iter([set(), set()])
    action.context = lambda queryset: next(contexts)  # type: ignore[method-assign]
    plan = bulk.plan(action, _contacts(filled))
    services.add_contact(vip, actor=world.acme.master, phone="+46701234563")
    with pytest.raises(Exception) as failed:
        apply_bulk(action, _contacts(filled), plan.fingerprint, actor=world.acme.master)
    assert getattr(failed.value, "status", None) == 409
    assert _contacts(filled).count() == 5 and _contacts(vip).count() == 1
    assert not AuditEntry.objects.filter(action__in=["contact.bulk", "contact.update"]).exists()


def test_partial_results_keep_the_rows_that_worked(world, filled):
    class Picky(DeleteContacts):
        def write(self, ids, batch):
            Contact.objects.filter(pk__in=ids[1:]).delete()
            return {ids[0]: "kept on purpose"}

    action = Picky(filled)
    plan = bulk.plan(action, _contacts(filled))
    with pytest.raises(bulk.PartlyFailed):
        bulk.apply(action, _contacts(filled), plan.fingerprint, actor=None)
    assert _contacts(filled).count() == 5
    applied = bulk.apply(action, _contacts(filled), plan.fingerprint, actor=None, partial=True)
    assert applied.count == 4 and _contacts(filled).count() == 1
    assert [o for _, _, o, _ in applied.results()].count("failed") == 1


def test_other_customers_rows_are_never_in_a_plan(world, filled):
    g = world.globex
    theirs = services.create_phonebook(g.account, actor=g.master, name="Theirs")
    foreign = services.add_contact(theirs, actor=g.master, phone="+4520123456")
    action = DeleteContacts(filled)
    # The selection is built in scope (by phonebook); a foreign id in it is simply not there.
    selection = _contacts(filled) | Contact.objects.filter(pk=foreign.pk, phonebook=filled)
    plan = bulk.plan(action, selection)
    assert foreign.pk not in plan.ids
    apply_bulk(action, selection, plan.fingerprint, actor=world.acme.master)
    assert Contact.objects.filter(pk=foreign.pk).exists()


def test_a_move_to_the_same_phonebook_is_invalid(world, filled):
    with pytest.raises(Invalid):
        MoveContacts(filled, filled)


def test_ids_go_as_one_parameter(world, filled):
    ids = list(_contacts(filled).values_list("pk", flat=True))
    many = ids + list(range(10**6, 10**6 + 100_000))
    assert sorted(Contact.objects.filter(pk__in=bulk.IdSet(many)).values_list("pk", flat=True)) == sorted(ids)
