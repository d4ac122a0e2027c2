"""The provider's rate card: credits per segment by destination prefix (longest match wins), and the
staff services that change it (audited)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from kontor.audit.services import record
from kontor.core import hotcache
from kontor.core.errors import Conflict, ErrorCode, Invalid
from kontor.messaging.models import RateCardEntry

if TYPE_CHECKING:
    from kontor.access.models import User

MAX_CREDITS_PER_SEGMENT = 1000


def _candidates(phone_e164: str) -> list[str]:
    digits = phone_e164.lstrip("+")
    return [digits[:n] for n in range(len(digits), -1, -1)]


def _longest(phone_e164: str, entries: dict[str, RateCardEntry]) -> RateCardEntry:
    for prefix in _candidates(phone_e164):
        if prefix in entries:
            return entries[prefix]
    raise Invalid.field("to", "There is no rate for this destination; the provider must add one.")


def match(phone_e164: str) -> RateCardEntry:
    """The entry with the longest prefix of the number's digits (one query)."""
    return _longest(phone_e164, {e.prefix: e for e in RateCardEntry.objects.filter(prefix__in=_candidates(phone_e164))})


def price(phone_e164: str, segments: int) -> tuple[int, RateCardEntry]:
    """(credits, the entry that priced it) for a message of `segments` segments to `phone_e164`."""
    entry = match(phone_e164)
    return entry.credits_per_segment * segments, entry


def current() -> RateTable:
    """The whole card, reused for KONTOR_HOT_CACHE_SECONDS (core/hotcache.py)."""
    return hotcache.memo(("rates",), RateTable)


class RateTable:
    """The whole rate card in memory, for pricing a batch with one query (the card is small)."""

    def __init__(self) -> None:
        self.entries = {e.prefix: e for e in RateCardEntry.objects.all()}

    def price(self, phone_e164: str, segments: int) -> tuple[int, RateCardEntry]:
        entry = _longest(phone_e164, self.entries)
        return entry.credits_per_segment * segments, entry


def _snapshot(entry: RateCardEntry) -> dict[str, object]:
    return {
        "prefix": entry.prefix,
        "country": entry.country,
        "operator": entry.operator,
        "credits_per_segment": entry.credits_per_segment,
    }


def _clean(prefix: str, country: str, operator: str, credits_per_segment: int) -> tuple[str, str, str, int]:
    errors: dict[str, list[str]] = {}
    prefix = (prefix or "").strip().lstrip("+").replace(" ", "")
    if not prefix.isdigit() and prefix != "":
        errors["prefix"] = ["Digits only, country code first (e.g. 46 or 4670); empty for the default."]
    elif len(prefix) > 15:
        errors["prefix"] = ["At most 15 digits."]
    country = (country or "").strip().upper()
    if country and (len(country) != 2 or not country.isalpha()):
        errors["country"] = ["Two letters (ISO 3166), e.g. SE."]
    operator = (operator or "").strip()
    if len(operator) > 100:
        errors["operator"] = ["At most 100 characters."]
    if isinstance(credits_per_segment, bool) or not isinstance(credits_per_segment, int):
        errors["credits_per_segment"] = ["Enter a whole number."]
    elif not 1 <= credits_per_segment <= MAX_CREDITS_PER_SEGMENT:
        errors["credits_per_segment"] = [f"Between 1 and {MAX_CREDITS_PER_SEGMENT} credits per segment."]
    if errors:
        raise Invalid("Please correct the errors below.", fields=errors)
    return prefix, country, operator, credits_per_segment


def save_rate(
    entry: RateCardEntry | None,
    *,
    actor: User,
    prefix: str,
    country: str = "",
    operator: str = "",
    credits_per_segment: int,
) -> RateCardEntry:
    """Add (entry None) or change a rate card entry. The default entry keeps its empty prefix."""
    prefix, country, operator, credits_per_segment = _clean(prefix, country, operator, credits_per_segment)
    if entry is not None and entry.prefix == "" and prefix != "":
        raise Invalid.field("prefix", "The default entry keeps an empty prefix; add a new entry instead.")
    before = _snapshot(entry) if entry is not None else None
    target = entry or RateCardEntry()
    target.prefix, target.country, target.operator = prefix, country, operator
    target.credits_per_segment = credits_per_segment
    if before is not None and before == _snapshot(target):
        return target
    try:
        with transaction.atomic():
            target.save()
            transaction.on_commit(lambda: hotcache.forget("rates"))
            record(
                "rate_card.save",
                target,
                actor=actor,
                customer=None,
                before=before,
                after=_snapshot(target),
                object_repr=str(target),
            )
    except IntegrityError:
        raise Invalid.field(
            "prefix", f"There is already an entry for “{prefix or 'default'}”.", code=ErrorCode.DUPLICATE
        ) from None
    return target


@transaction.atomic
def delete_rate(entry: RateCardEntry, *, actor: User) -> None:
    if entry.prefix == "":
        raise Conflict("The default entry prices every destination without a match; change it instead.")
    before = _snapshot(entry)
    record("rate_card.delete", entry, actor=actor, customer=None, before=before, object_repr=str(entry))
    entry.delete()
    transaction.on_commit(lambda: hotcache.forget("rates"))
