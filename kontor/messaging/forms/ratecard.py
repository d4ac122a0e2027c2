"""The staff form of a rate card entry: it collects input; services/ratecard.py validates and saves."""

from __future__ import annotations

from django import forms

from kontor.messaging.rules.ratecard import MAX_CREDITS_PER_SEGMENT


class RateForm(forms.Form):
    # The metaclass takes declared fields off the class, so this does not shadow Form.prefix at runtime.
    prefix = forms.CharField(  # type: ignore[assignment]
        max_length=20,
        required=False,
        help_text="Digits of the destination, country code first (46, 4670 for an operator range). Empty: default.",
    )
    country = forms.CharField(max_length=2, required=False, help_text="ISO 3166 code, e.g. SE.")
    operator = forms.CharField(max_length=100, required=False)
    credits_per_segment = forms.IntegerField(min_value=1, max_value=MAX_CREDITS_PER_SEGMENT, initial=1)
