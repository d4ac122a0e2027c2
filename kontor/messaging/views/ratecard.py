"""Staff pages: the rate card (credits per segment by destination prefix)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.core.errors import DomainError, NotFound
from kontor.messaging.forms.ratecard import RateForm
from kontor.messaging.models import RateCardEntry
from kontor.messaging.services.ratecard import delete_rate, save_rate
from kontor.web.decorators import staff_view
from kontor.web.lists import form_errors_from


def _entry(pk: int) -> RateCardEntry:
    entry = RateCardEntry.objects.filter(pk=pk).first()
    if entry is None:
        raise NotFound("rate card entry")
    return entry


@staff_view(Perm.STAFF_MANAGE_BILLING)
def rates(request: HttpRequest) -> HttpResponse:
    return render(request, "messaging/rates.html", {"entries": RateCardEntry.objects.all()})


def _edit(request: HttpRequest, entry: RateCardEntry | None) -> HttpResponse:
    initial = {}
    if entry is not None:
        initial = {
            "prefix": entry.prefix,
            "country": entry.country,
            "operator": entry.operator,
            "credits_per_segment": entry.credits_per_segment,
        }
    form = RateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        user = request.user
        assert isinstance(user, User)
        try:
            saved = save_rate(entry, actor=user, **form.cleaned_data)
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Rate for {saved} saved: {saved.credits_per_segment} credits per segment.")
            return redirect("messaging:rates")
    title = f"Rate for {entry}" if entry is not None else "Add a rate"
    return render(request, "web/form.html", {"form": form, "title": title, "cancel_url": reverse("messaging:rates")})


@staff_view(Perm.STAFF_MANAGE_BILLING)
def rate_add(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@staff_view(Perm.STAFF_MANAGE_BILLING)
def rate_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, _entry(pk))


@staff_view(Perm.STAFF_MANAGE_BILLING)
def rate_delete(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _entry(pk)
    if request.method == "POST":
        user = request.user
        assert isinstance(user, User)
        try:
            delete_rate(entry, actor=user)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Rate for {entry} deleted.")
        return redirect("messaging:rates")
    return render(
        request,
        "web/confirm.html",
        {
            "title": f"Delete the rate for {entry}?",
            "question": "Destinations it priced fall back to a shorter prefix or the default.",
            "confirm_label": "Delete",
            "cancel_url": reverse("messaging:rates"),
        },
    )
