"""Tables of the account and office/team pages."""

from __future__ import annotations

import django_tables2 as tables

from kontor.tenancy.models import Account, Office, Team

COST_CENTER_CELL = (
    "{% if record.cost_center %}{{ record.cost_center }}"
    '{% if record.shares_cost_center and record.is_active %} <span class="badge warn" '
    'title="Another active account of your organisation uses this cost center">'
    "not billed separately</span>{% endif %}"
    '{% else %}<span class="muted">none</span>{% endif %}'
)

STATUS_CELL = (
    '{% if record.is_active %}<span class="badge ok">Active</span>'
    '{% else %}<span class="badge off">Archived</span>{% endif %}'
)


class AccountTable(tables.Table):
    name = tables.Column(linkify=("tenancy:account_detail", {"pk": tables.A("pk")}))
    cost_center = tables.TemplateColumn(COST_CENTER_CELL, order_by=("cost_center__code",))
    office_hours_only = tables.BooleanColumn(verbose_name="Office hours only")
    column_count = tables.Column(verbose_name="Custom columns")
    status = tables.TemplateColumn(STATUS_CELL)

    class Meta:
        model = Account
        fields = ("name", "cost_center", "office_hours_only", "column_count", "status")
        empty_text = "No accounts match."
        attrs = {"class": "table", "id": "accounts"}


OFFICE_ACTIONS = """<a href="{% url 'tenancy:office_edit' record.pk %}">Edit</a> ·
<a href="{% url 'tenancy:office_delete' record.pk %}">Delete</a>"""
TEAM_ACTIONS = """<a href="{% url 'tenancy:team_edit' record.pk %}">Edit</a> ·
<a href="{% url 'tenancy:team_delete' record.pk %}">Delete</a>"""


class OfficeTable(tables.Table):
    name = tables.Column()
    address = tables.Column(default="")
    primary_count = tables.Column(verbose_name="Primary office of")
    additional_count = tables.Column(verbose_name="Additional office of")
    actions = tables.TemplateColumn(OFFICE_ACTIONS, orderable=False, verbose_name="")

    class Meta:
        model = Office
        fields = ("name", "address", "primary_count", "additional_count")
        empty_text = "No offices yet."
        attrs = {"id": "offices"}


class TeamTable(tables.Table):
    name = tables.Column()
    office = tables.Column(default="—", order_by=("office__name",))
    member_count = tables.Column(verbose_name="Members")
    actions = tables.TemplateColumn(TEAM_ACTIONS, orderable=False, verbose_name="")

    class Meta:
        model = Team
        fields = ("name", "office", "member_count")
        empty_text = "No teams yet."
        attrs = {"id": "teams"}
