"""The generic preview and confirm page of a bulk change (kontor.core.bulk): what was selected, in words,
what will change, what will be refused and why, and a Confirm button carrying the plan's fingerprint.
Works without JavaScript: every choice travels in the form as hidden fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import django_filters
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kontor.core.bulk import Preview, RowChange


def filter_words(filterset: django_filters.FilterSet) -> list[tuple[str, str]]:
    """(label, value as people read it) of each filter in use, e.g. [("Search", "anna")]."""
    form = filterset.form
    if not form.is_valid():
        return []
    out: list[tuple[str, str]] = []
    for name, field in form.fields.items():
        value = form.cleaned_data.get(name)
        if value in (None, "", [], ()):
            continue
        choices = {str(k): v for k, v in (getattr(field, "choices", ()) or ())}
        out.append((str(field.label or name), str(choices.get(str(value), value))))
    return out


def counts_in_words(preview: Preview) -> list[str]:
    """The outcome counts, e.g. "412 contacts will be deleted." then one line per kind of refusal."""
    lines = [preview.summary]
    for _code, reason, count in preview.refusals:
        lines.append(
            ngettext(
                "%(count)d will be skipped: %(reason)s", "%(count)d will be skipped, for example: %(reason)s", count
            )
            % {"count": count, "reason": reason}
        )
    return lines


def _shown(value: Any) -> str:
    return "" if value is None else str(value)


def change_cells(change: RowChange, labels: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(field label, before, after) of one row; after is "—" when the row goes away."""
    after = change.after
    keys = list(dict.fromkeys([*change.before, *(after or {})]))
    gone = _("(deleted)")
    return [
        (str(labels.get(k, k)), _shown(change.before.get(k)), gone if after is None else _shown(after.get(k)))
        for k in keys
        if after is None or change.before.get(k) != after.get(k)
    ]


def preview_page(
    request: HttpRequest,
    *,
    title: str,
    preview: Preview,
    selection: Sequence[str],
    carry: Sequence[tuple[str, str]],
    action_url: str,
    cancel_url: str,
    confirm_label: str,
    labels: Mapping[str, Any] | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    """The preview: `selection` (the filters or the chosen rows, in words), the counts, one page of
    changes and the refused rows; confirming posts `carry` (the choices, as hidden fields) back to
    `action_url` with `confirm` and the fingerprint. `error` says why the preview is shown again (drift)."""
    labels = labels or {}
    context = {
        "title": title,
        "preview": preview,
        "selection": list(selection),
        "counts": counts_in_words(preview),
        "rows": [(c.label, change_cells(c, labels)) for c in preview.rows],
        "more": preview.changing - len(preview.rows),
        "refused_rows": preview.refused_rows,
        "refused_more": preview.refused - len(preview.refused_rows),
        "carry": list(carry),
        "action_url": action_url,
        "cancel_url": cancel_url,
        "confirm_label": confirm_label,
        "error": error,
    }
    return render(request, "web/bulk_preview.html", context, status=status)
