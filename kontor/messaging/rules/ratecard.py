"""The provider's rate card (prices, not throughput: the send rate is rules/sendrate.py): credits per
segment by destination prefix, longest match wins. The staff services that change the card are
services/ratecard.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kontor.core import hotcache
from kontor.core.errors import Invalid
from kontor.messaging.models import RateCardEntry

if TYPE_CHECKING:
    pass

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
