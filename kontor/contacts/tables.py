"""Tables of the contact pages. The contacts table gets one column per custom column of the account,
sortable through the col_<id> annotations of selectors.with_columns."""

from __future__ import annotations

import django_tables2 as tables
from django.utils.translation import gettext as _

from kontor.contacts.models import Contact, OptOut, Phonebook
from kontor.contacts.selectors import column_key
from kontor.tenancy.models import CustomColumn

PHONEBOOK_ACTIONS = """{% if "manage_contacts" in perms %}
<a href="{% url 'contacts:phonebook_edit' record.pk %}">Rename</a> ·
<a href="{% url 'contacts:phonebook_delete' record.pk %}">Delete</a>{% endif %}"""
CONTACT_ACTIONS = """{% if "manage_contacts" in perms %}
<a href="{% url 'contacts:contact_edit' record.pk %}">Edit</a> ·
<a href="{% url 'contacts:contact_delete' record.pk %}">Delete</a>{% endif %}"""
OPT_OUT_ACTIONS = """{% if "manage_contacts" in perms %}
<a href="{% url 'contacts:opt_out_remove' record.pk %}">Opt back in</a>{% endif %}"""


class PhonebookTable(tables.Table):
    name = tables.Column(linkify=("contacts:phonebook_detail", {"pk": tables.A("pk")}))
    description = tables.Column(default="")
    contact_count = tables.Column(verbose_name="Contacts")
    actions = tables.TemplateColumn(PHONEBOOK_ACTIONS, orderable=False, verbose_name="")

    class Meta:
        model = Phonebook
        fields = ("name", "description", "contact_count")
        empty_text = "No phonebooks yet."
        attrs = {"class": "table", "id": "phonebooks"}


class ContactTable(tables.Table):
    phone = tables.Column(verbose_name="Phone number")
    updated_at = tables.DateTimeColumn(verbose_name="Changed", format="Y-m-d H:i")
    actions = tables.TemplateColumn(CONTACT_ACTIONS, orderable=False, verbose_name="")

    class Meta:
        model = Contact
        fields = ("phone",)
        sequence = ("phone", "...", "updated_at", "actions")
        empty_text = "No contacts match."
        attrs = {"class": "table", "id": "contacts"}


class SelectColumn(tables.CheckBoxColumn):
    """A checkbox per row that belongs to the bulk form after the table (form="contacts-bulk"), so the
    list needs no enclosing form and no JavaScript. The header is a word: ticking every row of a page
    would need a script, and "all matching the filter" is one choice in the bulk form."""

    @property
    def header(self) -> str:  # type: ignore[override]
        return str(_("Select"))


def _select_label(record: Contact) -> str:
    return _("Select %(phone)s") % {"phone": record.phone}


def contact_table(columns: list[CustomColumn], *, selectable: bool = False) -> type[ContactTable]:
    """ContactTable with one sortable column per custom column of the account, and with `selectable` a
    first column of checkboxes for bulk changes."""
    attrs: dict[str, object] = {
        column_key(c): tables.Column(verbose_name=c.name, accessor=column_key(c), default="") for c in columns
    }
    meta: dict[str, object] = {}
    if selectable:
        attrs["ids"] = SelectColumn(
            accessor="pk",
            attrs={"td__input": {"form": "contacts-bulk", "aria-label": _select_label}},
            exclude_from_export=True,
        )
        meta["sequence"] = ("ids", *ContactTable.Meta.sequence)
    attrs["Meta"] = type("Meta", (ContactTable.Meta,), meta)
    return type("AccountContactTable", (ContactTable,), attrs)  # type: ignore[return-value]


class OptOutTable(tables.Table):
    phone = tables.Column(verbose_name="Phone number")
    source = tables.Column()
    note = tables.Column(default="")
    created_at = tables.DateTimeColumn(verbose_name="Since", format="Y-m-d H:i")
    actions = tables.TemplateColumn(OPT_OUT_ACTIONS, orderable=False, verbose_name="")

    class Meta:
        model = OptOut
        fields = ("phone", "source", "note", "created_at")
        empty_text = "No opted-out numbers."
        attrs = {"class": "table", "id": "opt-outs"}
