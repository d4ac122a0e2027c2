"""Campaign fan-out (kontor/messaging/bulk/fanout.py): rendered texts with custom columns (and the characters
COPY must escape), pricing per prefix, opt-outs, refusals that write nothing, one reservation journal per
campaign that settle, release and refund per message keep balanced, dispatch in chunks on commit, and a
campaign of a few thousand recipients. Both databases: PostgreSQL writes with COPY, SQLite with
bulk_create."""

from __future__ import annotations

import datetime as dt
import io
import random
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kontor.audit.models import AuditEntry
from kontor.contacts.models import Contact, Phonebook
from kontor.contacts.services import add_contact, create_phonebook, opt_out
from kontor.core.errors import Invalid
from kontor.ledger.models import JournalTransaction
from kontor.ledger.posting import InsufficientCredits, hold_wallet, pool_wallet
from kontor.ledger.verify import verify
from kontor.messaging.bulk import fanout
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import Campaign, Message, MessageEvent, RateCardEntry, Status
from kontor.messaging.rules import encoding
from kontor.messaging.rules import ratecard as rates
from kontor.messaging.services import campaigns
from kontor.messaging.services.campaigns import preview_campaign, send_campaign
from tests.messaging.conftest import fund

pytestmark = pytest.mark.django_db

STO = ZoneInfo("Europe/Stockholm")


def bulk_book(world, n: int, *, name: str = "Big", first: int = 0) -> Phonebook:
    """A phonebook of `n` contacts (+46702000000 onwards) straight into the table, as an import leaves
    them: E.164 phones, values by column id."""
    account = world.acme.account
    cols = {c.name: c for c in world.acme.columns}
    book = create_phonebook(account, actor=world.acme.master, name=name)
    Contact.objects.bulk_create(
        [
            Contact(
                customer=world.acme.customer,
                account=account,
                phonebook=book,
                phone=f"+4670{2_000_000 + first + i:07d}",
                values={str(cols["Name"].pk): f"N{first + i}", str(cols["Surname"].pk): f"S{(first + i) % 7}"},
            )
            for i in range(n)
        ]
    )
    return book


def ledger_verify_ok() -> str:
    out = io.StringIO()
    call_command("ledger", "verify", stdout=out)  # raises CommandError on any finding
    return out.getvalue()


def nothing_written(world, balance: int) -> None:
    assert not Campaign.objects.exists() and not Message.objects.exists() and not MessageEvent.objects.exists()
    assert not JournalTransaction.objects.filter(kind="reservation").exists()
    assert pool_wallet(world.acme.account).balance == balance
    assert hold_wallet(world.acme.customer).balance == 0
    assert not AuditEntry.objects.filter(action="campaign.send").exists()


# --- rendering and pricing ----------------------------------------------------------------------


def test_texts_rendered_with_columns_and_written_exactly(world):
    """Values and template text with the characters COPY's text format escapes (backslash, tab,
    newline, carriage return), literal braces, a missing value, and Unicode all arrive as rendered."""
    fund(pool_wallet(world.acme.account), 100)
    cols = {c.name: c for c in world.acme.columns}
    book = create_phonebook(world.acme.account, actor=world.acme.master, name="Odd")
    people = {
        "+46701000001": {"Name": "Anna", "Surname": "Back\\slash"},
        "+46701000002": {"Name": "Tab\tbed", "Surname": "Line\nbreak\rCR"},
        "+46701000003": {"Name": "Åsa"},  # no surname: renders as ""
        "+46701000004": {"Name": "Зоя", "Surname": "\\N"},  # UCS-2, and COPY's NULL marker as text
    }
    Contact.objects.bulk_create(
        [
            Contact(
                customer=world.acme.customer,
                account=world.acme.account,
                phonebook=book,
                phone=phone,
                values={str(cols[k].pk): v for k, v in values.items()},
            )
            for phone, values in people.items()
        ]
    )
    text = "Hi {Name} {surname}! {{braces}} \\ end\nsee you"
    campaign = send_campaign(
        world.acme.account, actor=world.acme.users["sender"], name="Odd", text=text, phonebook=book
    )
    got = {m.to_number: m for m in Message.objects.filter(campaign_id=campaign.pk)}
    tail = "! {braces} \\ end\nsee you"
    assert got["+46701000001"].text == "Hi Anna Back\\slash" + tail
    assert got["+46701000002"].text == "Hi Tab\tbed Line\nbreak\rCR" + tail
    assert got["+46701000003"].text == "Hi Åsa " + tail
    assert got["+46701000004"].text == "Hi Зоя \\N" + tail
    # A tab is not in the GSM 03.38 table, Cyrillic neither; backslash and braces are (extension table).
    assert [got[p].encoding for p in sorted(got)] == ["gsm7", "ucs2", "gsm7", "ucs2"]
    sender = world.acme.users["sender"]
    wallet = pool_wallet(world.acme.account)
    for m in got.values():
        info = encoding.analyse(m.text)
        credits, entry = rates.price(m.to_number, info.segments)
        assert (m.encoding, m.segments, m.credits) == (info.encoding, info.segments, credits)
        assert (m.rate_prefix, m.operator) == (entry.prefix, entry.operator)
        assert (m.user_id, m.wallet_id, m.account_id, m.customer_id) == (
            sender.pk,
            wallet.pk,
            world.acme.account.pk,
            world.acme.customer.pk,
        )
        assert m.status == Status.QUEUED and m.direction == "out" and m.from_number and m.scheduled_for is None
        assert m.created_at is not None and m.idempotency_key is None and m.attempts == 0
        event = m.events.get()
        assert event.status == Status.QUEUED
        assert event.detail == {"credits": m.credits, "segments": m.segments, "wallet": wallet.pk}
    assert campaign.credits_total == sum(m.credits for m in got.values())


