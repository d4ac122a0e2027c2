"""Filters that the FilterSets of several lists share, so a date range or a choice means the same on the
page, in its CSV and in the API (which filters through the same FilterSet, see kontor/api/filtering.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
import django_filters.fields
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _


class DateOrTimeField(forms.Field):
    """A day (2026-03-05) from the date picker, or an exact time (2026-03-05T10:00:00+01:00) from an
    integration; a time without an offset is read in the current time zone."""

    widget = forms.DateInput(attrs={"type": "date"})
    default_error_messages = {
        "invalid": _("Enter a date (2026-03-05) or a time (2026-03-05T10:00:00Z)."),
    }

    def to_python(self, value: Any) -> dt.date | dt.datetime | None:
        if value in self.empty_values:
            return None
        if isinstance(value, dt.date):
            return value
        text = str(value).strip()
        try:
            day = parse_date(text)
            if day is not None:
                return day
            moment = parse_datetime(text)
        except ValueError:
            moment = None
        if moment is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment


class DateFromFilter(django_filters.Filter):
    """`field_name` on or after a day (the whole day counts), or at or after an exact time."""

    field_class = DateOrTimeField

    def filter(self, qs: QuerySet[Any], value: dt.date | dt.datetime | None) -> QuerySet[Any]:
        if value is None:
            return qs
        if isinstance(value, dt.datetime):
            return qs.filter(**{f"{self.field_name}__gte": value})
        return qs.filter(**{f"{self.field_name}__date__gte": value})


class DateToFilter(django_filters.Filter):
    """`field_name` on or before a day (the whole day counts), or before an exact time (so one range's
    end can be the next one's start)."""

    field_class = DateOrTimeField

    def filter(self, qs: QuerySet[Any], value: dt.date | dt.datetime | None) -> QuerySet[Any]:
        if value is None:
            return qs
        if isinstance(value, dt.datetime):
            return qs.filter(**{f"{self.field_name}__lt": value})
        return qs.filter(**{f"{self.field_name}__date__lte": value})


class OpenChoiceField(django_filters.fields.ChoiceField):
    """A choice list on the page that also takes values it does not list: an integration may ask for
    a value no row has yet (and gets no rows), or for a prefix (see the filter's method)."""

    def valid_value(self, value: Any) -> bool:
        return True
