"""The inbox: the inbound (MO) messages the current account received, newest first, searchable by
mobile number. The same messages are in the transaction search as direction "in"."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from kontor.access.perms import Perm
from kontor.core.scope import scoped
from kontor.messaging.filters import _Base
from kontor.messaging.models import Direction, Message
from kontor.web.decorators import customer_view
from kontor.web.generic import ListView


class InboxFilter(_Base):
    class Meta:
        model = Message
        fields: list[str] = []


class InboxTable(tables.Table):
    created_at = tables.DateTimeColumn(verbose_name="Received", format="Y-m-d H:i:s")
    from_number = tables.Column("From")
    to_number = tables.Column("To")
    keyword = tables.Column("Keyword")
    text = tables.Column("Message")
    detail = tables.Column("", empty_values=(), orderable=False)

    class Meta:
        model = Message
        fields = ("created_at", "from_number", "to_number", "keyword", "text")
        sequence = (*fields, "detail")
        order_by = ("-created_at",)
        empty_text = "No inbound messages."
        attrs = {"id": "inbox"}

    def render_text(self, value: str) -> str:
        return value if len(value) <= 80 else value[:79] + "…"

    def render_detail(self, record: Message) -> Any:
        return format_html('<a href="{}">Details</a>', reverse("messaging:message", args=[record.pk]))


@customer_view(Perm.SEARCH_TRANSACTIONS)
class Inbox(ListView):
    title = _("Inbox")
    table_class = InboxTable
    filterset_class = InboxFilter
    intro = _(
        "Messages sent to this account's numbers: by keyword, or as the account that receives unmatched "
        "messages. Times in UTC."
    )

    def get_queryset(self) -> QuerySet[Message]:
        return scoped(self.scope, Message).filter(direction=Direction.IN).order_by("-created_at", "-id")