def test_price_per_prefix_and_segments(world):
    """The rate comes from the longest prefix (cached by leading digits, so neighbours of a longer
    prefix must not inherit it); a long render costs per segment."""
    fund(pool_wallet(world.acme.account), 1000)
    RateCardEntry.objects.create(prefix="4670200000", operator="Tiny", credits_per_segment=5)
    RateCardEntry.objects.create(prefix="467020", operator="Dear", credits_per_segment=3)
    book = bulk_book(world, 12)  # +46702000000 … +46702000011
    Contact.objects.filter(phone="+46702000011").update(values={str(world.acme.columns[0].pk): "x" * 200})
    campaign = send_campaign(world.acme.account, actor=world.acme.master, name="P", text="Hi {Name}", phonebook=book)
    messages = {m.to_number: m for m in Message.objects.filter(campaign_id=campaign.pk)}
    assert messages["+46702000003"].rate_prefix == "4670200000" and messages["+46702000003"].credits == 5
    assert messages["+46702000010"].rate_prefix == "467020" and messages["+46702000010"].credits == 3
    assert messages["+46702000011"].segments == 2 and messages["+46702000011"].credits == 6
    for m in messages.values():
        assert m.credits == rates.price(m.to_number, m.segments)[0]
    assert campaign.credits_total == sum(m.credits for m in messages.values()) == 10 * 5 + 3 + 6


@pytest.mark.parametrize(
    "text",
    [
        "x",
        "a" * 160,
        "a" * 161,
        "a" * 159 + "€",  # the extension character takes two septets: 161
        "a" * 158 + "€",
        "{" * 80,
        "{" * 81,
        "ä" * 70,  # GSM-7 basic table despite being non-ASCII
        "ж" * 70,
        "ж" * 71,
        "😀" * 35,  # surrogate pairs: 70 UTF-16 units
        "😀" * 36,
        "line\nbreak\r" * 30,
        "€" * 400,
        "a" * 306,  # 2 segments of 153
        "a" * 307,
        "ж" * 134,  # 2 segments of 67
        "ж" * 135,
        "ж" * 70 + "😀",  # a surrogate pair past a single segment: split keeps it whole
        "ж" * 66 + "😀" + "ж" * 66,
        "{" * 200,
        "é\r\n" * 60,
        "",
    ],
)
def test_fast_analysis_agrees_with_the_encoding_module(text):
    info = encoding.analyse(text)
    assert fanout._analyse(text) == (info.encoding, info.segments)


def test_fast_analysis_agrees_on_random_texts():
    rng = random.Random(4)
    alphabet = "abcXYZ 019.,!?\n\ré€{}[]~|^\\ÄöÜ§ж中😀🇸🇪\t`"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet[: rng.randint(1, len(alphabet))]) for _ in range(rng.randint(1, 420)))
        info = encoding.analyse(text)
        assert fanout._analyse(text) == (info.encoding, info.segments), text


# --- refusals: nothing written --------------------------------------------------------------------


