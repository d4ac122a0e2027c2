"""Every write on numbers: inventory, assignment by subscriber ID, the accounts' MO numbers, keywords,
Manage Unmatched and keyword orders. Each is one transaction with an audit row."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from kontor.access.perms import Perm
from kontor.access.selectors import perms_in_account
from kontor.audit.services import record, snapshot
from kontor.core.errors import Conflict, ErrorCode, Forbidden, Invalid
from kontor.numbers import normalise
from kontor.numbers.models import AccountNumber, Keyword, KeywordOrder, Number, UnmatchedOwner
from kontor.tenancy.models import Account, Customer

if TYPE_CHECKING:
    from kontor.access.models import User

NUMBER_FIELDS = ("value", "kind", "operator", "country", "two_way", "status", "customer", "assigned_at")
MAX_IMPORT_ROWS = 50_000
_SUBSCRIBER_ID = re.compile(r"^[Ss]?0*(\d{1,12})$")
_TRUE = {"1", "yes", "y", "true", "t", "x", "ja"}
_FALSE = {"", "0", "no", "n", "false", "f", "nej"}


# --- inventory -----------------------------------------------------------------------------------


def clean_number(value: str, kind: str, country: str) -> tuple[str, str, str]:
    """(value as stored, kind, country), or Invalid naming the field that is wrong."""
    country = (country or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise Invalid.field("country", "Give the country as a two-letter ISO code, e.g. SE.")
    kind = (kind or "").strip().lower().replace(" ", "_").replace("-", "_")
    if kind not in Number.Kind.values:
        raise Invalid.field("kind", "The kind must be short_code, long_code or dnis.")
    if kind == Number.Kind.SHORT_CODE:
        stored = normalise.short_code(value)
        if stored is None:
            raise Invalid.field("value", f"“{value}” is not a short code: give 3 to 8 digits.")
    else:
        stored = normalise.e164(value, country)
        if stored is None:
            raise Invalid.field("value", f"“{value}” is not a phone number (give it as +46701234567).")
    return stored, kind, country


@transaction.atomic
def add_number(
    *, actor: User, value: str, kind: str, country: str, operator: str = "", two_way: bool = False
) -> Number:
    stored, kind, country = clean_number(value, kind, country)
    if Number.objects.filter(value=stored).exists():
        raise Invalid.field("value", f"{stored} is already in the inventory.", code=ErrorCode.DUPLICATE)
    number = Number.objects.create(
        value=stored, kind=kind, country=country, operator=(operator or "").strip()[:80], two_way=two_way
    )
    record("number.add", number, actor=actor, customer=None, after=snapshot(number, NUMBER_FIELDS))
    return number


@transaction.atomic
def update_number(number: Number, *, actor: User, operator: str, two_way: bool, suspended: bool) -> Number:
    """Operator, two-way activation and suspension; assignment has its own services."""
    number = Number.objects.select_for_update().get(pk=number.pk)
    before = snapshot(number, NUMBER_FIELDS)
    number.operator = (operator or "").strip()[:80]
    number.two_way = two_way
    if suspended:
        number.status = Number.Status.SUSPENDED
    elif number.status == Number.Status.SUSPENDED:
        number.status = Number.Status.ASSIGNED if number.customer_id else Number.Status.AVAILABLE
    after = snapshot(number, NUMBER_FIELDS)
    if after == before:
        return number
    number.save()
    record("number.update", number, actor=actor, customer=number.customer_id, before=before, after=after)
    return number


@dataclass
class ImportReport:
    """What a CSV import did: `errors` are (line number, message); nothing is created when there are
    errors unless only the valid rows were asked for."""

    created: list[Number] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    valid_rows: int = 0

    @property
    def applied(self) -> bool:
        return bool(self.created)


def _flag(text: str) -> bool | None:
    value = (text or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def import_numbers(data: str | bytes, *, actor: User, only_valid: bool = False) -> ImportReport:
    """Numbers from CSV with the header `value,kind,country[,operator,two_way]`. Every bad row is
    reported with its line number; nothing is imported while any row is bad unless `only_valid`."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Invalid.field("file", "The file is not UTF-8 text.") from None
    data = data.lstrip("\ufeff")
    if "\x00" in data:
        raise Invalid.field("file", "The file is not a CSV text file.")
    reader = csv.DictReader(io.StringIO(data, newline=""))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("value", "kind", "country") if c not in header]
    if missing:
        raise Invalid.field(
            "file", f"The first line must name the columns value, kind, country; missing: {', '.join(missing)}."
        )
    reader.fieldnames = header
    report = ImportReport()
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if len(rows) + len(report.errors) >= MAX_IMPORT_ROWS:
                raise Invalid.field("file", f"At most {MAX_IMPORT_ROWS} rows per file.")
            if None in row:
                report.errors.append((line, "This row has more cells than the header."))
                continue
            values = {k: (v or "").strip() for k, v in row.items()}
            if not any(values.values()):
                continue
            try:
                stored, kind, country = clean_number(
                    values.get("value", ""), values.get("kind", ""), values.get("country", "")
                )
            except Invalid as exc:
                report.errors.append((line, exc.message))
                continue
            two_way = _flag(values.get("two_way", ""))
            if two_way is None:
                report.errors.append((line, f"two_way must be yes or no, not “{values['two_way']}”."))
                continue
            if stored in seen:
                report.errors.append((line, f"{stored} is also on line {seen[stored]}."))
                continue
            seen[stored] = line
            rows.append(
                {
                    "line": line,
                    "value": stored,
                    "kind": kind,
                    "country": country,
                    "operator": values.get("operator", "")[:80],
                    "two_way": two_way,
                }
            )
    except csv.Error as exc:
        report.errors.append((reader.line_num, f"Malformed CSV: {exc}."))
    existing = set(Number.objects.filter(value__in=list(seen)).values_list("value", flat=True))
    valid = []
    for row in rows:
        if row["value"] in existing:
            report.errors.append((row["line"], f"{row['value']} is already in the inventory."))
        else:
            valid.append(row)
    report.errors.sort()
    report.valid_rows = len(valid)
    if (report.errors and not only_valid) or not valid:
        return report
    with transaction.atomic():
        batch = f"numbers-import-{timezone.now().strftime('%Y%m%d%H%M%S%f')}"
        for row in valid:
            line = row.pop("line")
            try:
                with transaction.atomic():
                    number = Number.objects.create(**row)
            except IntegrityError:
                # Added by someone else since the check above.
                report.errors.append((line, f"{row['value']} is already in the inventory."))
                if not only_valid:
                    transaction.set_rollback(True)
                    report.created = []
                    report.errors.sort()
                    return report
                continue
            report.created.append(number)
            record(
                "number.import",
                number,
                actor=actor,
                customer=None,
                after=snapshot(number, NUMBER_FIELDS),
                batch_id=batch,
            )
    report.errors.sort()
    return report


