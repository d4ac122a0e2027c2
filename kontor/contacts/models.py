"""Phonebooks, their contacts (a phone number plus the account's custom columns) and opt-outs.

All three live inside one account: another account, even of the same customer, never sees them."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower

from kontor.core.models import AccountModel


class Phonebook(AccountModel):
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), "account", name="phonebook_name_unique")]

    def __str__(self) -> str:
        return self.name


class Contact(AccountModel):
    """`values` maps str(custom column id) to the value in its canonical text form (numbers as typed
    without grouping, dates YYYY-MM-DD, phones E.164); a blank value is simply absent.
    `search` is a lower-cased copy of phone and values, so "search any value" is one plain LIKE
    on both databases instead of a JSON scan that differs between SQLite and PostgreSQL."""

    phonebook = models.ForeignKey(Phonebook, on_delete=models.CASCADE, related_name="contacts")
    phone = models.CharField(max_length=20)
    values = models.JSONField(default=dict, blank=True)
    search = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["phone"]
        constraints = [models.UniqueConstraint(fields=["phonebook", "phone"], name="contact_phone_unique")]
        indexes = [models.Index(fields=["account", "phone"], name="contact_account_phone")]

    def __str__(self) -> str:
        return self.phone


class OptOut(AccountModel):
    """A number that this account must never message (STOP), whatever phonebook it is in."""

    class Source(models.TextChoices):
        STOP_KEYWORD = "stop_keyword", "STOP keyword"
        MANUAL = "manual", "Added by hand"
        IMPORT = "import", "Import"
        API = "api", "API"

    phone = models.CharField(max_length=20)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["account", "phone"], name="opt_out_phone_unique")]
        verbose_name = "opt-out"

    def __str__(self) -> str:
        return self.phone