def test_unknown_column_refused(world):
    fund(pool_wallet(world.acme.account), 100)
    book = bulk_book(world, 3)
    with pytest.raises(Invalid) as exc:
        send_campaign(world.acme.account, actor=world.acme.master, name="X", text="Hi {Nick}", phonebook=book)
    assert exc.value.fields["text"][0].startswith("Unknown column {Nick}")
    nothing_written(world, 100)


@pytest.mark.parametrize(
    ("text", "numbers", "field", "message"),
    [
        ("  ", None, "text", "Write a message."),
        ("a\x00b", None, "text", "The text contains a NUL character, which no message can carry."),
        ("Hi", ["0701000001"], "numbers", "Choose a phonebook or give numbers, not both."),
        ("Hi {Name}", None, None, None),  # the control: this one is sent
    ],
)
def test_bad_input_refused(world, text, numbers, field, message):
    fund(pool_wallet(world.acme.account), 100)
    book = bulk_book(world, 2)
    send = lambda: send_campaign(  # noqa: E731
        world.acme.account, actor=world.acme.master, name="X", text=text, phonebook=book, numbers=numbers
    )
    if field is None:
        assert send().recipients_count == 2
        return
    with pytest.raises(Invalid) as exc:
        send()
    assert exc.value.fields[field] == [message]
    nothing_written(world, 100)


def test_insufficient_credits_refused_before_writing_with_the_numbers(world):
    fund(pool_wallet(world.acme.account), 10)
    book = bulk_book(world, 11)
    with pytest.raises(InsufficientCredits) as exc:
        send_campaign(world.acme.account, actor=world.acme.master, name="X", text="Hi {Name}", phonebook=book)
    assert (exc.value.available, exc.value.needed) == (10, 11)
    assert "insufficient credits: 10 available, 11 needed" in exc.value.message
    nothing_written(world, 10)


def test_credits_spent_meanwhile_roll_everything_back(world, monkeypatch):
    """The balance checked before writing was stale (another send took the credits): the reservation at
    the end of the transaction refuses, and the messages written before it go too."""
    wallet = fund(pool_wallet(world.acme.account), 10)
    book = bulk_book(world, 11)
    wallet.balance = 1000  # what this process believes

    monkeypatch.setattr(campaigns, "sending_wallet", lambda actor, account: wallet)
    with pytest.raises(InsufficientCredits) as exc:
        send_campaign(world.acme.account, actor=world.acme.master, name="X", text="Hi {Name}", phonebook=book)
    assert exc.value.needed == 11
    nothing_written(world, 10)


def test_unsendable_text_for_one_contact_names_the_number(world):
    fund(pool_wallet(world.acme.account), 1000)
    book = bulk_book(world, 5)
    Contact.objects.filter(phone="+46702000002").update(values={str(world.acme.columns[0].pk): "x" * 1200})
    with pytest.raises(Invalid) as exc:
        send_campaign(world.acme.account, actor=world.acme.master, name="X", text="Hi {Name}", phonebook=book)
    assert exc.value.fields["text"][0].startswith("+46702000002: The message is too long: 8 segments")
    Contact.objects.filter(phone="+46702000002").update(values={})
    with pytest.raises(Invalid) as exc:
        send_campaign(world.acme.account, actor=world.acme.master, name="X", text="{Name}", phonebook=book)
    assert exc.value.fields["text"] == ["+46702000002: Write a message."]
    nothing_written(world, 1000)


def test_no_rate_for_a_destination_refused(world):
    fund(pool_wallet(world.acme.account), 100)
    RateCardEntry.objects.filter(prefix="").delete()
    with pytest.raises(Invalid) as exc:
        send_campaign(world.acme.account, actor=world.acme.master, name="X", text="Hi", numbers=["+4915123456789"])
    assert exc.value.fields["text"] == [
        "+4915123456789: There is no rate for this destination; the provider must add one."
    ]
    nothing_written(world, 100)


# --- opt-outs -------------------------------------------------------------------------------------