# --- assignment by subscriber ID (manual 002) ---------------------------------------------------


def number_by_value(text: str) -> Number:
    """The inventory number written as `text` (E.164 with or without "+", or short code digits)."""
    value = normalise.inbound_address(text)
    number = Number.objects.filter(value=value).first() if value else None
    if number is None:
        raise Invalid.field("phone_number", f"“{(text or '').strip()[:30]}” is not a number in the inventory.")
    return number


def customer_by_subscriber_id(subscriber_id: str | int) -> Customer:
    match = _SUBSCRIBER_ID.match(str(subscriber_id).strip())
    customer = Customer.objects.filter(pk=int(match.group(1))).first() if match else None
    if customer is None:
        raise Invalid.field("subscriber_id", f"There is no subscriber with the ID “{str(subscriber_id)[:20]}”.")
    return customer


@transaction.atomic
def assign_number(number: Number, subscriber_id: str | int, *, actor: User) -> Number:
    """Assign/Unassign Number → Assign: the number becomes the subscriber's."""
    customer = customer_by_subscriber_id(subscriber_id)
    number = Number.objects.select_for_update().get(pk=number.pk)
    if number.customer_id == customer.pk and number.status == Number.Status.ASSIGNED:
        return number
    if number.status == Number.Status.SUSPENDED:
        raise Invalid.field("phone_number", f"{number.value} is suspended and cannot be assigned.")
    if number.customer_id is not None:
        raise Invalid.field(
            "phone_number", f"{number.value} is assigned to another subscriber; unassign it there first."
        )
    before = snapshot(number, NUMBER_FIELDS)
    number.customer = customer
    number.status = Number.Status.ASSIGNED
    number.assigned_at = timezone.now()
    number.save()
    record(
        "number.assign", number, actor=actor, customer=customer, before=before, after=snapshot(number, NUMBER_FIELDS)
    )
    return number


