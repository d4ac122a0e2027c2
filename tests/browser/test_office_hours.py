"""Issue 4's office-hours "done when" in a real browser, on the demo data: the Sender of Nordlys's
office-hours-only "Customer care" account sends a message and a campaign for a Saturday, and for a
Swedish public holiday that falls on a weekday. Each is refused with the next allowed time; choosing
"schedule" instead creates it scheduled for exactly that time, with its credits reserved.

"Now" is not pinned: the live server runs in another thread of this process, and patching the clock
there would leak into everything it serves. The times are asked for through the pages' "Send later"
field instead, the way a user asks for them, and picked relative to today's date."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import holidays
import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from kontor.access.models import User
from kontor.billing.defaults import ensure_default_prices
from kontor.ledger.posting import hold_wallet, user_wallet
from kontor.ledger.verify import verify
from kontor.messaging.models import Campaign, Message, RateCardEntry, Status
from kontor.messaging.rules.officehours import holiday_name
from kontor.ops.management.commands.load_demo import OFFICE_HOURS_SENDER
from tests.browser.test_credits_flow import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
TO = "+46701740620"  # in the demo's "Callbacks" phonebook of Customer care
NUMBERS = "+46701740621\n+46701740622"


def _open(day: dt.date) -> bool:
    return day.weekday() < 5 and holiday_name("SE", day) is None


def next_saturday() -> tuple[dt.datetime, dt.datetime]:
    """(a Saturday noon at least two days ahead, the Monday 10:00 after it) - a Saturday whose Monday is a
    working day, so the expected answer is plain."""
    day = dt.datetime.now(STOCKHOLM).date() + dt.timedelta(days=2)
    while not (day.weekday() == 5 and _open(day + dt.timedelta(days=2))):
        day += dt.timedelta(days=1)
    return _at(day, 12), _at(day + dt.timedelta(days=2), 10)


def next_weekday_holiday() -> tuple[dt.datetime, dt.datetime, str]:
    """(noon on the next Swedish public holiday that falls on a weekday and is followed by a working day,
    10:00 on that working day, the holiday's name)."""
    today = dt.datetime.now(STOCKHOLM).date()
    public = holidays.country_holidays("SE", years=[today.year, today.year + 1], categories=("public",))
    for day in sorted(public):
        if day >= today + dt.timedelta(days=2) and day.weekday() < 5 and _open(day + dt.timedelta(days=1)):
            return _at(day, 12), _at(day + dt.timedelta(days=1), 10), public[day]
    raise AssertionError("no weekday public holiday in Sweden within a year")


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, 0), tzinfo=STOCKHOLM)


def shown(when: dt.datetime) -> str:
    """A time as the pages show it: 'Monday 2026-06-08 10:00'."""
    return when.strftime("%A %Y-%m-%d %H:%M")


def field_value(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M")  # what a datetime-local input holds


@pytest.mark.parametrize("closed", ["weekend", "holiday"])
def test_office_hours_account_refuses_then_schedules_for_the_next_allowed_time(
    page: Page, site: str, closed: str
) -> None:
    call_command("load_demo")
    ensure_default_prices()
    # A transactional test flushes the rows the migrations seeded: put the default rate back.
    RateCardEntry.objects.get_or_create(prefix="", defaults={"operator": "Any destination", "credits_per_segment": 1})
    if closed == "weekend":
        asked, allowed = next_saturday()
        why = f"{asked:%A} is not a weekday"
    else:
        asked, allowed, name = next_weekday_holiday()
        why = f"{asked.date().isoformat()} is a public holiday ({name})"
        assert holiday_name("SE", asked.date())  # the app knows it too
    sender = User.objects.get(email=OFFICE_HOURS_SENDER)
    wallet = user_wallet(sender)
    start = wallet.balance
    hold_start = hold_wallet(sender.customer).balance
    assert start > 0  # allocated by the demo

    sign_in(page, site, sender.email)

    # --- one message: refused with the next allowed time, then scheduled for it ---
    page.get_by_role("link", name="Send SMS").first.click()
    expect(page.locator("main")).to_contain_text("This account sends only 10:00–17:00 on weekdays")
    page.fill("#id_to", TO)
    page.fill("#id_text", "We will call you back")
    page.fill("#id_schedule_at", field_value(asked))
    page.get_by_role("button", name="Send").click()
    refusal = page.locator("#id_office_hours_error")
    expect(refusal).to_contain_text(why)
    expect(refusal).to_contain_text(f"The next allowed time is {shown(allowed)} (Europe/Stockholm)")
    assert not Message.objects.filter(user=sender).exists()
    wallet.refresh_from_db()
    assert wallet.balance == start  # nothing reserved for a refusal

    page.check("input[name=office_hours][value=schedule]")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("h1")).to_contain_text("Message scheduled")
    expect(page.locator("main")).to_contain_text(
        f"Scheduled for {shown(allowed)} (Europe/Stockholm); 1 credit reserved until then."
    )
    message = Message.objects.get(user=sender, campaign_id=None)
    assert (message.status, message.scheduled_for, message.to_number) == (Status.SCHEDULED, allowed, TO)
    # Reserved: out of the sender's wallet into the customer's hold until it goes out.
    wallet.refresh_from_db()
    assert wallet.balance == start - message.credits
    assert hold_wallet(sender.customer).balance == hold_start + message.credits

    # --- a campaign: the preview warns, Confirm is refused, "schedule" then Confirm schedules it ---
    page.get_by_role("link", name="Campaigns").first.click()
    page.get_by_role("link", name="New campaign").click()
    page.fill("#id_name", f"Closed {closed}")
    page.fill("#id_numbers", NUMBERS)
    page.fill("#id_text", "Our opening hours have changed")
    page.fill("#id_schedule_at", field_value(asked))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-recipients")).to_have_text("2")
    expect(page.locator("#preview-when")).to_contain_text(shown(asked))
    expect(page.locator("#preview-office-hours")).to_contain_text(why)
    expect(page.locator("#preview-office-hours")).to_contain_text(f"Next allowed: {shown(allowed)}")
    page.get_by_role("button", name="Confirm and send").click()  # "refuse" is the default choice
    refusal = page.locator("#id_office_hours_error")
    expect(refusal).to_contain_text(f"The next allowed time is {shown(allowed)} (Europe/Stockholm)")
    assert not Campaign.objects.filter(created_by=sender).exists()

    page.check("input[name=office_hours][value=schedule]")
    page.get_by_role("button", name="Confirm and send").click()
    expect(page.locator("h1")).to_contain_text(f"Closed {closed}")
    expect(page.locator("main")).to_contain_text(f"Scheduled — for {shown(allowed)} (Europe/Stockholm)")
    expect(page.locator('#campaign-counts dd[data-status="scheduled"]')).to_have_text("2")
    campaign = Campaign.objects.get(created_by=sender)
    assert (campaign.status, campaign.scheduled_for) == (Campaign.State.SCHEDULED, allowed)
    rows = list(Message.objects.filter(campaign_id=campaign.pk))
    assert len(rows) == 2 and all(m.status == Status.SCHEDULED and m.scheduled_for == allowed for m in rows)

    wallet.refresh_from_db()
    spent = message.credits + campaign.credits_total
    assert wallet.balance == start - spent
    assert hold_wallet(sender.customer).balance == hold_start + spent
    assert verify() == []
