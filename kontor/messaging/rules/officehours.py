"""Office-hours sending (manual 000): an office-hours-only account sends 10:00–17:00 Monday to Friday in
its customer's time zone, never on a public holiday of the customer's country.

Times are computed as wall-clock times in the zone with zoneinfo, so a window start is 10:00 local on
either side of a daylight-saving change."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import holidays

if TYPE_CHECKING:
    from kontor.tenancy.models import Account

OPENS = dt.time(10, 0)
CLOSES = dt.time(17, 0)
LOOKAHEAD_DAYS = 400  # more than a year of holidays and weekends in a row cannot happen


@dataclass(frozen=True)
class OfficeHoursResult:
    allowed: bool
    next_allowed: dt.datetime | None  # the next window start (aware), when not allowed now
    reason: str


# "De facto" holidays count too where the package knows them: in Sweden Midsummer Eve, Christmas Eve and
# New Year's Eve are not statutory, but nearly everyone is off and nobody wants a campaign then.
CATEGORIES = ("public", "de_facto")


@lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> dict[dt.date, str]:
    try:
        cls = holidays.country_holidays(country, years=year).__class__
        wanted = tuple(c for c in CATEGORIES if c in getattr(cls, "supported_categories", ("public",)))
        return dict(holidays.country_holidays(country, years=year, categories=wanted).items())
    except NotImplementedError:  # a country the package does not know: no holidays to block
        return {}


def holiday_name(country: str, day: dt.date) -> str | None:
    return _holidays(country.upper(), day.year).get(day)


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _closed_reason(day: dt.date, country: str) -> str | None:
    if day.weekday() >= 5:
        return f"{day:%A} is not a weekday"
    name = holiday_name(country, day)
    if name:
        return f"{day.isoformat()} is a public holiday ({name})"
    return None


def check(at: dt.datetime, *, time_zone: str, country: str) -> OfficeHoursResult:
    """The window rule for any zone and country (`window_check` applies it to an account)."""
    tz = _zone(time_zone)
    local = at.astimezone(tz)
    day = local.date()
    closed = _closed_reason(day, country)
    if closed is None and OPENS <= local.time() < CLOSES:
        return OfficeHoursResult(True, None, "Within office hours.")
    if closed is None:
        reason = f"Outside office hours ({OPENS:%H:%M}–{CLOSES:%H:%M} {time_zone})"
    else:
        reason = f"Outside office hours: {closed}"
    start = day if (closed is None and local.time() < OPENS) else day + dt.timedelta(days=1)
    for offset in range(LOOKAHEAD_DAYS):
        candidate = start + dt.timedelta(days=offset)
        if _closed_reason(candidate, country) is None:
            opens = dt.datetime.combine(candidate, OPENS, tzinfo=tz)
            return OfficeHoursResult(False, opens, reason)
    return OfficeHoursResult(False, None, reason)


def window_check(account: Account, at: dt.datetime) -> OfficeHoursResult:
    """May `account` send at `at`? Always yes for accounts that are not office-hours-only."""
    if not account.office_hours_only:
        return OfficeHoursResult(True, None, "The account is not limited to office hours.")
    customer = account.customer
    return check(at, time_zone=customer.time_zone, country=customer.country)
