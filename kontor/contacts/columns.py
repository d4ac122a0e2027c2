"""The contacts' side of custom column changes (see kontor.tenancy.columns): counting, converting and
stripping the values contacts hold in a column. Values are keyed by str(column id) in `Contact.values`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.utils import timezone

from kontor.contacts.models import Contact
from kontor.contacts.services import region_of
from kontor.contacts.values import clean_value, search_text
from kontor.core.errors import Invalid
from kontor.tenancy.models import Account, CustomColumn

CHUNK = 2000


def _holding(account: Account, column_id: int) -> Iterator[Contact]:
    qs = Contact.objects.filter(account=account, values__has_key=str(column_id)).only("pk", "phone", "values")
    return qs.order_by("pk").iterator(chunk_size=CHUNK)


def _as(column: CustomColumn, new_type: str) -> CustomColumn:
    # A stand-in with the new type, so the one validator decides here what it decides on input.
    return CustomColumn(pk=column.pk, name=column.name, type=new_type)


def _converted(column: CustomColumn, value: str, region: str) -> str | None:
    try:
        return clean_value(column, value, region)
    except Invalid:
        return None


def _in_use(account: Account) -> set[str]:
    return {str(pk) for pk in CustomColumn.objects.filter(account=account).values_list("pk", flat=True)}


def _changed(contact: Contact, values: dict[str, str], now: dt.datetime, in_use: set[str]) -> Contact:
    return Contact(pk=contact.pk, values=values, search=search_text(contact.phone, values, in_use), updated_at=now)


class ContactColumnValues:
    def holders(self, account: Account, column_ids: list[int]) -> dict[int, int]:
        return {
            pk: Contact.objects.filter(account=account, values__has_key=str(pk)).count() for pk in sorted(column_ids)
        }

    def unconvertible(self, account: Account, column: CustomColumn, new_type: str, limit: int) -> tuple[int, list[str]]:
        target, region = _as(column, new_type), region_of(account)
        count, examples = 0, list[str]()
        for contact in _holding(account, column.pk):
            value = str(contact.values.get(str(column.pk), ""))
            if value and _converted(target, value, region) is None:
                count += 1
                if len(examples) < limit and value not in examples:
                    examples.append(value)
        return count, examples

    def convert(self, account: Account, column: CustomColumn, new_type: str) -> int:
        target, region, key, now = _as(column, new_type), region_of(account), str(column.pk), timezone.now()
        cleared, changed, in_use = 0, [], _in_use(account) | {key}
        for contact in _holding(account, column.pk):
            values = dict(contact.values)
            new = _converted(target, str(values.get(key, "")), region)
            if new == values.get(key):
                continue
            if new:
                values[key] = new
            else:
                values.pop(key, None)
                cleared += 1
            changed.append(_changed(contact, values, now, in_use))
        Contact.objects.bulk_update(changed, ["values", "search", "updated_at"], batch_size=CHUNK)
        return cleared

    def strip(self, account: Account, column_ids: list[int]) -> int:
        keys, now, changed, in_use = {str(pk) for pk in column_ids}, timezone.now(), [], _in_use(account)
        for pk in column_ids:
            for contact in _holding(account, pk):
                values = {k: v for k, v in contact.values.items() if k not in keys}
                changed.append(_changed(contact, values, now, in_use))
        # A contact holding several of the columns appears once per column: the last copy has them all out.
        unique = {c.pk: c for c in changed}
        Contact.objects.bulk_update(list(unique.values()), ["values", "search", "updated_at"], batch_size=CHUNK)
        return len(unique)

    def refresh_search(self, account: Account, column_ids: list[int]) -> int:
        now, in_use, changed = timezone.now(), _in_use(account), {}
        for pk in column_ids:
            for contact in _holding(account, pk):
                changed[contact.pk] = _changed(contact, dict(contact.values), now, in_use)
        Contact.objects.bulk_update(list(changed.values()), ["search", "updated_at"], batch_size=CHUNK)
        return len(changed)
