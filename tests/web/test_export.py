"""The CSV a Table declares, the shared date filters, and the API's filtering through a page's FilterSet."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kontor.api.filtering import filter_data
from kontor.audit.tables import AuditTable
from kontor.billing.tables import InvoiceTable
from kontor.messaging.api.messages import MessageFilters
from kontor.messaging.tables import MessageTable
from kontor.staff.tables import AuditTable as StaffAuditTable
from kontor.staff.tables import CustomerTable
from kontor.web.export import table_columns, table_rows
from kontor.web.filtering import DateOrTimeField


def _header(table_class) -> list[str]:
    return [c.header for c in table_columns(table_class)]


def test_tables_declare_the_csv_headers_integrations_read():
    assert _header(AuditTable) == [
        "time", "actor", "action", "object_type", "object_id", "object", "before", "after", "source", "address",
        "request_id",
    ]  # fmt: skip
    assert _header(StaffAuditTable) == [
        "time", "subscriber_id", "actor", "action", "object_type", "object_id", "object", "before", "after",
        "source", "request_id", "ip",
    ]  # fmt: skip
    assert _header(CustomerTable)[:3] == ["subscriber_id", "company", "master_user_email"]
    assert _header(InvoiceTable) == [
        "number", "issued_at", "quantity", "currency", "net", "vat_rate", "vat", "total", "status",
        "payment_method", "payment_reference", "journal_id",
    ]  # fmt: skip
    assert _header(MessageTable) == [
        "id", "created_at", "direction", "user", "from", "to", "text", "encoding", "segments", "credits",
        "operator", "status", "error_code", "error_text", "scheduled_for", "updated_at",
    ]  # fmt: skip


def test_cells_are_raw_values_not_what_the_page_renders():
    from kontor.messaging.models import Message

    at = dt.datetime(2026, 3, 5, 10, 0, tzinfo=dt.UTC)
    message = Message(pk=7, created_at=at, updated_at=at, direction="out", from_number="+46700000001",
                      to_number="+46700000002", text="x" * 80, encoding="gsm", segments=1, credits=1,
                      operator="", status="sent", error_code="", error_text="")  # fmt: skip
    (row,) = table_rows(table_columns(MessageTable), [message])
    assert row[:3] == [7, "2026-03-05T10:00:00+00:00", "out"]
    assert row[6] == "x" * 80  # the page shortens the text; the CSV does not
    assert row[11] == "sent" and row[14] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-05", dt.date(2026, 3, 5)),
        ("2026-03-05T10:00:00Z", dt.datetime(2026, 3, 5, 10, tzinfo=dt.UTC)),
    ],
)
def test_a_date_filter_takes_a_day_or_a_time(text, expected):
    assert DateOrTimeField().clean(text) == expected


def test_a_date_filter_refuses_other_text():
    from django import forms

    with pytest.raises(forms.ValidationError):
        DateOrTimeField().clean("yesterday")


def test_deprecated_api_names_reach_the_filterset_under_the_current_name():
    since = timezone.now()
    data = filter_data(MessageFilters(since=since, status="delivered"))
    assert data == {"date_from": since.isoformat(), "status": "delivered"}
    # Given both, the current name wins.
    assert filter_data(MessageFilters(since=since, date_from="2026-03-05"))["date_from"] == "2026-03-05"
