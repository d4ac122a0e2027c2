"""Every write to phonebooks, contacts and opt-outs, plus the opt-out checks campaigns use.

Contact values are given by custom column *name* (case-insensitive), the way people and API clients
know them; they are stored by column id so renaming a column keeps the data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, models, transaction

from kontor.audit.services import record
from kontor.contacts.models import Contact, OptOut, Phonebook
from kontor.contacts.values import clean_phone, clean_value, columns_by_name, search_text
from kontor.core import validation
from kontor.core.errors import Conflict, ErrorCode, Invalid
from kontor.tenancy.models import Account, CustomColumn

if TYPE_CHECKING:
    from kontor.access.models import User

OPT_OUT_SOURCES = tuple(OptOut.Source.values)


def region_of(account: Account) -> str:
    """National numbers are read in the customer's country."""
    return str(account.customer.country or "")


def account_columns(account: Account) -> list[CustomColumn]:
    return list(CustomColumn.objects.filter(account=account).order_by("position"))


def _live(account: Account) -> None:
    if not account.is_active:
        raise Conflict("This account is archived; restore it before changing it.", code=ErrorCode.ACCOUNT_ARCHIVED)


def _audit(
    action: str,
    obj: models.Model,
    account: Account,
    *,
    actor: User | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    record(action, obj, actor=actor, customer=account.customer_id, account_id=account.pk, before=before, after=after)


# --- phonebooks ----------------------------------------------------------------------------------


def _phonebook_name(account: Account, name: str, *, exclude: int | None = None) -> str:
    name = validation.required_text(name, field="name", label="Phonebook name", max_length=120)
    clash = Phonebook.objects.filter(account=account, name__iexact=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise Invalid.field("name", f"A phonebook named “{name}” already exists.", code=ErrorCode.DUPLICATE)
    return name


@transaction.atomic
def create_phonebook(account: Account, *, actor: User | None, name: str, description: str = "") -> Phonebook:
    _live(account)
    name = _phonebook_name(account, name)
    try:
        with transaction.atomic():
            book = Phonebook.objects.create(
                customer_id=account.customer_id, account=account, name=name, description=(description or "").strip()
            )
    except IntegrityError:
        raise Invalid.field("name", f"A phonebook named “{name}” already exists.", code=ErrorCode.DUPLICATE) from None
    _audit("phonebook.create", book, account, actor=actor, after={"name": name, "description": book.description})
    return book


@transaction.atomic
def update_phonebook(
    phonebook: Phonebook, *, actor: User | None, name: str | None = None, description: str | None = None
) -> Phonebook:
    account = phonebook.account
    _live(account)
    before = {"name": phonebook.name, "description": phonebook.description}
    if name is not None:
        phonebook.name = _phonebook_name(account, name, exclude=phonebook.pk)
    if description is not None:
        phonebook.description = description.strip()
    after = {"name": phonebook.name, "description": phonebook.description}
    if after == before:
        return phonebook
    try:
        with transaction.atomic():
            phonebook.save(update_fields=["name", "description", "updated_at"])
    except IntegrityError:
        raise Invalid.field("name", "A phonebook with that name already exists.", code=ErrorCode.DUPLICATE) from None
    _audit("phonebook.update", phonebook, account, actor=actor, before=before, after=after)
    return phonebook


@transaction.atomic
def delete_phonebook(phonebook: Phonebook, *, actor: User | None) -> int:
    """Deletes the phonebook and its contacts; returns how many contacts went with it. Opt-outs are
    the account's and stay."""
    account = phonebook.account
    _live(account)
    count = Contact.objects.filter(phonebook=phonebook).count()
    _audit("phonebook.delete", phonebook, account, actor=actor, before={"name": phonebook.name, "contacts": count})
    Contact.objects.filter(phonebook=phonebook).delete()
    phonebook.delete()
    return count


# --- contacts ------------------------------------------------------------------------------------


def _clean_values(account: Account, values: Mapping[str, str | None], columns: list[CustomColumn]) -> dict[str, str]:
    """{str(column id): canonical value or ""} for the columns named in `values`."""
    by_name = columns_by_name(columns)
    region = region_of(account)
    out: dict[str, str] = {}
    fields: dict[str, list[str]] = {}
    for name, value in values.items():
        column = by_name.get(str(name).strip().lower())
        if column is None:
            known = ", ".join(c.name for c in columns) or "none"
            fields.setdefault("values", []).append(f"Unknown column “{name}”: this account's columns are {known}.")
            continue
        try:
            out[str(column.pk)] = clean_value(column, value, region)
        except Invalid as exc:
            for field_name, messages in exc.fields.items():
                fields.setdefault(field_name, []).extend(messages)
    if fields:
        raise Invalid("Please correct the errors below.", fields=fields)
    return out


def _merge(current: Mapping[str, str], changes: Mapping[str, str]) -> dict[str, str]:
    merged = dict(current)
    for key, value in changes.items():
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    return merged


def _duplicate(phone: str) -> Invalid:
    return Invalid.field("phone", f"{phone} is already in this phonebook.", code=ErrorCode.DUPLICATE)


@transaction.atomic
def add_contact(
    phonebook: Phonebook, *, actor: User | None, phone: str, values: Mapping[str, str | None] | None = None
) -> Contact:
    account = phonebook.account
    _live(account)
    errors: list[Invalid] = []
    cleaned_phone = ""
    cleaned: dict[str, str] = {}
    try:
        cleaned_phone = clean_phone(phone, region_of(account))
        if Contact.objects.filter(phonebook=phonebook, phone=cleaned_phone).exists():
            raise _duplicate(cleaned_phone)
    except Invalid as exc:
        errors.append(exc)
    try:
        cleaned = _merge({}, _clean_values(account, values or {}, account_columns(account)))
    except Invalid as exc:
        errors.append(exc)
    if errors:
        raise validation.merge(*errors) if len(errors) > 1 else errors[0]
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                customer_id=account.customer_id,
                account=account,
                phonebook=phonebook,
                phone=cleaned_phone,
                values=cleaned,
                search=search_text(cleaned_phone, cleaned),
            )
    except IntegrityError:
        raise _duplicate(cleaned_phone) from None
    _audit(
        "contact.create",
        contact,
        account,
        actor=actor,
        after={"phonebook": phonebook.pk, "phone": cleaned_phone, "values": cleaned},
    )
    return contact


@transaction.atomic
def update_contact(
    contact: Contact,
    *,
    actor: User | None,
    phone: str | None = None,
    values: Mapping[str, str | None] | None = None,
) -> Contact:
    """Changes the phone and/or the named values; a blank value clears that column, columns not
    named keep their value."""
    account = contact.account
    _live(account)
    before = {"phone": contact.phone, "values": dict(contact.values)}
    errors: list[Invalid] = []
    new_phone = contact.phone
    new_values = dict(contact.values)
    if phone is not None:
        try:
            new_phone = clean_phone(phone, region_of(account))
            clash = Contact.objects.filter(phonebook_id=contact.phonebook_id, phone=new_phone).exclude(pk=contact.pk)
            if clash.exists():
                raise _duplicate(new_phone)
        except Invalid as exc:
            errors.append(exc)
    if values is not None:
        try:
            new_values = _merge(contact.values, _clean_values(account, values, account_columns(account)))
        except Invalid as exc:
            errors.append(exc)
    if errors:
        raise validation.merge(*errors) if len(errors) > 1 else errors[0]
    after = {"phone": new_phone, "values": new_values}
    if after == before:
        return contact
    contact.phone, contact.values = new_phone, new_values
    contact.search = search_text(new_phone, new_values, {str(c.pk) for c in account_columns(account)})
    try:
        with transaction.atomic():
            contact.save(update_fields=["phone", "values", "search", "updated_at"])
    except IntegrityError:
        raise _duplicate(new_phone) from None
    _audit("contact.update", contact, account, actor=actor, before=before, after=after)
    return contact


@transaction.atomic
def delete_contact(contact: Contact, *, actor: User | None) -> None:
    account = contact.account
    _live(account)
    _audit(
        "contact.delete",
        contact,
        account,
        actor=actor,
        before={"phonebook": contact.phonebook_id, "phone": contact.phone, "values": contact.values},
    )
    contact.delete()


# --- opt-outs ------------------------------------------------------------------------------------


def _opt_out_phone(account: Account, phone: str) -> str:
    return clean_phone(phone, region_of(account))


@transaction.atomic
def opt_out(account: Account, phone: str, *, source: str, actor: User | None = None, note: str = "") -> OptOut:
    """The account never messages `phone` again. Idempotent: an existing opt-out is returned as is.
    Only this account: the same number in another account (even of the customer) is untouched."""
    if source not in OPT_OUT_SOURCES:
        raise Invalid.field("source", f"“{source}” is not an opt-out source.")
    number = _opt_out_phone(account, phone)
    note = (note or "").strip()
    if len(note) > 200:
        raise Invalid.field("note", "A note can be at most 200 characters.")
    existing = OptOut.objects.filter(account=account, phone=number).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            row = OptOut.objects.create(
                customer_id=account.customer_id, account=account, phone=number, source=source, note=note
            )
    except IntegrityError:
        # A concurrent STOP for the same number: theirs is as good as ours.
        return OptOut.objects.get(account=account, phone=number)
    _audit("opt_out.create", row, account, actor=actor, after={"phone": number, "source": source, "note": note})
    return row


@transaction.atomic
def opt_in(account: Account, phone: str, *, actor: User | None) -> bool:
    """Lifts the account's opt-out of `phone` (a manual decision, audited); False if there was none."""
    _live(account)
    number = _opt_out_phone(account, phone)
    row = OptOut.objects.filter(account=account, phone=number).first()
    if row is None:
        return False
    _audit(
        "opt_out.delete",
        row,
        account,
        actor=actor,
        before={"phone": row.phone, "source": row.source, "note": row.note},
    )
    row.delete()
    return True


def _lenient(account: Account, phone: str) -> str | None:
    if phone.startswith("+") and phone[1:].isdigit():
        return phone
    try:
        return _opt_out_phone(account, phone)
    except Invalid:
        return None


def is_opted_out(account: Account, phone: str) -> bool:
    number = _lenient(account, phone)
    return number is not None and OptOut.objects.filter(account=account, phone=number).exists()


OPT_OUT_QUERY_CHUNK = 10_000


def opted_out(account: Account, phones: Iterable[str]) -> set[str]:
    """The subset of `phones` (E.164, as given) this account has opted out: one query per 10,000
    numbers (a phonebook campaign should rather use selectors.reachable_contacts, one query in all)."""
    wanted = list(dict.fromkeys(phones))
    found: set[str] = set()
    for start in range(0, len(wanted), OPT_OUT_QUERY_CHUNK):
        chunk = wanted[start : start + OPT_OUT_QUERY_CHUNK]
        found.update(OptOut.objects.filter(account=account, phone__in=chunk).values_list("phone", flat=True))
    return found
