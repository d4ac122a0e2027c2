"""Office hours: 10:00–17:00 weekdays in the customer's zone, never on its country's public holidays."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kontor.messaging.rules.officehours import check, window_check

STO = ZoneInfo("Europe/Stockholm")
LON = ZoneInfo("Europe/London")
NY = ZoneInfo("America/New_York")


def se(at):
    return check(at, time_zone="Europe/Stockholm", country="SE")


def test_weekday_inside_and_edges():
    assert se(dt.datetime(2026, 11, 24, 10, 0, tzinfo=STO)).allowed  # Tuesday 10:00
    assert se(dt.datetime(2026, 11, 24, 16, 59, tzinfo=STO)).allowed
    late = se(dt.datetime(2026, 11, 24, 17, 0, tzinfo=STO))
    assert not late.allowed and late.next_allowed == dt.datetime(2026, 11, 25, 10, 0, tzinfo=STO)
    early = se(dt.datetime(2026, 11, 24, 9, 59, tzinfo=STO))
    assert not early.allowed and early.next_allowed == dt.datetime(2026, 11, 24, 10, 0, tzinfo=STO)


def test_weekend_gives_monday_ten_in_the_zone():
    saturday = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
    result = se(saturday)
    assert not result.allowed and "Saturday" in result.reason
    assert result.next_allowed == dt.datetime(2026, 11, 23, 10, 0, tzinfo=STO)
    assert result.next_allowed.utcoffset() == dt.timedelta(hours=1)


def test_time_zone_decides_the_day():
    # Friday 23:30 UTC is already Saturday in Stockholm but still Friday evening in New York.
    at = dt.datetime(2026, 11, 27, 23, 30, tzinfo=dt.UTC)
    assert se(at).next_allowed == dt.datetime(2026, 11, 30, 10, 0, tzinfo=STO)
    ny = check(at, time_zone="America/New_York", country="US")
    assert not ny.allowed and ny.next_allowed == dt.datetime(2026, 11, 30, 10, 0, tzinfo=NY)
    # 15:00 UTC on a Monday: 16:00 in Stockholm (open), 10:00 in New York (open), 00:00 in Tokyo (closed).
    monday = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)
    assert se(monday).allowed
    assert check(monday, time_zone="America/New_York", country="US").allowed
    assert not check(monday, time_zone="Asia/Tokyo", country="JP").allowed


def test_dst_spring_forward_next_window_is_ten_local():
    # 2026-03-29 is the last Sunday of March: clocks go 02:00 → 03:00 in Stockholm.
    result = se(dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC))
    assert result.next_allowed == dt.datetime(2026, 3, 30, 10, 0, tzinfo=STO)
    assert result.next_allowed.astimezone(dt.UTC).hour == 8  # summer time, UTC+2
    # Friday before: 10:00 local was 09:00 UTC.
    assert se(dt.datetime(2026, 3, 27, 9, 0, tzinfo=dt.UTC)).allowed
    assert not se(dt.datetime(2026, 3, 30, 7, 59, tzinfo=dt.UTC)).allowed
    assert se(dt.datetime(2026, 3, 30, 8, 0, tzinfo=dt.UTC)).allowed


def test_dst_fall_back():
    # 2026-10-25, last Sunday of October: 03:00 → 02:00. Monday's window opens at 09:00 UTC.
    result = se(dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC))
    assert result.next_allowed.astimezone(dt.UTC) == dt.datetime(2026, 10, 26, 9, 0, tzinfo=dt.UTC)
    assert se(dt.datetime(2026, 10, 23, 14, 59, tzinfo=dt.UTC)).allowed  # Friday 16:59 summer time
    assert not se(dt.datetime(2026, 10, 26, 16, 0, tzinfo=dt.UTC)).allowed  # Monday 17:00 winter time


def test_swedish_holidays():
    midsummer_eve = se(dt.datetime(2026, 6, 19, 12, 0, tzinfo=STO))  # Friday
    assert not midsummer_eve.allowed and "holiday" in midsummer_eve.reason
    assert midsummer_eve.next_allowed == dt.datetime(2026, 6, 22, 10, 0, tzinfo=STO)
    national_day = se(dt.datetime(2025, 6, 6, 11, 0, tzinfo=STO))  # Friday 6 June
    assert not national_day.allowed and national_day.next_allowed == dt.datetime(2025, 6, 9, 10, 0, tzinfo=STO)
    # Christmas: the 24th-26th are closed (Eve, Day, Boxing Day), the 27th is a Sunday in 2026.
    xmas = se(dt.datetime(2026, 12, 23, 18, 0, tzinfo=STO))
    assert xmas.next_allowed == dt.datetime(2026, 12, 28, 10, 0, tzinfo=STO)


def test_gb_bank_holiday_not_swedish():
    may_day = dt.datetime(2026, 5, 4, 12, 0, tzinfo=LON)  # early May bank holiday (Monday)
    gb = check(may_day, time_zone="Europe/London", country="GB")
    assert not gb.allowed and gb.next_allowed == dt.datetime(2026, 5, 5, 10, 0, tzinfo=LON)
    assert check(may_day, time_zone="Europe/London", country="SE").allowed


def test_unknown_country_has_no_holidays():
    assert check(dt.datetime(2026, 11, 24, 12, 0, tzinfo=STO), time_zone="Europe/Stockholm", country="ZZ").allowed


@pytest.mark.django_db
def test_window_check_uses_account_flag_and_customer(world):
    account = world.acme.account
    sunday = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
    assert window_check(account, sunday).allowed
    account.office_hours_only = True
    result = window_check(account, sunday)
    assert not result.allowed and result.next_allowed == dt.datetime(2026, 11, 23, 10, 0, tzinfo=STO)
    globex = world.globex.account
    globex.office_hours_only = True
    assert window_check(globex, sunday).next_allowed == dt.datetime(2026, 11, 23, 10, 0, tzinfo=LON)