@transaction.atomic
def unassign_number(number: Number, subscriber_id: str | int, *, actor: User, force: bool = False) -> Number:
    """Assign/Unassign Number → Unassign. Refused while accounts use it, unless `force`, which also
    drops those accounts' use of it, its keywords, its unmatched owner and pending keyword orders."""
    customer = customer_by_subscriber_id(subscriber_id)
    number = Number.objects.select_for_update().get(pk=number.pk)
    if number.customer_id != customer.pk:
        raise Invalid.field("phone_number", f"{number.value} is not assigned to subscriber {customer.subscriber_id}.")
    users = list(AccountNumber.objects.filter(number=number).select_related("account"))
    if users and not force:
        names = ", ".join(sorted(link.account.name for link in users))
        raise Conflict(
            f"{number.value} is the MO number of {len(users)} account(s) ({names}); "
            "unassign anyway to remove it from them."
        )
    before = snapshot(number, NUMBER_FIELDS)
    dropped = {
        "accounts": [link.account_id for link in users],
        "keywords": list(Keyword.objects.filter(number=number).values_list("word", flat=True)),
    }
    AccountNumber.objects.filter(number=number).delete()
    Keyword.objects.filter(number=number).delete()
    UnmatchedOwner.objects.filter(number=number).delete()
    KeywordOrder.objects.filter(number=number, status=KeywordOrder.Status.PENDING).update(
        status=KeywordOrder.Status.REJECTED,
        decided_by=actor,
        decided_at=timezone.now(),
        reason="The number was unassigned.",
    )
    number.customer = None
    number.status = Number.Status.SUSPENDED if number.status == Number.Status.SUSPENDED else Number.Status.AVAILABLE
    number.assigned_at = None
    number.save()
    record(
        "number.unassign",
        number,
        actor=actor,
        customer=customer,
        before={**before, **dropped},
        after=snapshot(number, NUMBER_FIELDS),
    )
    return number


# --- accounts, keywords, Manage Unmatched --------------------------------------------------------


def _check_assigned_to(number: Number, customer_id: int, field_name: str = "number") -> None:
    if number.customer_id != customer_id or number.status != Number.Status.ASSIGNED:
        raise Invalid.field(field_name, f"{number.value} is not one of your activated numbers.")


def _check_manages_numbers(actor: User, accounts: list[Account]) -> None:
    if actor.is_staff or actor.is_master:
        return
    for other in accounts:
        held = perms_in_account(actor, other)
        if not ({Perm.TECHNICAL_SETTINGS, Perm.MANAGE_SERVICES} & held):
            raise Forbidden(
                f"The number is also used by {other.name}, whose numbers you may not manage; ask a master user."
            )


