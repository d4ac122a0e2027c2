"""Forms of the access pages. They check shape only (required, matching twice-typed values); the
services decide what is allowed and their field errors are placed beside these fields by name."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.db.models import QuerySet

from kontor.access.models import Role
from kontor.access.perms import CUSTOMER_PERMS, Perm
from kontor.tenancy.models import Account, Office, Team

TIME_ZONES = sorted(zoneinfo.available_timezones())
TIME_ZONE_CHOICES = [(tz, tz) for tz in TIME_ZONES]
PIN_RE = re.compile(r"^\d{4,8}$")

SUGGESTED_QUESTIONS = [
    "What was the name of your first pet?",
    "In which town did your parents meet?",
    "What was the name of your first school?",
    "What is your oldest cousin's first name?",
    "What was the make of your first car?",
]

# How permission checkboxes are grouped on the role and API key forms. A permission added to Perm later
# and not listed here still shows, under "Other".
PERM_GROUPS: list[tuple[str, list[Perm]]] = [
    ("Messaging and credits", [Perm.SEND_SMS, Perm.VIEW_CREDITS, Perm.MANAGE_OFFICE_CREDITS]),
    ("Contacts", [Perm.VIEW_CONTACTS, Perm.MANAGE_CONTACTS]),
    (
        "Transactions and statistics",
        [
            Perm.SEARCH_TRANSACTIONS,
            Perm.SEARCH_BY_MOBILE,
            Perm.TROUBLESHOOT_TRANSACTIONS,
            Perm.EXPORT_TRANSACTIONS,
            Perm.VIEW_STATISTICS,
        ],
    ),
    (
        "Accounts, users and security",
        [
            Perm.CREATE_ACCOUNTS,
            Perm.MANAGE_ACCOUNTS,
            Perm.VIEW_USERS,
            Perm.MANAGE_USERS,
            Perm.MANAGE_ROLES,
            Perm.MANAGE_OFFICES,
            Perm.MANAGE_SECURITY,
            Perm.MANAGE_API_KEYS,
            Perm.VIEW_AUDIT,
        ],
    ),
    (
        "Services, company and payouts",
        [Perm.TECHNICAL_SETTINGS, Perm.MANAGE_SERVICES, Perm.MANAGE_COMPANY, Perm.VIEW_PAYOUTS],
    ),
]


def grouped_perms(allowed: Iterable[Perm] = CUSTOMER_PERMS) -> list[tuple[str, list[Perm]]]:
    allowed_set = set(allowed)
    groups: list[tuple[str, list[Perm]]] = []
    listed: set[Perm] = set()
    for label, perms in PERM_GROUPS:
        listed.update(perms)
        shown = [p for p in perms if p in allowed_set]
        if shown:
            groups.append((label, shown))
    rest = sorted((p for p in allowed_set if p not in listed), key=lambda p: p.label)
    if rest:
        groups.append(("Other", rest))
    return groups


def perm_choices(allowed: Iterable[Perm] = CUSTOMER_PERMS) -> list[tuple[str, str]]:
    return [(p.value, p.label) for _, perms in grouped_perms(allowed) for p in perms]


# --- signing in and one-time links ---------------------------------------------------------------


class LoginForm(forms.Form):
    # A CharField, not an EmailField: every answer to a failed sign-in must be the same message.
    email = forms.CharField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True})
    )
    password = forms.CharField(
        strip=False, max_length=4096, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class _TwiceMixin:
    """A value typed twice must match (passwords, PINs)."""

    twice: Sequence[tuple[str, str, str]] = ()  # (field, repeat field, message)

    def check_twice(self, cleaned: dict[str, Any]) -> None:
        for name, again, message in self.twice:
            if name in cleaned and again in cleaned and cleaned[name] != cleaned[again]:
                self.add_error(again, message)  # type: ignore[attr-defined]


def _new_password(label: str = "New password") -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters; not too common and not like your name or email.",
    )


def _again(label: str) -> forms.CharField:
    return forms.CharField(
        label=label, strip=False, max_length=4096, widget=forms.PasswordInput(attrs={"autocomplete": "off"})
    )


class WelcomeForm(_TwiceMixin, forms.Form):
    password = _new_password("Password")
    password2 = _again("Password again")
    pin = forms.CharField(
        label="PIN",
        max_length=8,
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text="4 to 8 digits. Customer service asks for it when you call.",
    )
    pin2 = forms.CharField(
        label="PIN again",
        max_length=8,
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    question = forms.CharField(
        label="Security question",
        max_length=200,
        widget=forms.TextInput(attrs={"list": "suggested-questions"}),
        help_text="Pick a suggestion or write your own.",
    )
    answer = forms.CharField(
        label="Answer",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Case and extra spaces do not matter.",
    )

    twice = (
        ("password", "password2", "The two passwords differ."),
        ("pin", "pin2", "The two PINs differ."),
    )

    def clean_pin(self) -> str:
        pin = self.cleaned_data["pin"].strip()
        if not PIN_RE.match(pin):
            raise forms.ValidationError("The PIN must be 4 to 8 digits.")
        return pin

    def clean_pin2(self) -> str:
        return str(self.cleaned_data["pin2"]).strip()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.check_twice(cleaned)
        return cleaned


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class SetPasswordForm(_TwiceMixin, forms.Form):
    password = _new_password()
    password2 = _again("New password again")

    twice = (("password", "password2", "The two passwords differ."),)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.check_twice(cleaned)
        return cleaned


class PasswordChangeForm(_TwiceMixin, forms.Form):
    old_password = forms.CharField(
        label="Current password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = _new_password()
    new_password2 = _again("New password again")

    twice = (("new_password", "new_password2", "The two passwords differ."),)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.check_twice(cleaned)
        return cleaned


# --- people --------------------------------------------------------------------------------------


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=80)
    last_name = forms.CharField(max_length=80)
    phone = forms.CharField(
        label="Contact phone",
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel"}),
        help_text="International form, e.g. +46701234567.",
    )
    time_zone = forms.ChoiceField(choices=TIME_ZONE_CHOICES)


class UserForm(ProfileForm):
    """Add or edit a user. `offices`/`teams` are the customer's (scoped by the view); the master flag is
    offered only to master users; `accounts` gives one role choice per account the actor manages."""

    email = forms.EmailField(max_length=254, help_text="Also the sign-in name.")
    is_master = forms.BooleanField(
        label="Master user", required=False, help_text="Everything in every account of the organisation."
    )
    primary_office: forms.ModelChoiceField = forms.ModelChoiceField(queryset=None, required=False)
    additional_offices: forms.ModelMultipleChoiceField = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    team: forms.ModelChoiceField = forms.ModelChoiceField(queryset=None, required=False)
    current_password = forms.CharField(
        label="Your password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Needed only to grant or remove master-user rights, or to change another master user's email.",
    )

    field_order = [
        "first_name",
        "last_name",
        "email",
        "phone",
        "time_zone",
        "is_master",
        "primary_office",
        "additional_offices",
        "team",
        "current_password",
    ]

    def __init__(
        self,
        *args: Any,
        offices: QuerySet[Office],
        teams: QuerySet[Team],
        may_set_master: bool,
        accounts: Sequence[tuple[Account, QuerySet[Role]]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["primary_office"].queryset = offices  # type: ignore[attr-defined]
        self.fields["additional_offices"].queryset = offices  # type: ignore[attr-defined]
        self.fields["team"].queryset = teams  # type: ignore[attr-defined]
        if not may_set_master:
            del self.fields["is_master"]
            del self.fields["current_password"]
        self.account_fields: list[tuple[Account, str]] = []
        for account, roles in accounts:
            name = f"role_{account.pk}"
            self.fields[name] = forms.ModelChoiceField(
                queryset=roles,
                required=False,
                label=f"Role in {account.name}",
                empty_label="No access",
            )
            self.account_fields.append((account, name))

    def memberships(self) -> list[tuple[Account, Role]]:
        return [
            (account, self.cleaned_data[name])
            for account, name in self.account_fields
            if self.cleaned_data.get(name) is not None
        ]


class MembershipRoleForm(forms.Form):
    role: forms.ModelChoiceField = forms.ModelChoiceField(queryset=None, empty_label=None)

    def __init__(self, *args: Any, roles: QuerySet[Role], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].queryset = roles  # type: ignore[attr-defined]


class MembershipAddForm(MembershipRoleForm):
    account: forms.ModelChoiceField = forms.ModelChoiceField(queryset=None, empty_label=None)

    field_order = ["account", "role"]

    def __init__(self, *args: Any, accounts: QuerySet[Account], roles: QuerySet[Role], **kwargs: Any) -> None:
        super().__init__(*args, roles=roles, **kwargs)
        self.fields["account"].queryset = accounts  # type: ignore[attr-defined]


# --- roles and API keys --------------------------------------------------------------------------


class PermsForm(forms.Form):
    """A form with a `perms` checkbox list limited to `allowed`; templates draw it grouped."""

    perms = forms.MultipleChoiceField(
        label="Permissions", choices=(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, allowed: Iterable[Perm] = CUSTOMER_PERMS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allowed = list(allowed)
        self.fields["perms"].choices = perm_choices(self.allowed)  # type: ignore[attr-defined]

    def clean_perms(self) -> list[str]:
        perms = list(self.cleaned_data.get("perms") or [])
        if not perms:
            raise forms.ValidationError("Choose at least one permission.")
        return perms

    def perm_groups(self) -> list[tuple[str, list[tuple[str, str, bool]]]]:
        chosen = set(self["perms"].value() or [])
        return [
            (label, [(p.value, p.label, p.value in chosen) for p in perms])
            for label, perms in grouped_perms(self.allowed)
        ]


class RoleForm(PermsForm):
    name = forms.CharField(max_length=80)
    description = forms.CharField(max_length=200, required=False)

    field_order = ["name", "description", "perms"]


class ApiKeyForm(PermsForm):
    name = forms.CharField(max_length=80, help_text="Say what uses it, e.g. “CRM integration”.")

    field_order = ["name", "perms"]
