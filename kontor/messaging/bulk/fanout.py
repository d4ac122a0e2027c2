"""Campaign fan-out, set-based: plan every recipient in one streamed pass, then write every message in
bulk, with one reservation journal for the whole campaign.

Plan (`plan`): the phonebook's contacts are read in chunks with only the custom columns the template
uses, and each chunk's opt-outs looked up at once; phones are already E.164 (normalised at import), so
only a typed list of numbers is parsed. Each text is rendered with the template compiled once, its
encoding and segments come from a cache by text (every render is the same when the template has no
columns), and its price from the rate card cached by the number's leading digits. The planned rows go
to a spool (memory up to SPOOL_MEMORY, then a temporary file), so the credits are known, and checked,
before anything is written, and what is written is exactly what was checked.

Write (`write`): on PostgreSQL the messages and their first events are COPYed, with ids taken from the
table's sequence beforehand; elsewhere bulk_create (both in bulk/insert.py, shared with the group
commit). The caller reserves the total in one journal (`reserve`, reference `campaign:<id>`): settle,
release and refund stay per message and need only the message (delivery/outbound.py), and the hold-balance check
(ledger verify) compares the hold wallet with the credits of messages in flight, so one journal for all
of them keeps both true. Dispatch is enqueued once committed (`enqueue_on_commit`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django_tasks.backends.immediate import ImmediateBackend

from kontor.contacts.models import Contact, OptOut
from kontor.contacts.selectors import ColumnValue
from kontor.contacts.templating import _parse, check_template
from kontor.core.errors import Invalid
from kontor.core.validation import e164
from kontor.ledger.models import JournalTransaction
from kontor.ledger.posting import Leg, hold_wallet, post
from kontor.messaging import adapters
from kontor.messaging.bulk import insert
from kontor.messaging.bulk.insert import Row, Sending, Spool
from kontor.messaging.delivery import outbound
from kontor.messaging.models import RateCardEntry
from kontor.messaging.rules import encoding, ratecard
from kontor.messaging.rules.text import MAX_TEXT, max_segments
from kontor.tenancy.models import CustomColumn

if TYPE_CHECKING:
    from kontor.contacts.models import Phonebook
    from kontor.tenancy.models import Account

CHUNK = 5000
MAX_NUMBERS = 10_000  # a typed or pasted list; bigger audiences belong in a phonebook
SAMPLES = 3
TEXT_CACHE = 4096
# Messages per dispatch task: a task row costs about a millisecond to enqueue, so delivery's 100 would
# make enqueueing a 100,000-recipient campaign take longer than writing it.
DISPATCH_CHUNK = 1000

_NOT_BASIC = re.compile("[^" + re.escape("".join(sorted(encoding.GSM_BASIC))) + "]")
_NOT_GSM = re.compile("[^" + re.escape("".join(sorted(encoding.GSM_BASIC | encoding.GSM_EXTENSION))) + "]")
_EXTENDED = re.compile("[" + re.escape("".join(sorted(encoding.GSM_EXTENSION))) + "]")


# --- pricing -------------------------------------------------------------------------------------


class Pricer:
    """Encoding, segments and credits of one text to one number, with the whole rate card loaded once."""

    def __init__(self) -> None:
        self.table = ratecard.RateTable()
        # The longest prefix is what decides, so numbers that share this many leading digits share a rate.
        self.width = max((len(prefix) for prefix in self.table.entries), default=0)
        self.entries: dict[str, RateCardEntry | None] = {}
        self.texts: dict[str, tuple[str, int]] = {}
        self.max_segments = max_segments()

    def analyse(self, text: str) -> tuple[str, int]:
        """(encoding, segments); Invalid (a bare problem, the caller names the number) when unsendable."""
        found = self.texts.get(text)
        if found is not None:
            return found
        if not text.strip():
            raise Invalid.field("text", "Write a message.")
        found = _analyse(text)
        if len(text) > MAX_TEXT or found[1] > self.max_segments:
            label = "GSM-7" if found[0] == encoding.GSM7 else "UCS-2 (Unicode)"
            raise Invalid.field(
                "text",
                f"The message is too long: {found[1]} segments ({label}); at most {self.max_segments} are allowed.",
            )
        if len(self.texts) >= TEXT_CACHE:
            self.texts.clear()  # texts that differ per contact: the cache is not helping, keep it small
        self.texts[text] = found
        return found

    def entry(self, phone: str) -> RateCardEntry:
        key = phone[1 : 1 + self.width]
        if key not in self.entries:
            try:
                self.entries[key] = self.table.price(phone, 1)[1]
            except Invalid:
                self.entries[key] = None
        found = self.entries[key]
        if found is None:
            raise Invalid.field("text", "There is no rate for this destination; the provider must add one.")
        return found

    def row(self, phone: str, text: str) -> Row:
        try:
            enc, segments = self.analyse(text)
            rate = self.entry(phone)
        except Invalid as exc:
            problem = next((p for ps in exc.fields.values() for p in ps), "not valid.")
            raise Invalid.field("text", f"{phone}: {problem}") from None
        return phone, text, enc, segments, rate.credits_per_segment * segments, rate.prefix, rate.operator


def _analyse(text: str) -> tuple[str, int]:
    """encoding.analyse's (encoding, segments), by regular expressions and lengths instead of its loops
    over every character; only where a split must keep pairs whole (an extension character's two septets,
    a surrogate pair) and the text needs more than one segment does it defer to encoding.analyse."""
    special = _NOT_BASIC.search(text)
    if special is None:  # one septet per character
        return encoding.GSM7, _parts(len(text), encoding.GSM7)
    if _NOT_GSM.search(text, special.start()) is None:
        septets = len(text) + len(_EXTENDED.findall(text, special.start()))
        if septets <= encoding.SINGLE[encoding.GSM7]:
            return encoding.GSM7, 1
    else:
        units = len(text.encode("utf-16-le")) // 2
        if units == len(text) or units <= encoding.SINGLE[encoding.UCS2]:  # no surrogate pair to keep whole
            return encoding.UCS2, _parts(units, encoding.UCS2)
    info = encoding.analyse(text)
    return info.encoding, info.segments


def _parts(units: int, enc: encoding.Encoding) -> int:
    return 1 if units <= encoding.SINGLE[enc] else -(-units // encoding.MULTI[enc])


# --- recipients ----------------------------------------------------------------------------------


def _compile(text: str, used: list[CustomColumn]) -> str:
    """The template as a str.format string with positional fields in the order of `used`."""
    index = {column.name.lower(): i for i, column in enumerate(used)}
    out: list[str] = []
    for part in _parse(text):
        if isinstance(part, tuple):
            out.append("{%d}" % index[part[0]])  # noqa: UP031 - building a format string
        else:
            out.append(part.replace("{", "{{").replace("}", "}}"))
    return "".join(out)


def _from_phonebook(
    account: Account, phonebook: Phonebook, text: str, used: list[CustomColumn], result: Plan
) -> Iterator[tuple[str, str]]:
    """(phone, rendered text) for each contact the account has not opted out, in phone order (the
    phonebook's unique index gives it without a sort); the opted-out are counted in `result`.

    Opt-outs are looked up per chunk by the numbers in it (the opt-out index), not by an anti-join: the
    planner's guess at an anti-join against a freshly filled opt-out table can turn it into a nested loop
    over both tables."""
    names = [f"col{i}" for i in range(len(used))]
    template = _compile(text, used)
    rows = (
        Contact.objects.filter(phonebook=phonebook)
        .annotate(**{n: ColumnValue(c.pk) for n, c in zip(names, used, strict=True)})
        .order_by("phone")
        .values_list("phone", *names)
    )
    constant = None if used else template.format()  # no columns: every text is the same
    chunk: list[tuple[Any, ...]] = []
    for row in rows.iterator(chunk_size=CHUNK):
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield from _reachable(account, chunk, template, constant, result)
            chunk = []
    if chunk:
        yield from _reachable(account, chunk, template, constant, result)


def _reachable(
    account: Account, chunk: list[tuple[Any, ...]], template: str, constant: str | None, result: Plan
) -> Iterator[tuple[str, str]]:
    stopped = _opted_out(account, [row[0] for row in chunk])
    result.skipped_opted_out += len(stopped)
    for phone, *values in chunk:
        if phone in stopped:
            continue
        if constant is not None:
            yield phone, constant
        else:
            yield phone, template.format(*["" if v is None else str(v) for v in values])


def _clean_numbers(account: Account, numbers: list[str]) -> tuple[list[str], set[str]]:
    """(the typed numbers in E.164, first occurrence kept; those opted out). Invalid lists every bad line."""
    if len(numbers) > MAX_NUMBERS:
        raise Invalid.field("numbers", f"At most {MAX_NUMBERS:,} numbers; use a phonebook for more.")
    cleaned: dict[str, None] = {}
    bad: list[str] = []
    for index, raw in enumerate(numbers, start=1):
        try:
            cleaned[e164(str(raw or ""), region=account.customer.country, field="numbers")] = None
        except Invalid:
            bad.append(f"line {index} ({str(raw)[:40]})")
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise Invalid.field("numbers", f"Not valid mobile numbers: {', '.join(bad[:5])}{more}.")
    return list(cleaned), adapters.opted_out(account, list(cleaned))


# --- the plan ------------------------------------------------------------------------------------


@dataclass
class Plan:
    recipients: int = 0
    skipped_opted_out: int = 0
    segments_total: int = 0
    credits_total: int = 0
    encodings: set[str] = field(default_factory=set)
    samples: list[tuple[str, str]] = field(default_factory=list)
    spool: Spool | None = None

    @property
    def encoding(self) -> str:
        return next(iter(self.encodings)) if len(self.encodings) == 1 else "mixed"

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None


def plan(account: Account, text: str, phonebook: Phonebook | None, numbers: list[str] | None, *, keep: bool) -> Plan:
    """Validate, render and price every recipient; with `keep` the rows are spooled for `write` (close
    the plan afterwards). Invalid on "text" (unknown column, unsendable for someone, no rate),
    "phonebook" or "numbers"."""
    text = str(text or "")
    if not text.strip():
        raise Invalid.field("text", "Write a message.")
    if "\x00" in text:
        raise Invalid.field("text", "The text contains a NUL character, which no message can carry.")
    if phonebook is not None and numbers:
        raise Invalid.field("numbers", "Choose a phonebook or give numbers, not both.")
    if phonebook is None and not numbers:
        raise Invalid.field("phonebook", "Choose a phonebook or give the numbers to send to.")
    columns = list(CustomColumn.objects.filter(account=account).order_by("position"))
    used = check_template(account, text, columns)  # an unknown column stops everything here
    result = Plan()
    if phonebook is not None:
        if phonebook.account_id != account.pk:
            raise Invalid.field("phonebook", "No such phonebook.")
        targets = _from_phonebook(account, phonebook, text, used, result)
    else:
        assert numbers is not None
        if used:
            raise Invalid.field("text", "Columns such as {" + used[0].name + "} can be used only with a phonebook.")
        cleaned, stopped = _clean_numbers(account, numbers)
        result.skipped_opted_out = len(stopped)
        rendered = _compile(text, []).format()
        targets = ((phone, rendered) for phone in cleaned if phone not in stopped)
    pricer = Pricer()
    result.spool = Spool() if keep else None
    try:
        _fill(result, targets, pricer)
        if not result.recipients:
            name = "phonebook" if phonebook is not None else "numbers"
            raise Invalid.field(name, "No one to send to: every number has opted out, or there are none.")
    except BaseException:
        result.close()
        raise
    return result


def _fill(result: Plan, targets: Iterator[tuple[str, str]], pricer: Pricer) -> None:
    chunk: list[Row] = []
    row = pricer.row
    for phone, rendered in targets:
        chunk.append(row(phone, rendered))
        if len(chunk) >= CHUNK:
            _account_for(result, chunk)
            chunk = []
    if chunk:
        _account_for(result, chunk)


def _account_for(result: Plan, chunk: list[Row]) -> None:
    if len(result.samples) < SAMPLES:
        result.samples += [(r[0], r[1]) for r in chunk[: SAMPLES - len(result.samples)]]
    result.recipients += len(chunk)
    result.segments_total += sum(r[3] for r in chunk)
    result.credits_total += sum(r[4] for r in chunk)
    result.encodings.update({r[2] for r in chunk})
    if result.spool is not None:
        result.spool.add(chunk)


# --- writing -------------------------------------------------------------------------------------


def write(p: Plan, how: Sending) -> list[int]:
    """Insert the planned messages and their first events (call inside the campaign's transaction);
    returns the message ids, in plan order."""
    assert p.spool is not None, "plan(..., keep=True) first"
    if connection.vendor == "postgresql":
        return insert.copy_spool(p.spool, how)
    return insert.insert_spool(p.spool, how)


def _opted_out(account: Account, phones: list[str]) -> set[str]:
    """adapters.opted_out, but on PostgreSQL with the numbers as one parameter: binding thousands of IN
    parameters (or an array of them) costs more than the lookup itself."""
    joined = ",".join(phones)
    if connection.vendor != "postgresql" or joined.count(",") != len(phones) - 1:
        return adapters.opted_out(account, phones)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT phone FROM {connection.ops.quote_name(OptOut._meta.db_table)} "  # noqa: S608
            "WHERE account_id = %s AND phone = ANY(string_to_array(%s, ','))",
            [account.pk, joined],
        )
        return {row[0] for row in cursor.fetchall()}


def reserve(how: Sending, credits: int) -> JournalTransaction:
    """One journal for the whole campaign: the sending wallet → the customer's hold wallet."""
    customer = how.account.customer
    assert how.campaign is not None, "a campaign's reservation"
    return post(
        JournalTransaction.Kind.RESERVATION,
        [Leg(how.wallet, -credits), Leg(hold_wallet(customer, how.wallet.unit), credits)],
        actor=how.actor,
        customer=customer,
        reason=f"Reserved for campaign “{how.campaign.name}”"[:200],
        reference=f"campaign:{how.campaign.pk}",
    )


# --- dispatch ------------------------------------------------------------------------------------


def enqueue_on_commit(ids: list[int], run_after: dt.datetime | None) -> None:
    """Hand the messages to the workers once the campaign is committed, DISPATCH_CHUNK to a task. A
    failure here loses nothing: the messages stay queued (or scheduled) and `kontor dispatch_pending`
    picks them up."""

    def enqueue() -> None:
        task: Any = outbound.dispatch_messages
        backend = task.get_backend()
        if run_after is not None:
            if not backend.supports_defer:
                return  # `kontor dispatch_pending` sends them when they are due
            task = task.using(run_after=run_after)
        chunks = [ids[start : start + DISPATCH_CHUNK] for start in range(0, len(ids), DISPATCH_CHUNK)]
        if isinstance(backend, ImmediateBackend):
            # It runs each task here and now, and a dispatch must not run inside a transaction.
            for chunk in chunks:
                task.enqueue(chunk)
            return
        # The database backend writes a row per task: one commit for all of them, not one each.
        with transaction.atomic():
            for chunk in chunks:
                task.enqueue(chunk)

    transaction.on_commit(enqueue, robust=True)
