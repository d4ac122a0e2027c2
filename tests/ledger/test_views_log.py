"""View Last 30 Days Logs (manual 001): entries, the exact running balance, the 30-day window, CSV and
the printed report."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from kontor.ledger import selectors
from kontor.ledger.models import Posting
from kontor.ledger.posting import user_wallet
from kontor.ledger.services import transfer
from tests.ledger.test_views import acme, fund  # noqa: F401  (the fixture)


@pytest.fixture
def history(acme, monkeypatch):  # noqa: F811
    """The sender's wallet: 100 bought 40 days ago, 10 to a team member 35 days ago (both outside the
    window), then 50 bought and 30 to the team member yesterday."""
    sender, ocm = acme.users["sender"], acme.users["office_credit_manager"]
    mine, theirs = user_wallet(sender), user_wallet(ocm)
    real_now = timezone.now()
    moments = {}

    def at(days_ago: float) -> dt.datetime:
        moment = (real_now - dt.timedelta(days=days_ago)).replace(microsecond=0)
        monkeypatch.setattr("django.utils.timezone.now", lambda: moment)
        return moment

    moments["old_buy"] = at(40)
    fund(mine, 100)
    moments["old_transfer"] = at(35)
    transfer(mine, theirs, 10, actor=sender, reason="Old move")
    moments["buy"] = at(1.5)
    fund(mine, 50)
    moments["transfer"] = at(1)
    transfer(mine, theirs, 30, actor=sender, reason="For the campaign")
    monkeypatch.undo()
    mine.refresh_from_db()
    assert mine.balance == 110
    acme.mine, acme.theirs, acme.moments = mine, theirs, moments
    return acme


def _table_rows(html: str) -> list[list[str]]:
    import re

    body = html.split('<table id="log">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


def test_last_30_days_with_running_balance(client, history):
    sender = history.users["sender"]
    client.force_login(sender)
    html = client.get(reverse("ledger:log", args=[history.mine.pk])).content.decode()
    rows = _table_rows(html)
    assert len(rows) == 2  # the two entries older than 30 days are left out
    newest, older = rows
    tz = zoneinfo.ZoneInfo(sender.time_zone)
    assert newest[0] == history.moments["transfer"].astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    assert newest[1:5] == ["Transfer", "", "−30", "Office Credit Manager Acme"]
    assert newest[5] == "Sender Acme" and newest[7] == "For the campaign" and newest[8] == "110"
    assert older[1] == "Purchase" and older[2] == "+50" and older[4] == "Provider" and older[8] == "140"
    # Only auditors may ask for the full history; for others the toggle does nothing.
    assert "Full history" not in html
    assert (
        len(_table_rows(client.get(reverse("ledger:log", args=[history.mine.pk]), {"full": "1"}).content.decode())) == 2
    )


def test_auditors_see_the_full_history_with_exact_balances(client, history):
    client.force_login(history.master)  # master users hold view_audit
    html = client.get(reverse("ledger:log", args=[history.mine.pk]), {"full": "1"}).content.decode()
    assert [r[8] for r in _table_rows(html)] == ["110", "140", "90", "100"]


def test_the_selector_window_boundary(history):
    wallet = history.mine
    since = history.moments["old_transfer"]  # inclusive: this entry is in, the older one is out
    got = [(p.amount, p.balance_after) for p in selectors.log_postings(wallet, since=since, newest_first=False)]
    assert got == [(10, 90), (50, 140), (30, 110)]
    assert list(selectors.log_postings(wallet, since=timezone.now() + dt.timedelta(seconds=5))) == []
    assert selectors.log_postings(wallet, since=selectors.log_since()).count() == 2


def test_running_balance_is_exact_across_pages(client, acme):  # noqa: F811
    sender, ocm = acme.users["sender"], acme.users["office_credit_manager"]
    mine = fund(user_wallet(sender), 500)
    for i in range(1, 61):
        transfer(mine, user_wallet(ocm), i % 7 + 1, actor=sender)
    mine.refresh_from_db()
    client.force_login(sender)
    url = reverse("ledger:log", args=[mine.pk])
    rows = _table_rows(client.get(url).content.decode()) + _table_rows(client.get(url, {"page": 2}).content.decode())
    assert len(rows) == 61
    assert int(rows[0][8]) == mine.balance
    for newer, older in itertools.pairwise(rows):
        delta = int(newer[2] or 0) - int((newer[3] or "0").replace("−", ""))
        assert int(newer[8]) == int(older[8]) + delta
    assert rows[-1][8] == "500"


def test_csv_download_contains_the_rows(client, history):
    client.force_login(history.users["sender"])
    response = client.get(reverse("ledger:log_csv", args=[history.mine.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == selectors.LOG_CSV_HEADER
    assert [(r[1], r[2], r[3], r[9]) for r in rows[1:]] == [
        ("Purchase", "50", "", "140"),
        ("Transfer", "", "30", "110"),
    ]
    assert rows[2][4] == "Office Credit Manager Acme" and rows[2][7] == "For the campaign"


def test_print_report_is_a_page_without_navigation(client, history):
    client.force_login(history.users["sender"])
    html = client.get(reverse("ledger:log_print", args=[history.mine.pk])).content.decode()
    assert "data-print" in html and "For the campaign" in html  # web/kontor.js prints (CSP)
    assert 'class="mainnav"' not in html and "Old move" not in html


def test_the_team_members_log_shows_the_incoming_side(client, history):
    client.force_login(history.users["sender"])  # a regular user manages their team members' credits too
    html = client.get(reverse("ledger:log", args=[history.theirs.pk])).content.decode()
    rows = _table_rows(html)
    assert [(r[2], r[4], r[8]) for r in rows] == [("+30", "Sender Acme", "40")]
    assert Posting.objects.filter(wallet=history.theirs).count() == 2
