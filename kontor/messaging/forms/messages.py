"""The Send SMS form, and the schedule field and time zone the campaign form shares: they collect input;
the services validate, price and decide."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms

from kontor.core.idempotency import clean_key, new_idempotency_key
from kontor.messaging.services.messages import MAX_TEXT

__all__ = ["SendForm", "clean_key", "in_company_zone", "new_idempotency_key", "schedule_field"]


def schedule_field() -> forms.DateTimeField:
    return forms.DateTimeField(
        label="Send later (optional)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text="In your company's time zone. Empty: send now.",
    )


def in_company_zone(value: dt.datetime | None, time_zone: str) -> dt.datetime | None:
    """The browser sends a wall-clock time; it means the company's zone, whatever the server's is."""
    if value is None:
        return None
    try:
        tz = zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    return value.replace(tzinfo=None).replace(tzinfo=tz)


class SendForm(forms.Form):
    to = forms.CharField(
        label="To (mobile number)",
        max_length=40,
        widget=forms.TextInput(attrs={"placeholder": "+46701234567", "autocomplete": "off"}),
    )
    text = forms.CharField(
        label="Message",
        max_length=MAX_TEXT,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    schedule_at = schedule_field()
    office_hours = forms.ChoiceField(
        label="Outside office hours",
        choices=[("refuse", "Do not send; tell me the next allowed time"), ("schedule", "Schedule it for then")],
        initial="refuse",
        widget=forms.RadioSelect,
        required=False,
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, office_hours_only: bool, time_zone: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.time_zone = time_zone
        if not office_hours_only:
            del self.fields["office_hours"]
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", new_idempotency_key())

    def clean_schedule_at(self) -> dt.datetime | None:
        return in_company_zone(self.cleaned_data.get("schedule_at"), self.time_zone)