def test_opted_out_skipped_across_chunks(world, monkeypatch):
    monkeypatch.setattr(fanout, "CHUNK", 4)  # opt-outs are looked up chunk by chunk
    fund(pool_wallet(world.acme.account), 100)
    book = bulk_book(world, 13)
    account = world.acme.account
    for phone in ("+46702000000", "+46702000005", "+46702000012", "+46709999999"):  # the last is in no book
        opt_out(account, phone, source="manual", actor=world.acme.master)
    opt_out(world.acme.other_account, "+46702000001", source="manual", actor=world.acme.master)  # another account
    p = preview_campaign(account, text="Hi {Name}", phonebook=book)
    assert (p.recipients, p.skipped_opted_out, p.credits_total) == (10, 3, 10)
    assert [to for to, _ in p.sample_renders] == ["+46702000001", "+46702000002", "+46702000003"]
    campaign = send_campaign(account, actor=world.acme.master, name="O", text="Hi {Name}", phonebook=book)
    sent = set(Message.objects.filter(campaign_id=campaign.pk).values_list("to_number", flat=True))
    assert len(sent) == 10 and not sent & {"+46702000000", "+46702000005", "+46702000012"}
    assert AuditEntry.objects.get(action="campaign.send").after["skipped_opted_out"] == 3


def test_everyone_opted_out_is_refused(world):
    fund(pool_wallet(world.acme.account), 100)
    book = bulk_book(world, 2)
    for phone in ("+46702000000", "+46702000001"):
        opt_out(world.acme.account, phone, source="manual", actor=world.acme.master)
    with pytest.raises(Invalid) as exc:
        send_campaign(world.acme.account, actor=world.acme.master, name="X", text="Hi", phonebook=book)
    assert "No one to send to" in exc.value.fields["phonebook"][0]
    nothing_written(world, 100)


# --- credits --------------------------------------------------------------------------------------


def test_one_reservation_then_settle_release_and_refund_per_message_balance(world, run_commits):
    """Reserved in one journal for the campaign; each message then settles (accepted), releases
    (refused at submit) or is refunded (failed or expired after acceptance) on its own, and the ledger
    verifies at every step."""
    account = world.acme.account
    fund(pool_wallet(account), 100)
    RateCardEntry.objects.create(prefix="4670100000", credits_per_segment=2)
    book = create_phonebook(account, actor=world.acme.master, name="Outcomes")
    outcomes = {
        "+46701000001": "",
        "+46701000002": "#fail",
        "+46701000003": "#undeliverable",
        "+46701000004": "#expire",
    }
    for phone, surname in outcomes.items():
        add_contact(book, actor=world.acme.master, phone=phone, values={"Name": "N", "Surname": surname})
    with run_commits():
        campaign = send_campaign(account, actor=world.acme.master, name="C", text="Hi {Name} {Surname}", phonebook=book)
        # Committed, not yet dispatched: everything sits in the hold wallet.
        assert campaign.credits_total == 8
        assert pool_wallet(account).balance == 92 and hold_wallet(world.acme.customer).balance == 8
        journal = JournalTransaction.objects.get(kind="reservation")
        assert journal.reference == f"campaign:{campaign.pk}" and journal.customer_id == world.acme.customer.pk
        assert sorted(p.delta for p in journal.postings.all()) == [-8, 8]
        assert verify() == []
        assert "ledger OK" in ledger_verify_ok()
    status = dict(Message.objects.filter(campaign_id=campaign.pk).values_list("to_number", "status"))
    assert status == {
        "+46701000001": Status.DELIVERED,
        "+46701000002": Status.FAILED,
        "+46701000003": Status.FAILED,
        "+46701000004": Status.EXPIRED,
    }
    kinds = sorted(
        JournalTransaction.objects.exclude(kind__in=["purchase", "reservation"]).values_list("kind", flat=True)
    )
    assert kinds == ["consumption"] * 3 + ["refund"] * 2 + ["release"]
    assert hold_wallet(world.acme.customer).balance == 0
    assert pool_wallet(account).balance == 100 - 2  # only the delivered message is paid for
    assert verify() == []
    assert "ledger OK" in ledger_verify_ok()


# --- dispatch -------------------------------------------------------------------------------------


class FakeTask:
    """Stands in for delivery.dispatch_messages: records what would be enqueued."""

    def __init__(self, *, defer: bool = True) -> None:
        self.calls: list[tuple[list[int], dt.datetime | None]] = []
        self.run_after: dt.datetime | None = None
        self.defer = defer

    def get_backend(self):
        return type("Backend", (), {"supports_defer": self.defer})()

    def using(self, *, run_after):
        self.run_after = run_after
        return self

    def enqueue(self, ids):
        self.calls.append((list(ids), self.run_after))


