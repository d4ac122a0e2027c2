"""The transaction list and the staff list of rejected inbound messages; each Table also declares its
CSV download."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from kontor.messaging.models import InboundRejection, Message


class MessageTable(tables.Table):
    created_at = tables.DateTimeColumn(verbose_name="Time", format="Y-m-d H:i:s")
    direction = tables.Column("Dir.")
    from_number = tables.Column("From")
    to_number = tables.Column("To")
    text = tables.Column("Content")
    segments = tables.Column("Segm.", attrs={"td": {"class": "num"}})
    credits = tables.Column("Credits", attrs={"td": {"class": "num"}})
    status = tables.Column("Status")
    user = tables.Column("User", accessor="user__email", default="", exclude_from_export=True)
    detail = tables.Column("", empty_values=(), orderable=False, exclude_from_export=True)
    # Only in the CSV download (the page's and the API's), where the user comes before the numbers.
    id = tables.Column(visible=False)
    user_email = tables.Column(accessor="user__email", visible=False)
    encoding = tables.Column(visible=False)
    operator = tables.Column(visible=False)
    error_code = tables.Column(visible=False)
    error_text = tables.Column(visible=False)
    scheduled_for = tables.Column(visible=False)
    updated_at = tables.Column(visible=False)

    export_names = {"user_email": "user", "from_number": "from", "to_number": "to"}

    class Meta:
        model = Message
        fields = ("created_at", "direction", "from_number", "to_number", "text", "segments", "credits", "status")
        sequence = (
            "id",
            "created_at",
            "direction",
            "user_email",
            "from_number",
            "to_number",
            "text",
            "encoding",
            "segments",
            "credits",
            "operator",
            "status",
            "error_code",
            "error_text",
            "scheduled_for",
            "updated_at",
            "user",
            "detail",
        )
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


class InboundRejectionTable(tables.Table):
    at = tables.DateTimeColumn(verbose_name="Time", format="Y-m-d H:i:s")
    to_number = tables.Column("To")
    from_number = tables.Column("From")
    reason = tables.Column("Reason")
    text = tables.Column("Text")
    connector = tables.Column("Connector")
    downstream_id = tables.Column("Downstream id")

    class Meta:
        model = InboundRejection
        fields = ("at", "to_number", "from_number", "reason", "text", "connector", "downstream_id")
        order_by = ("-at",)
        empty_text = "No rejected inbound messages match."
        attrs = {"id": "inbound-rejections"}

    def render_text(self, value: str) -> str:
        return value if len(value) <= 60 else value[:59] + "…"
