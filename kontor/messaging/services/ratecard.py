"""The staff services that change the provider's rate card (audited); the pricing that reads it is
rules/ratecard.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from kontor.audit.services import record
from kontor.core import hotcache
from kontor.core.errors import Conflict, ErrorCode, Invalid
from kontor.messaging.models import RateCardEntry
from kontor.messaging.rules.ratecard import MAX_CREDITS_PER_SEGMENT

if TYPE_CHECKING:
    from kontor.access.models import User


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
