"""The staff page of inbound rejections: who may see it, its filters (reason, to number, date) and the
CSV export of the same rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from kontor.messaging.models import InboundRejection

pytestmark = pytest.mark.django_db

URL = "/messages/staff/inbound-rejections/"
Reason = InboundRejection.Reason


@pytest.fixture
def rows() -> list[InboundRejection]:
    def make(to: str, reason: str, day: int, text: str) -> InboundRejection:
        return InboundRejection.objects.create(
            to_number=to,
            from_number="+46701234567",
            reason=reason,
            text=text,
            connector="smpp",
            downstream_id=f"d-{text}",
            at=dt.datetime(2026, 3, day, 12, 0, tzinfo=dt.UTC),
        )

    return [
        make("+46700000001", Reason.UNKNOWN_NUMBER, 1, "first-row"),
        make("72000", Reason.NOT_TWO_WAY, 5, "second-row"),
        make("+46700000002", Reason.NO_OWNER, 10, "=cmd|third-row"),
    ]


def _texts(content: bytes) -> set[str]:
    page = content.decode()
    return {t for t in ("first-row", "second-row", "third-row") if t in page}


def test_url_name_and_path():
    assert reverse("messaging:inbound_rejections") == URL


def test_staff_with_manage_numbers_sees_and_filters_rows(client, world, rows):
    client.force_login(world.staff["csr"])
    response = client.get(URL)
    assert response.status_code == 200
    assert _texts(response.content) == {"first-row", "second-row", "third-row"}
    assert b'id="inbound-rejections"' in response.content
    assert _texts(client.get(URL, {"reason": "not_two_way"}).content) == {"second-row"}
    assert _texts(client.get(URL, {"to_number": "+46 700 000 002"}).content) == {"third-row"}
    assert _texts(client.get(URL, {"to_number": "72000"}).content) == {"second-row"}
    assert _texts(client.get(URL, {"date_from": "2026-03-02", "date_to": "2026-03-09"}).content) == {"second-row"}
    assert _texts(client.get(URL, {"date_from": "2026-03-05"}).content) == {"second-row", "third-row"}
    # Bad filter input is shown, not a 500, and filters everything out.
    bad = client.get(URL, {"reason": "nonsense", "date_from": "not-a-date"})
    assert bad.status_code == 200 and _texts(bad.content) == set()
    # The staff navigation links here.
    assert f'href="{URL}"'.encode() in client.get(reverse("numbers:inventory")).content


def test_csv_export_has_the_filtered_rows(client, world, rows):
    client.force_login(world.staff["tam"])
    response = client.get(reverse("messaging:inbound_rejections_export"), {"reason": "no_owner"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().lstrip("\ufeff").splitlines()
    assert lines[0] == "at,to_number,from_number,reason,text,connector,downstream_id"
    assert len(lines) == 2
    # E.164 numbers stay as they are; a formula-looking text is defused.
    assert lines[1].startswith("2026-03-10T12:00:00+00:00,+46700000002,+46701234567,no_owner,'=cmd|third-row,smpp,")
    everything = client.get(reverse("messaging:inbound_rejections_export"))
    assert len(b"".join(everything.streaming_content).decode().splitlines()) == 4


@pytest.mark.parametrize("name", ["messaging:inbound_rejections", "messaging:inbound_rejections_export"])
def test_billing_staff_and_customers_are_refused(client, world, rows, name):
    client.force_login(world.staff["billing"])
    assert client.get(reverse(name)).status_code == 403
    assert b"Inbound rejections" not in client.get(reverse("staff:customers")).content
    for user in (world.acme.master, world.acme.users["technician"], world.globex.master):
        client.force_login(user)
        response = client.get(reverse(name))
        assert response.status_code == 403
        assert _texts(response.content) == set()


def test_anonymous_is_sent_to_log_in(client, rows):
    response = client.get(URL)
    assert response.status_code == 302 and "third-row" not in response.content.decode()