@transaction.atomic
def set_account_number(account: Account, number: Number | None, *, actor: User) -> AccountNumber | None:
    """The account's MO number (None: the provider's default, which cannot receive). Leaving a number
    drops the account's keywords there and its Manage Unmatched role; when a second account joins a
    number that had none, the first keeps the unmatched messages it was receiving."""
    link = AccountNumber.objects.select_for_update().filter(account=account).select_related("number").first()
    old = link.number if link else None
    if (old.pk if old else None) == (number.pk if number else None):
        return link
    if number is not None:
        number = Number.objects.select_for_update().get(pk=number.pk)
        _check_assigned_to(number, account.customer_id)
        # Joining a number other accounts use changes where their messages may go: the actor must be
        # able to manage the numbers of every one of those accounts too.
        users = Account.objects.filter(pk__in=AccountNumber.objects.filter(number=number).values("account_id"))
        _check_manages_numbers(actor, [a for a in users if a.pk != account.pk])
    if old is not None:
        Keyword.objects.filter(account=account, number=old).delete()
        UnmatchedOwner.objects.filter(number=old, account=account).delete()
    if number is None:
        assert link is not None
        link.delete()
        link = None
    else:
        others = list(
            AccountNumber.objects.filter(number=number).exclude(account=account).values_list("account_id", flat=True)
        )
        if len(others) == 1 and not UnmatchedOwner.objects.filter(number=number).exists():
            UnmatchedOwner.objects.create(customer_id=account.customer_id, number=number, account_id=others[0])
        if link is None:
            link = AccountNumber.objects.create(customer_id=account.customer_id, account=account, number=number)
        else:
            link.number = number
            link.save(update_fields=["number", "updated_at"])
    record(
        "account.mo_number",
        account,
        actor=actor,
        customer=account.customer_id,
        account_id=account.pk,
        before={"mo_number": old.value if old else None},
        after={"mo_number": number.value if number else None},
    )
    return link


def _uses(account: Account, number: Number) -> bool:
    return AccountNumber.objects.filter(account=account, number=number).exists()


def _clean_word(word: str) -> str:
    stored = normalise.keyword(word)
    if stored is None:
        raise Invalid.field("word", "A keyword is 1 to 20 letters or digits, without spaces.")
    if stored in normalise.STOP_WORDS:
        raise Invalid.field("word", f"{stored} is reserved for opting out and cannot be a keyword.")
    return stored


def _check_free(number: Number, word: str) -> None:
    if Keyword.objects.filter(number=number, word=word).exists():
        raise Invalid.field("word", f"The keyword {word} is already taken on {number.value}.", code=ErrorCode.DUPLICATE)


def _create_keyword(account: Account, number: Number, word: str) -> Keyword:
    _check_free(number, word)
    try:
        with transaction.atomic():
            return Keyword.objects.create(customer_id=account.customer_id, account=account, number=number, word=word)
    except IntegrityError:
        raise Invalid.field(
            "word", f"The keyword {word} is already taken on {number.value}.", code=ErrorCode.DUPLICATE
        ) from None


@transaction.atomic
def claim_keyword(account: Account, word: str, *, actor: User) -> Keyword:
    """A keyword on the account's MO number. Short codes are regulated: keywords there are ordered
    and approved by the provider (order_keyword), not claimed."""
    link = AccountNumber.objects.filter(account=account).first()
    if link is None:
        raise Invalid.field("word", "This account has no MO number of its own to claim keywords on.")
    number = Number.objects.select_for_update().get(pk=link.number_id)
    stored = _clean_word(word)
    if number.is_short_code:
        raise Invalid.field("word", f"{number.value} is a short code: order keywords there from the provider.")
    keyword = _create_keyword(account, number, stored)
    record(
        "keyword.claim",
        keyword,
        actor=actor,
        customer=account.customer_id,
        account_id=account.pk,
        after={"number": number.value, "word": stored},
    )
    return keyword


@transaction.atomic
def release_keyword(keyword: Keyword, *, actor: User) -> None:
    number = keyword.number
    record(
        "keyword.release",
        keyword,
        actor=actor,
        customer=keyword.customer_id,
        account_id=keyword.account_id,
        before={"number": number.value, "word": keyword.word},
    )
    keyword.delete()


