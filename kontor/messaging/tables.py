"""The transaction list."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from kontor.messaging.models import Message


class MessageTable(tables.Table):
    created_at = tables.DateTimeColumn(verbose_name="Time", format="Y-m-d H:i:s")
    direction = tables.Column("Dir.")
    from_number = tables.Column("From")
    to_number = tables.Column("To")
    text = tables.Column("Content")
    segments = tables.Column("Segm.", attrs={"td": {"class": "num"}})
    credits = tables.Column("Credits", attrs={"td": {"class": "num"}})
    status = tables.Column("Status")
    user = tables.Column("User", accessor="user__email", default="")
    detail = tables.Column("", empty_values=(), orderable=False)

    class Meta:
        model = Message
        fields = ("created_at", "direction", "from_number", "to_number", "text", "segments", "credits", "status")
        sequence = (*fields, "user", "detail")
        order_by = ("-created_at",)
        empty_text = "No transactions match."
        attrs = {"id": "transactions"}

    def render_text(self, value: str) -> str:
        return value if len(value) <= 60 else value[:59] + "…"

    def render_status(self, record: Message, value: str) -> Any:
        if record.error_code:
            return format_html('{} <small class="muted">{}</small>', value, record.error_code)
        return value

    def render_detail(self, record: Message) -> Any:
        return format_html('<a href="{}">Details</a>', reverse("messaging:message", args=[record.pk]))


class MobileSearchTable(MessageTable):
    """Support sees the rows but opens no details (it searches by number only)."""

    class Meta(MessageTable.Meta):
        exclude = ("detail", "user")


# The transaction log as CSV (the page's export and the API's), one column per entry.
CSV_COLUMNS: list[tuple[str, Any]] = [
    ("id", lambda m: m.pk),
    ("created_at", lambda m: m.created_at.isoformat()),
    ("direction", lambda m: m.direction),
    ("user", lambda m: m.user.email if m.user else ""),
    ("from", lambda m: m.from_number),
    ("to", lambda m: m.to_number),
    ("text", lambda m: m.text),
    ("encoding", lambda m: m.encoding),
    ("segments", lambda m: m.segments),
    ("credits", lambda m: m.credits),
    ("operator", lambda m: m.operator),
    ("status", lambda m: m.status),
    ("error_code", lambda m: m.error_code),
    ("error_text", lambda m: m.error_text),
    ("scheduled_for", lambda m: m.scheduled_for.isoformat() if m.scheduled_for else ""),
    ("updated_at", lambda m: m.updated_at.isoformat()),
]
