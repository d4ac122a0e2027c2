"""`kontor load_demo` gives the demo an office-hours sender: a Sender only in Nordlys's office-hours-only
"Customer care" account, with credits and a phonebook, named in the printed logins; a second run
changes nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from kontor.access.models import User
from kontor.access.selectors import accounts_for
from kontor.contacts.models import Contact
from kontor.ledger.posting import system_wallet, user_wallet
from kontor.ledger.verify import verify
from kontor.ops.management.commands.load_demo import OFFICE_HOURS_CREDITS, OFFICE_HOURS_SENDER, demo_logins
from kontor.tenancy.models import Membership

pytestmark = pytest.mark.django_db


def test_the_office_hours_sender_is_loaded_once_and_listed():
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert "Demo data loaded." in out.getvalue()
    sender = User.objects.get(email=OFFICE_HOURS_SENDER)
    accounts = list(accounts_for(sender))
    assert [(a.name, a.office_hours_only) for a in accounts] == [("Customer care", True)]
    assert Membership.objects.get(user=sender).role.slug == "sender"
    assert user_wallet(sender).balance == OFFICE_HOURS_CREDITS
    assert sender.check_password("kontor-demo-2026")
    assert Contact.objects.filter(phonebook__account=accounts[0], phonebook__name="Callbacks").count() == 2
    system = system_wallet(sender.customer).balance

    again = io.StringIO()
    call_command("load_demo", stdout=again)
    assert "Demo data already present." in again.getvalue()
    assert User.objects.filter(email=OFFICE_HOURS_SENDER).count() == 1
    assert (user_wallet(sender).balance, system_wallet(sender.customer).balance) == (OFFICE_HOURS_CREDITS, system)
    assert verify() == []

    rows = {email: who for who, email in demo_logins()}
    assert "Customer care" in rows[OFFICE_HOURS_SENDER] and "office hours" in rows[OFFICE_HOURS_SENDER]