def test_dispatch_enqueued_in_chunks_once_committed(world, monkeypatch, django_capture_on_commit_callbacks):
    fund(pool_wallet(world.acme.account), 100)
    book = bulk_book(world, 5)
    fake = FakeTask()
    monkeypatch.setattr(delivery, "dispatch_messages", fake)
    monkeypatch.setattr(fanout, "DISPATCH_CHUNK", 2)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        campaign = send_campaign(world.acme.account, actor=world.acme.master, name="D", text="Hi", phonebook=book)
        assert fake.calls == []  # nothing before the commit
    assert len(callbacks) == 1
    ids = list(Message.objects.filter(campaign_id=campaign.pk).order_by("to_number").values_list("pk", flat=True))
    assert fake.calls == [(ids[0:2], None), (ids[2:4], None), (ids[4:5], None)]


def test_scheduled_campaign_enqueued_for_its_time(world, monkeypatch, django_capture_on_commit_callbacks):
    account = world.acme.account
    account.office_hours_only = True
    account.save()
    fund(pool_wallet(account), 100)
    book = bulk_book(world, 3)
    saturday = dt.datetime(2026, 11, 21, 12, 0, tzinfo=STO)
    monday = dt.datetime(2026, 11, 23, 10, 0, tzinfo=STO)
    monkeypatch.setattr(timezone, "now", lambda: saturday)
    fake = FakeTask()
    monkeypatch.setattr(delivery, "dispatch_messages", fake)
    with django_capture_on_commit_callbacks(execute=True):
        campaign = send_campaign(
            account, actor=world.acme.master, name="S", text="Hi", phonebook=book, office_hours="schedule"
        )
    assert campaign.status == Campaign.State.SCHEDULED and campaign.scheduled_for == monday
    messages = Message.objects.filter(campaign_id=campaign.pk)
    assert {(m.status, m.scheduled_for) for m in messages} == {(Status.SCHEDULED, monday)}
    event = MessageEvent.objects.filter(message__campaign_id=campaign.pk).first()
    assert event.status == Status.SCHEDULED and event.detail["scheduled_for"] == monday.isoformat()
    assert [run_after for _, run_after in fake.calls] == [monday]
    assert pool_wallet(account).balance == 97 and hold_wallet(world.acme.customer).balance == 3
    assert verify() == []
    # A backend that cannot defer enqueues nothing: `kontor dispatch_pending` sends them when due.
    fake_no_defer = FakeTask(defer=False)
    monkeypatch.setattr(delivery, "dispatch_messages", fake_no_defer)
    with django_capture_on_commit_callbacks(execute=True):
        send_campaign(account, actor=world.acme.master, name="S2", text="Hi", phonebook=book, office_hours="schedule")
    assert fake_no_defer.calls == []


def test_a_campaign_of_thousands(world, django_capture_on_commit_callbacks, monkeypatch):
    """3,000 contacts with custom columns, 30 opted out: every reachable one gets its own text, the
    credits are reserved in one journal, and the work is set-based (the query count does not grow with
    the recipients)."""
    account = world.acme.account
    fund(pool_wallet(account), 10_000)
    book = bulk_book(world, 3000)
    for i in range(0, 3000, 100):
        opt_out(account, f"+4670{2_000_000 + i:07d}", source="manual", actor=world.acme.master)
    fake = FakeTask()
    monkeypatch.setattr(delivery, "dispatch_messages", fake)
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        campaign = send_campaign(
            account, actor=world.acme.master, name="Thousands", text="Dear {Name} {Surname}, hello.", phonebook=book
        )
    # PostgreSQL: two COPYs, whatever the size; SQLite: bulk inserts of a few dozen rows each.
    assert len(queries) < (40 if connection.vendor == "postgresql" else 200), len(queries)
    assert (campaign.recipients_count, campaign.credits_total) == (2970, 2970)
    messages = Message.objects.filter(campaign_id=campaign.pk)
    assert messages.count() == 2970 and MessageEvent.objects.filter(message__campaign_id=campaign.pk).count() == 2970
    assert messages.get(to_number="+46702001234").text == "Dear N1234 S2, hello."
    assert not messages.filter(to_number="+46702001200").exists()
    assert len(set(messages.values_list("text", flat=True))) == 2970
    assert sorted(i for ids, _ in fake.calls for i in ids) == sorted(messages.values_list("pk", flat=True))
    assert len(fake.calls) == 3  # 1,000 to a task
    assert pool_wallet(account).balance == 10_000 - 2970 and hold_wallet(world.acme.customer).balance == 2970
    assert JournalTransaction.objects.filter(kind="reservation").count() == 1
    assert "ledger OK" in ledger_verify_ok()