@transaction.atomic
def set_unmatched_owner(number: Number, account: Account, *, actor: User) -> UnmatchedOwner:
    """Manage Unmatched: `account` receives the messages on `number` that match no keyword."""
    number = Number.objects.select_for_update().get(pk=number.pk)
    _check_assigned_to(number, account.customer_id)
    if not _uses(account, number):
        raise Invalid.field("account", f"The account {account.name} does not use {number.value}.")
    current = UnmatchedOwner.objects.filter(number=number).select_related("account").first()
    if current is not None and current.account_id == account.pk:
        return current
    # Moving the unmatched messages takes them from one account and gives them to another: both are
    # the actor's business, or the actor is a master user.
    _check_manages_numbers(actor, [account] + ([current.account] if current is not None else []))
    before = {"account": current.account_id if current else None}
    if current is None:
        current = UnmatchedOwner.objects.create(customer_id=account.customer_id, number=number, account=account)
    else:
        current.account = account
        current.save(update_fields=["account", "updated_at"])
    record(
        "number.unmatched_owner",
        current,
        actor=actor,
        customer=account.customer_id,
        object_repr=number.value,
        before=before,
        after={"account": account.pk},
    )
    return current


# --- keyword orders ------------------------------------------------------------------------------


@transaction.atomic
def order_keyword(account: Account, number: Number, word: str, *, actor: User) -> KeywordOrder:
    """An order for a keyword on a shared short code the account uses; staff approve or reject it."""
    number = Number.objects.select_for_update().get(pk=number.pk)
    _check_assigned_to(number, account.customer_id)
    if not number.is_short_code:
        raise Invalid.field("number", f"{number.value} is not a short code; claim keywords there directly.")
    if not _uses(account, number):
        raise Invalid.field("number", f"This account does not use {number.value}.")
    stored = _clean_word(word)
    _check_free(number, stored)
    if KeywordOrder.objects.filter(number=number, word=stored, status=KeywordOrder.Status.PENDING).exists():
        raise Invalid.field(
            "word", f"The keyword {stored} on {number.value} is already ordered.", code=ErrorCode.DUPLICATE
        )
    order = KeywordOrder.objects.create(
        customer_id=account.customer_id, account=account, number=number, word=stored, ordered_by=actor
    )
    record(
        "keyword_order.create",
        order,
        actor=actor,
        customer=account.customer_id,
        account_id=account.pk,
        after={"number": number.value, "word": stored},
    )
    return order


def _pending(order: KeywordOrder) -> KeywordOrder:
    locked = KeywordOrder.objects.select_for_update().get(pk=order.pk)
    if locked.status != KeywordOrder.Status.PENDING:
        raise Conflict(f"This order was already {locked.get_status_display().lower()}.")
    return locked


@transaction.atomic
def approve_keyword_order(order: KeywordOrder, *, actor: User) -> Keyword:
    """Creates the keyword; refused, changing nothing, if the word was taken on the number meanwhile."""
    number = Number.objects.select_for_update().get(pk=order.number_id)
    order = _pending(order)
    _check_assigned_to(number, order.customer_id)
    keyword = _create_keyword(order.account, number, order.word)
    order.status = KeywordOrder.Status.APPROVED
    order.decided_by = actor
    order.decided_at = timezone.now()
    order.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    record(
        "keyword_order.approve",
        order,
        actor=actor,
        customer=order.customer_id,
        account_id=order.account_id,
        before={"status": "pending"},
        after={"status": order.status, "keyword": keyword.pk},
    )
    return keyword


@transaction.atomic
def reject_keyword_order(order: KeywordOrder, *, actor: User, reason: str) -> KeywordOrder:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid.field("reason", "Say why the order is rejected; the customer sees it.")
    order = _pending(order)
    order.status = KeywordOrder.Status.REJECTED
    order.decided_by = actor
    order.decided_at = timezone.now()
    order.reason = reason[:300]
    order.save(update_fields=["status", "decided_by", "decided_at", "reason", "updated_at"])
    record(
        "keyword_order.reject",
        order,
        actor=actor,
        customer=order.customer_id,
        account_id=order.account_id,
        before={"status": "pending"},
        after={"status": order.status, "reason": order.reason},
    )
    return order
